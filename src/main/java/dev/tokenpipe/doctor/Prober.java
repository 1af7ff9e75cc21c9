package dev.tokenpipe.doctor;

import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.Connection;
import dev.tokenpipe.client.ErrorClass;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.HttpTarget;
import dev.tokenpipe.client.StreamingClient;
import dev.tokenpipe.probe.ProbeRequest;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The network half of doctor: sends the streaming requests on the shared {@link StreamingClient} and records
 * them into a {@link Trace}. It decides nothing about buffering; {@link Analyzer} does.
 *
 * <p>Plan of a run: (1) ask the origin for tokenpipe's known-pacing probe with two 1 ms events; if it answers
 * with stamped events, the target is tokenpipe and (2) every measured stream is a probe with known pacing, else
 * they are requests to the endpoint itself. The {@code concurrency} streams start staggered (probe: interval /
 * N apart, endpoint: 11 ms apart), so streams that still receive events in the same instants were synchronised
 * by a layer, not by their start. (3) With an idle test, one more probe stays quiet between its two events.
 */
final class Prober {

  /**
   * What to send.
   *
   * @param endpoint       the endpoint request (method, body, headers) used when there is no probe route
   * @param headers        extra headers for every request (also the probe's)
   * @param useProbe        try {@code /tokenpipe/probe} first
   * @param pacing         the probe's pacing
   * @param safeHeaders    probe with {@code headers=safe} instead of {@code plain}
   * @param concurrency    streams at once, {@code >= 1}
   * @param timeoutNanos   deadline per stream
   * @param idleNanos      quiet period of the idle test, 0 = none
   */
  record Plan(ClientRequest endpoint, List<Map.Entry<String, String>> headers, boolean useProbe, Trace.Pacing pacing,
      boolean safeHeaders, int concurrency, long timeoutNanos, long idleNanos) {}

  /** The endpoint could not be measured at all: one line for the user, exit code 2. */
  static final class ProbeFailed extends RuntimeException {
    ProbeFailed(String message) {
      super(message);
    }
  }

  private final StreamingClient client;

  Prober(StreamingClient client) {
    this.client = client;
  }

  Trace run(Plan plan) throws InterruptedException {
    HttpTarget target = plan.endpoint().target();
    String probeUrl = null;
    if (plan.useProbe()) {
      Trace.Response check = exchange(probeRequest(target, plan, 1_000_000, 2, 32), true, 0, plan.timeoutNanos());
      if ("connect".equals(check.error())) {
        throw new ProbeFailed(check.errorMessage());
      }
      boolean stamped = check.ok() && check.events().stream().anyMatch(a -> a.emitMicros() >= 0);
      if (stamped) {
        probeUrl = probeRequest(target, plan, plan.pacing().intervalNanos(), plan.pacing().count(), plan.pacing().sizeBytes())
            .target().toString();
      }
    }
    List<Trace.Response> responses;
    if (probeUrl != null) {
      Trace.Pacing p = plan.pacing();
      ClientRequest req = probeRequest(target, plan, p.intervalNanos(), p.count(), p.sizeBytes());
      responses = concurrent(req, true, plan.concurrency(), p.intervalNanos() / plan.concurrency(), plan.timeoutNanos());
    } else {
      // Load the tokenizer's vocabulary now: done lazily on the event loop it would stall the reads being timed.
      dev.tokenpipe.tokens.Tokenizer.cl100k().count("warm up");
      responses = concurrent(plan.endpoint(), false, plan.concurrency(), 11_000_000L, plan.timeoutNanos());
      Trace.Response first = responses.getFirst();
      if (!Analyzer.usable(first) && responses.stream().noneMatch(Analyzer::usable)) {
        throw new ProbeFailed(failure(first));
      }
    }
    Trace.Response idle = null;
    if (plan.idleNanos() > 0) {
      if (probeUrl == null) {
        throw new ProbeFailed("--idle-test needs tokenpipe's probe route (GET /tokenpipe/probe) on the target's origin,"
            + " to hold a stream quiet; " + target.hostHeader() + " does not serve it");
      }
      ClientRequest quiet = probeRequest(target, plan, plan.idleNanos(), 2, 32);
      idle = exchange(quiet, true, 0, plan.idleNanos() + plan.timeoutNanos());
    }
    return new Trace(target.toString(), probeUrl, probeUrl == null ? null : plan.pacing(), responses, idle,
        plan.idleNanos());
  }

  /** One line for a stream that could not be measured. */
  static String failure(Trace.Response r) {
    if (r.error() == null) {
      return "the response carried no content events to time (HTTP " + r.status() + ", " + r.events().size() + " events)";
    }
    if (r.error().equals(ErrorClass.NOT_STREAM.key())) {
      return "not a stream: " + r.errorMessage();
    }
    return r.errorMessage();
  }

  private static ClientRequest probeRequest(HttpTarget target, Plan plan, long intervalNanos, int count, int size) {
    String query = "?interval=" + Math.max(1, intervalNanos / 1_000_000) + "ms&count=" + count + "&size=" + size
        + "&headers=" + (plan.safeHeaders() ? "safe" : "plain");
    return new ClientRequest(target.withPath(ProbeRequest.PATH + query), "GET", plan.headers(), new byte[0], true);
  }

  private List<Trace.Response> concurrent(ClientRequest req, boolean probe, int n, long staggerNanos, long timeoutNanos)
      throws InterruptedException {
    List<CompletableFuture<Trace.Response>> futures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      futures.add(start(req, probe, i * staggerNanos, timeoutNanos));
    }
    List<Trace.Response> out = new ArrayList<>();
    for (CompletableFuture<Trace.Response> f : futures) {
      out.add(await(f, timeoutNanos + n * staggerNanos + 5_000_000_000L));
    }
    return out;
  }

  private Trace.Response exchange(ClientRequest req, boolean probe, long delayNanos, long timeoutNanos)
      throws InterruptedException {
    return await(start(req, probe, delayNanos, timeoutNanos), timeoutNanos + delayNanos + 5_000_000_000L);
  }

  /**
   * Connects, then sends after {@code delayNanos} (so staggering does not include connect time). The
   * {@link BodyTap} goes in before the request is written, so it sees the whole response.
   */
  private CompletableFuture<Trace.Response> start(ClientRequest req, boolean probe, long delayNanos, long timeoutNanos) {
    ResponseRecorder recorder = new ResponseRecorder(probe);
    long t0 = System.nanoTime();
    client.connect(req.target(), null).addListener((Future<Connection> f) -> {
      if (!f.isSuccess()) {
        recorder.onEnd(new ExchangeOutcome(ErrorClass.CONNECT, 0, f.cause().getMessage(), false, System.nanoTime(), false));
        return;
      }
      Connection c = f.getNow();
      c.channel().pipeline().addBefore("exchange", "doctor-tap", new BodyTap(recorder));
      long wait = Math.max(0, delayNanos - (System.nanoTime() - t0));
      c.eventLoop().schedule(() -> c.send(req, new ClosingListener(recorder, c), timeoutNanos), wait, TimeUnit.NANOSECONDS);
    });
    return recorder.result();
  }

  private static Trace.Response await(CompletableFuture<Trace.Response> f, long nanos) throws InterruptedException {
    try {
      return f.get(nanos, TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw new ProbeFailed("probe failed: " + e.getCause());
    } catch (TimeoutException e) {
      throw new ProbeFailed("no answer within " + Analyzer.ms(nanos));
    }
  }

  /** Forwards to the recorder and closes the connection at the end: doctor never reuses one. */
  private record ClosingListener(ResponseRecorder recorder, Connection connection) implements dev.tokenpipe.client.ExchangeListener {
    @Override public void onWritten(long nanos, long wallMicros) { recorder.onWritten(nanos, wallMicros); }
    @Override public void onHead(int status, io.netty.handler.codec.http.HttpHeaders headers, long nanos) {
      recorder.onHead(status, headers, nanos);
    }
    @Override public void onRead(long nanos, long wallMicros, int bytes) { recorder.onRead(nanos, wallMicros, bytes); }
    @Override public void onEvent(dev.tokenpipe.client.StreamEvent event) { recorder.onEvent(event); }
    @Override public void onComment(String text, long nanos) { recorder.onComment(text, nanos); }
    @Override public void onEnd(ExchangeOutcome outcome) {
      connection.close();
      recorder.onEnd(outcome);
    }
  }
}
