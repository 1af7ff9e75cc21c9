package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.RawClient;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * Stress with churn, bounded and on loopback: {@value #STREAMS} streams per run, {@value #CLIENTS} at a
 * time, short ones that complete mixed with ones whose client walks away after the first token, so upstream
 * connections close and open all the time on the same event loops (the pattern that once delivered a
 * closed socket's epoll event to a brand-new upstream socket: see {@link UpstreamPoolFdReuseTest}).
 * Every finished stream must be complete, every abandoned one must free its upstream, no request may fail,
 * and nothing may stay open afterwards.
 *
 * <p>Tagged {@code stress}: {@code -Dgroups=stress} runs it alone; the default run includes it. Runs per
 * invocation: {@code -Dtokenpipe.churnRuns=N} (default {@value #DEFAULT_RUNS}), each run bounded by
 * {@value #RUN_SECONDS} s, all in the one gateway of this class.
 */
@Tag("stress")
class GatewayChurnTest {
  static final int STREAMS = 300;
  static final int CLIENTS = 100;
  static final int DEFAULT_RUNS = 3;
  static final int RUN_SECONDS = 90;
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  @TestFactory
  Stream<DynamicTest> churn() {
    int runs = Integer.getInteger("tokenpipe.churnRuns", DEFAULT_RUNS);
    return IntStream.rangeClosed(1, runs).mapToObj(run -> DynamicTest.dynamicTest("run " + run + " of " + runs,
        () -> abandonedStreamsFreeTheirUpstreamAndTheRestComplete(run)));
  }

  void abandonedStreamsFreeTheirUpstreamAndTheRestComplete(int run) throws Exception {
    long cancelledBefore = gateway.sim().metrics().count("cancelled");
    long completedBefore = gateway.sim().metrics().count("completed");
    long cancelsBefore = gateway.metrics().count("cancels");
    long errorsBefore = errorCount();
    SplittableRandom random = new SplittableRandom(run);
    List<Boolean> plan = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      plan.add(random.nextBoolean());
    }
    AtomicInteger next = new AtomicInteger();
    AtomicInteger abandoned = new AtomicInteger();
    AtomicInteger completed = new AtomicInteger();
    ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    for (int c = 0; c < CLIENTS; c++) {
      clients.execute(() -> {
        int i;
        while ((i = next.getAndIncrement()) < STREAMS) {
          boolean leaves = plan.get(i);
          // Leavers ask for endless streams, so leaving always cuts a live one; the others are short.
          String pacing = leaves ? "ttft=5ms/50ms itl=20ms tokens=1000000" : "ttft=5ms/50ms itl=2ms/10ms tokens=20";
          try (RawClient c2 = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: " + pacing)) {
            if (leaves) {
              if (c2.readUntil("\"delta\":{\"content\":\"")) {
                abandoned.incrementAndGet();
              } else {
                problems.add("stream " + i + " ended before its first token: " + c2.all());
              }
              continue; // closing the socket is the client walking away
            }
            boolean whole = c2.readToEnd();
            String payload = payload(c2);
            if (whole && c2.status() == 200 && payload.contains("data: [DONE]") && !payload.contains("event: error")) {
              completed.incrementAndGet();
            } else {
              problems.add("stream " + i + " incomplete: " + c2.all());
            }
          } catch (Exception e) {
            problems.add("stream " + i + ": " + e);
          }
        }
      });
    }
    clients.shutdown();
    boolean ended = clients.awaitTermination(RUN_SECONDS, TimeUnit.SECONDS);
    clients.shutdownNow();
    assertThat(ended).as("run %d ended within %d s", run, RUN_SECONDS).isTrue();
    assertThat(problems).as("failed streams").isEmpty();

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while ((gateway.metrics().activeStreams() != 0 || gateway.sim().metrics().activeStreams() != 0)
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(gateway.metrics().activeStreams()).isZero();
    assertThat(gateway.sim().metrics().activeStreams()).isZero();
    assertThat(abandoned.get()).isBetween(100, 200);
    assertThat(completed.get()).isEqualTo(STREAMS - abandoned.get());
    // Every abandoned client closed its upstream stream at the model; the others ran to the end.
    assertThat(gateway.sim().metrics().count("cancelled") - cancelledBefore).isEqualTo(abandoned.get());
    assertThat(gateway.sim().metrics().count("completed") - completedBefore).isEqualTo(completed.get());
    assertThat(gateway.metrics().count("cancels") - cancelsBefore).isEqualTo(abandoned.get());
    assertThat(errorCount() - errorsBefore).as("requests that ended in an error (connect failures included)").isZero();
  }

  /**
   * The body without its chunked framing: the gateway writes each upstream read as one chunk, and an
   * event split across two reads is split across two chunks.
   */
  static String payload(RawClient c) {
    String body = c.body();
    if (!c.head().contains("transfer-encoding: chunked")) {
      return body;
    }
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < body.length()) {
      int eol = body.indexOf("\r\n", i);
      if (eol < 0) {
        break;
      }
      int size = Integer.parseInt(body.substring(i, eol).trim(), 16);
      if (size == 0) {
        break;
      }
      out.append(body, eol + 2, Math.min(body.length(), eol + 2 + size));
      i = eol + 2 + size + 2;
    }
    return out.toString();
  }

  private static long errorCount() {
    long n = 0;
    for (ErrorKind k : ErrorKind.values()) {
      n += gateway.metrics().errors(k.label());
    }
    return n;
  }
}
