package dev.tokenpipe.gateway;

import dev.tokenpipe.testing.RawClient;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sse.EmissionStamp;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Not a unit test: measures the gateway's own added latency per event for N concurrent streams from the
 * embedded simulated model, from the gateway's histogram (upstream read → client write completed), and
 * beside it the one-way delay the clients see (arrival − the sim's emission stamp), once direct to the
 * sim and once through the gateway. Run with:
 *
 * <pre>./mvnw -B -q test -Dtest=GatewayAddedLatencyBenchmark -Dtokenpipe.bench=true [-Dstreams=200]</pre>
 */
@EnabledIfSystemProperty(named = "tokenpipe.bench", matches = "true")
class GatewayAddedLatencyBenchmark {
  private static final java.util.concurrent.atomic.AtomicLong EVENTS = new java.util.concurrent.atomic.AtomicLong();
  private static final Pattern STAMP = Pattern.compile("id: (tp\\.\\d+\\.\\d+)\\n");

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void addedLatencyPerEvent() throws Exception {
    int streams = Integer.getInteger("streams", 200);
    String profile = System.getProperty("profile", "ttft=200ms/400ms itl=20ms tokens=200");
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withLimits(1 << 20, 0))) {
      run(g.port(), 50, profile); // warm-up: JIT, pools, tokenizer
      run(g.sim().port(), 50, profile);
      g.metrics().addedLatencyNanosInterval(); // reset
      EVENTS.set(0);
      Histogram direct = run(g.sim().port(), streams, profile);
      long directEvents = EVENTS.getAndSet(0);
      Histogram viaGateway = run(g.port(), streams, profile);
      long gatewayEvents = EVENTS.get();
      Histogram added = g.metrics().addedLatencyNanosInterval();
      System.out.printf(Locale.ROOT, "%n== %d concurrent streams, sim profile '%s', transport %s, %d cores ==%n",
          streams, profile, dev.tokenpipe.net.Transport.get().name(), Runtime.getRuntime().availableProcessors());
      System.out.printf(Locale.ROOT, "gateway added latency per event (its histogram, %d events): p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us%n",
          added.getTotalCount(), added.getValueAtPercentile(50) / 1e3, added.getValueAtPercentile(90) / 1e3,
          added.getValueAtPercentile(99) / 1e3, added.getValueAtPercentile(99.9) / 1e3, added.getMaxValue() / 1e3);
      print("client one-way delay, direct to sim ", direct);
      print("client one-way delay, via gateway   ", viaGateway);
      System.out.printf(Locale.ROOT, "complete events received: direct %d, via gateway %d%n", directEvents, gatewayEvents);
      assertThat(added.getTotalCount()).isPositive();
      assertThat(gatewayEvents).isEqualTo(directEvents);
    }
  }

  private static void print(String label, Histogram h) {
    System.out.printf(Locale.ROOT, "%s (%d events): p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms%n",
        label, h.getTotalCount(), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(90) / 1e3,
        h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
  }

  /** N concurrent /v1/chat/completions streams; returns arrival − emission per event, in microseconds. */
  private static Histogram run(int port, int streams, String profile) throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Histogram>> results = new ArrayList<>();
      for (int i = 0; i < streams; i++) {
        results.add(pool.submit(() -> oneStream(port, body, profile)));
      }
      Histogram all = new Histogram(3);
      for (Future<Histogram> f : results) {
        all.add(f.get());
      }
      return all;
    }
  }

  private static Histogram oneStream(int port, String body, String profile) throws IOException {
    Histogram h = new Histogram(3);
    try (RawClient c = RawClient.post(port, "/v1/chat/completions", body, "X-Tokenpipe-Sim: " + profile)) {
      String carry = ""; // the unfinished last line of the previous read: an id line may span two reads
      StringBuilder all = new StringBuilder();
      while (true) {
        RawClient.Read r = c.readOnce();
        if (r == null) {
          break;
        }
        long now = EmissionStamp.nowMicros();
        all.append(r.text());
        String text = carry + r.text();
        Matcher m = STAMP.matcher(text);
        while (m.find()) {
          EmissionStamp.parse(m.group(1)).ifPresent(s -> h.recordValue(Math.max(0, now - s.emitMicros())));
        }
        carry = text.substring(text.lastIndexOf('\n') + 1);
        if (text.endsWith("0\r\n\r\n")) {
          break;
        }
      }
      // Exact event count on the de-chunked body: proves nothing was lost, whatever the read boundaries.
      String received = all.substring(all.indexOf("\r\n\r\n") + 4).replaceAll("(?m)^[0-9a-f]+\r\n|\r\n(?=[0-9a-f]+\r\n)", "");
      EVENTS.addAndGet(received.split("\nid: tp\\.|^id: tp\\.", -1).length - 1);
    }
    return h;
  }
}
