package dev.tokenpipe.gateway;

import dev.tokenpipe.testing.RawClient;
import static dev.tokenpipe.gateway.GatewayStreamingTest.await;
import static dev.tokenpipe.gateway.GatewayStreamingTest.lastData;
import static dev.tokenpipe.gateway.GatewayStreamingTest.median;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Upstreams that misbehave in ways the simulated model does not: ignore backpressure, compress, break SSE. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayUpstreamTest {
  static FakeUpstream fake;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    fake = new FakeUpstream()
        .on("/v1/blast", GatewayUpstreamTest::blast)
        .on("/v1/paced", GatewayUpstreamTest::paced)
        .on("/v1/gzip", GatewayUpstreamTest::gzip)
        .on("/v1/badsse", GatewayUpstreamTest::badSse)
        .on("/v1/headers", GatewayUpstreamTest::headers);
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(fake.url()))
        .withTimeouts(Duration.ofSeconds(60), Duration.ofSeconds(60), Duration.ofSeconds(3), Duration.ofSeconds(30))
        .withAuth(Set.of(), "sk-upstream-secret"));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    fake.close();
  }

  @Test
  void aNonReadingClientPausesItsUpstreamWithoutSlowingAnotherStreamAndIsDroppedLater() throws Exception {
    try (RawClient stuck = RawClient.request(gateway.port(), "POST", "/v1/blast", "{}", 4096)) {
      await(() -> gateway.metrics().count("pauses") >= 1, Duration.ofSeconds(10));
      // Once the kernel buffers between upstream and gateway are full, the upstream's writes block.
      long written = awaitStable(fake.bytesWritten::get);
      assertThat(written).as("bytes the blasting upstream got out").isLessThan(BLAST_EVENTS * 1024L / 2);
      // Bound: the 64 KiB high watermark plus what the upstream read loop had already read when it was
      // paused (up to one 64 KiB read, decoded into 8 KiB chunks with their chunk headers); measured
      // up to ~140 KiB. Without backpressure this would grow to the whole blast (~50 MB).
      assertThat(gateway.metrics().maxPendingWriteBytes()).as("gateway-side outbound buffer")
          .isLessThanOrEqualTo(256 * 1024);

      try (RawClient other = RawClient.post(gateway.port(), "/v1/paced", "{}")) {
        assertThat(other.readToEnd()).isTrue();
        List<RawClient.Read> events = other.eventReads();
        assertThat(events).hasSize(PACED_EVENTS);
        List<Long> gaps = new ArrayList<>();
        for (int i = 1; i < events.size(); i++) {
          gaps.add((events.get(i).nanos() - events.get(i - 1).nanos()) / 1_000_000);
        }
        assertThat(median(gaps)).isBetween(30L, 80L);
      }
      await(() -> gateway.metrics().count("slow_clients") == 1, Duration.ofSeconds(10));
      await(() -> gateway.metrics().activeStreams() == 0, Duration.ofSeconds(5));
    }
  }

  @Test
  void aCompressingUpstreamIsInflatedPerEventAndNeverCompressedToTheClient() throws Exception {
    GZIP_STAMPS.clear();
    try (RawClient c = RawClient.post(gateway.port(), "/v1/gzip", "{}", "Accept-Encoding: gzip")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.head()).doesNotContain("content-encoding").contains("content-type: text/event-stream");
      // Structure, exactly, at the writer: the gateway writes (and flushes) each upstream read as one HTTP
      // chunk, so chunk boundaries are its writes whatever TCP and a busy client thread merge into one read.
      List<Chunk> chunks = chunks(c).stream().filter(ch -> ch.text().contains("id: tp.")).toList();
      assertThat(chunks).hasSize(GZIP_EVENTS);
      assertThat(chunks).allSatisfy(ch -> assertThat(ch.text().split("id: tp.", -1)).hasSize(2));
      // Timing, statistically: each event's arrival at the client after the upstream emitted it. Holding the
      // events (a buffering inflater) delays most of them by hundreds of ms; a busy machine delays a few.
      List<Long> delays = new ArrayList<>();
      for (int i = 0; i < GZIP_EVENTS; i++) {
        delays.add(chunks.get(i).arrivalNanos() - GZIP_STAMPS.get(i));
      }
      assertThat(percentile(delays, 0.5)).as("p50 delivery delay, ns: %s", delays).isLessThan(TimeUnit.MILLISECONDS.toNanos(100));
      assertThat(percentile(delays, 0.9)).as("p90 delivery delay, ns: %s", delays).isLessThan(TimeUnit.MILLISECONDS.toNanos(250));
      assertThat(GatewayChurnTest.payload(c)).contains("data: token 9\n\n").contains("data: [DONE]");
      assertThat(fake.lastHeads.get("/v1/gzip").toLowerCase()).contains("accept-encoding: identity");
    }
  }

  /** One HTTP chunk of a response and when the read that completed it returned. ASCII bodies only. */
  record Chunk(String text, long arrivalNanos) {}

  static List<Chunk> chunks(RawClient c) {
    StringBuilder all = new StringBuilder();
    List<Integer> ends = new ArrayList<>();
    for (RawClient.Read r : c.reads) {
      all.append(r.text());
      ends.add(all.length());
    }
    List<Chunk> out = new ArrayList<>();
    int i = all.indexOf("\r\n\r\n") + 4;
    while (i > 3 && i < all.length()) {
      int eol = all.indexOf("\r\n", i);
      int size = Integer.parseInt(all.substring(i, eol).trim(), 16);
      if (size == 0) {
        break;
      }
      int end = eol + 2 + size;
      int read = 0;
      while (ends.get(read) < end) {
        read++;
      }
      out.add(new Chunk(all.substring(eol + 2, end), c.reads.get(read).nanos()));
      i = end + 2;
    }
    return out;
  }

  static long percentile(List<Long> values, double p) {
    List<Long> sorted = new ArrayList<>(values);
    sorted.sort(null);
    return sorted.get((int) Math.ceil(p * sorted.size()) - 1);
  }

  @Test
  void invalidSseFromTheUpstreamEndsWithAnErrorEventAndIsCounted() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/badsse", "{}")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(Json.MAPPER.readTree(lastData(c.body())).at("/error/code").asText()).isEqualTo("upstream_invalid_sse");
    }
    await(() -> gateway.metrics().errors("invalid_sse") == 1, Duration.ofSeconds(5));
  }

  @Test
  void hopByHopHeadersStopAtTheGatewayBothWaysAndTheUpstreamKeyIsInjected() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/headers", "{}", "Connection: keep-alive, X-Client-Hop",
        "X-Client-Hop: 1", "TE: trailers", "Proxy-Authorization: Basic eA==", "X-Request-Id: r-1",
        "Authorization: Bearer client-key")) {
      assertThat(c.readToEnd()).isTrue();
      String up = fake.lastHeads.get("/v1/headers").toLowerCase();
      assertThat(up).contains("x-request-id: r-1").contains("authorization: bearer sk-upstream-secret")
          .doesNotContain("x-client-hop").doesNotContain("te: trailers").doesNotContain("proxy-authorization")
          .doesNotContain("client-key");
      assertThat(c.head()).contains("x-upstream-id: u-1").doesNotContain("x-upstream-hop").doesNotContain("keep-alive: timeout");
    }
  }

  @Test
  void aRefusedUpstreamIsRetriedOnAHealthyOneTransparentlyAndSkippedAfterFailuresInARow() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
             .withUpstreams(List.of("http://127.0.0.1:" + closedPort, "http://127.0.0.1:" + sim.port()))
             .withBalance("round-robin"))) {
      // Round-robin keeps picking the dead upstream, each refusal is retried on the live one, until it is marked down.
      for (int i = 0; i < 40 && g.metrics().count("retries") < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
        completeStream(g);
      }
      assertThat(g.metrics().count("retries")).isEqualTo(UpstreamSet.FAILURES_TO_MARK_DOWN);
      long start = System.nanoTime();
      for (int i = 0; i < 10; i++) {
        completeStream(g);
      }
      // Marked down: skipped, except one probe per 5 s cool-down that ran out (a slow machine may see one).
      long coolDowns = (System.nanoTime() - start) / TimeUnit.SECONDS.toNanos(5);
      assertThat(g.metrics().count("retries") - UpstreamSet.FAILURES_TO_MARK_DOWN).isLessThanOrEqualTo(coolDowns + 1);
      assertThat(g.metrics().errors(ErrorKind.UPSTREAM_REFUSED.label())).as("no client saw the refusals").isZero();
    }
  }

  private static void completeStream(GatewayServer g) throws IOException {
    try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", GatewayStreamingTest.CHAT,
        "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(GatewayChurnTest.payload(c)).contains("data: [DONE]").doesNotContain("event: error");
    }
  }

  // ------------------------------------------------------------------ scripts

  static final int BLAST_EVENTS = 50_000;
  static final int PACED_EVENTS = 20;

  static void blast(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "");
    String pad = "x".repeat(1000);
    for (int i = 0; i < BLAST_EVENTS; i++) {
      byte[] event = ("id: tp." + i + ".0\ndata: " + pad + "\n\n").getBytes(StandardCharsets.UTF_8);
      FakeUpstream.chunk(out, event);
      self.bytesWritten.addAndGet(event.length);
    }
    FakeUpstream.end(out);
  }

  static void paced(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "");
    for (int i = 0; i < PACED_EVENTS; i++) {
      FakeUpstream.chunk(out, "id: tp." + i + ".0\ndata: token " + i + "\n\n");
      sleep(50);
    }
    FakeUpstream.chunk(out, "data: [DONE]\n\n");
    FakeUpstream.end(out);
  }

  static final int GZIP_EVENTS = 10;
  static final List<Long> GZIP_STAMPS = new java.util.concurrent.CopyOnWriteArrayList<>();

  static void gzip(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "Content-Encoding: gzip\r\n");
    ByteArrayOutputStream compressed = new ByteArrayOutputStream();
    GZIPOutputStream gz = new GZIPOutputStream(compressed, true); // sync flush: each event decodable at once
    for (int i = 0; i < GZIP_EVENTS; i++) {
      gz.write(("id: tp." + i + ".0\ndata: token " + i + "\n\n").getBytes(StandardCharsets.UTF_8));
      gz.flush();
      GZIP_STAMPS.add(System.nanoTime()); // the emission stamp: just before the event's bytes leave
      FakeUpstream.chunk(out, compressed.toByteArray());
      compressed.reset();
      sleep(50);
    }
    gz.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
    gz.finish();
    FakeUpstream.chunk(out, compressed.toByteArray());
    FakeUpstream.end(out);
  }

  static void badSse(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "");
    FakeUpstream.chunk(out, "id: tp.0.0\ndata: fine\n\n");
    FakeUpstream.chunk(out, "data: " + "y".repeat((1 << 20) + 10)); // one line beyond the parser's 1 MiB limit
    sleep(5000);
  }

  static void headers(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "Connection: X-Upstream-Hop\r\nX-Upstream-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Upstream-Id: u-1\r\n");
    FakeUpstream.chunk(out, "data: [DONE]\n\n");
    FakeUpstream.end(out);
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Waits until the value stops changing for 300 ms and returns it. */
  static long awaitStable(java.util.function.LongSupplier value) throws InterruptedException {
    long last = value.getAsLong();
    for (int i = 0; i < 100; i++) {
      Thread.sleep(300);
      long now = value.getAsLong();
      if (now == last) {
        return now;
      }
      last = now;
    }
    throw new AssertionError("value never settled: " + last);
  }
}
