package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.ClientWarmUp;
import dev.tokenpipe.client.StreamingClient;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.PrintStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One bench run from start to result: client, engine, self-check, progress, and the JSON result at the end,
 * also when the run is stopped with Ctrl-C (then {@code interrupted} is true and in-flight streams count as
 * cancelled).
 */
final class BenchRun {
  private final BenchConfig config;
  private final PrintStream err;
  private final boolean liveProgress;
  private final boolean quiet;
  private final File hdrFile;
  private volatile LoadEngine engine;
  private volatile boolean interrupted;
  private String progressPrefix = "";

  BenchRun(BenchConfig config, PrintStream err, boolean liveProgress, boolean quiet, File hdrFile) {
    this.config = config;
    this.err = err;
    this.liveProgress = liveProgress;
    this.quiet = quiet;
    this.hdrFile = hdrFile;
  }

  /** Runs to the end (or until {@link #interrupt()}) and returns the result document. */
  ObjectNode run() throws InterruptedException, FileNotFoundException {
    Metrics metrics = new Metrics();
    List<ClientRequest> requests = new ArrayList<>();
    for (byte[] body : config.bodies()) {
      requests.add(new ClientRequest(config.target(), config.method(), config.headers(), body, config.expectStream()));
    }
    warmUpClasses();
    Instant startedAt = Instant.now();
    try (StreamingClient client = StreamingClient.create(config.threads(), config.connectTimeoutMillis())) {
      ClientWarmUp.run(client, config.target().host());
      SelfCheck self = new SelfCheck(metrics);
      self.start(client.group());
      engine = new LoadEngine(config, metrics, client, requests);
      HdrLog hdr = hdrFile == null ? null : new HdrLog(hdrFile, startedAt.toEpochMilli());
      Progress progress = new Progress(config, metrics, engine, hdr, err, liveProgress, quiet);
      progress.prefix(progressPrefix);
      progress.start();
      engine.start();
      if (interrupted) {
        engine.abort();
      }
      while (!engine.await(100, TimeUnit.MILLISECONDS)) {
        if (interrupted || engine.stoppedEarly()) {
          engine.abort();
          // Cancelled streams end at once; don't wait long for stragglers (connects still in the backlog).
          engine.await(2, TimeUnit.SECONDS);
          break;
        }
      }
      self.stop();
      progress.finish();
      if (hdr != null) {
        hdr.close();
      }
      return BenchReport.build(config, metrics, engine, self, startedAt, interrupted);
    }
  }

  /**
   * Loads the tokenizer's vocabulary and the JSON classes now: done lazily on an event loop, the first
   * content event would stall every stream on that loop for hundreds of milliseconds.
   */
  static void warmUpClasses() {
    dev.tokenpipe.tokens.Tokenizer.cl100k().count("warm up the tokenizer");
    dev.tokenpipe.client.ChunkContent.of("message",
        "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"completion_tokens\":1}}");
  }

  /** Text in front of every progress line (the sweep's step). */
  void progressPrefix(String prefix) {
    progressPrefix = prefix;
  }

  /** Ctrl-C: stop issuing, cancel in-flight streams; {@link #run()} returns the partial result. */
  void interrupt() {
    interrupted = true;
    LoadEngine e = engine;
    if (e != null) {
      e.abort();
    }
  }

  boolean interrupted() {
    return interrupted;
  }

  /**
   * Runs with a JVM shutdown hook that turns SIGINT/SIGTERM into {@link #interrupt()} and waits (bounded)
   * until {@code afterRun} has written the partial results.
   */
  static int runWithSignals(BenchRun run, java.util.function.Function<ObjectNode, Integer> afterRun)
      throws Exception {
    return runWithSignals(run::interrupt, run::run, afterRun);
  }

  /** The same for any run: {@code onSignal} stops it, {@code body} produces the (partial) result. */
  static int runWithSignals(Runnable onSignal, java.util.concurrent.Callable<ObjectNode> body,
      java.util.function.Function<ObjectNode, Integer> afterRun) throws Exception {
    CountDownLatch written = new CountDownLatch(1);
    Thread hook = new Thread(() -> {
      onSignal.run();
      try {
        written.await(20, TimeUnit.SECONDS);
      } catch (InterruptedException ignored) {
        Thread.currentThread().interrupt();
      }
    }, "tokenpipe-bench-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      ObjectNode result = body.call();
      return afterRun.apply(result);
    } finally {
      written.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it waits for the latch we just released
      }
    }
  }

}
