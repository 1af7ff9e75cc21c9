package dev.tokenpipe.gateway;

import dev.tokenpipe.testing.RawClient;
import static dev.tokenpipe.gateway.GatewayStreamingTest.await;
import static dev.tokenpipe.gateway.GatewayStreamingTest.lastData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.openai.Json;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Heartbeats, timeouts and shutdown: the gateway's clocks. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayTimingTest {
  static final String CHAT = GatewayStreamingTest.CHAT;

  @Test
  void heartbeatsKeepTheStreamWarmWhileTheFirstTokenIsAwaited() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withHeartbeat(Duration.ofMillis(500), Duration.ZERO))) {
      // A first token at 3.25 s, between two pings (every 500 ms from the head): at 3 s it came with the sixth
      // ping, and a reader that ran late under load read the two writes as one.
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=3250ms itl=10ms tokens=3")) {
        assertThat(c.readToEnd()).isTrue();
        String body = c.body();
        int firstToken = body.indexOf("\"delta\":{\"content\":\"");
        long pingsBefore = countOf(body.substring(0, firstToken), ": ping\n\n");
        assertThat(pingsBefore).as(body).isBetween(4L, 9L); // 3 s of TTFT (plus model warm-up) at 500 ms
        assertThat(body).startsWith(headChunk(": ok\n\n"));
        // Each ping was its own read, between events.
        List<RawClient.Read> pings = c.reads.stream().filter(r -> r.text().contains(": ping")).toList();
        assertThat(pings).allSatisfy(r -> assertThat(r.count("id: tp.")).isZero());
      }
      assertThat(g.metrics().count("heartbeats")).isBetween(4L, 9L);
    }
  }

  @Test
  void noInitialCommentMeansNoBytesBeforeTheUpstreamAnswers() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withHeartbeat(Duration.ZERO, Duration.ofSeconds(10)))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=300ms itl=5ms tokens=3")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.body()).doesNotContain(": ok").doesNotContain(": ping").contains("data: [DONE]");
      }
    }
  }

  @Test
  void firstTokenTimeoutEndsTheStreamWithAnInBandError() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withTimeouts(
        Duration.ofMillis(400), Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=5s")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(Json.MAPPER.readTree(lastData(c.body())).at("/error/code").asText()).isEqualTo("first_token_timeout");
        assertThat((System.nanoTime() - c.sentNanos) / 1_000_000).isLessThan(3000);
      }
      await(() -> g.sim().metrics().activeStreams() == 0, Duration.ofSeconds(5));
    }
  }

  @Test
  void upstreamIdleTimeoutEndsAStalledStream() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withTimeouts(
        Duration.ofSeconds(60), Duration.ofMillis(400), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT,
          "X-Tokenpipe-Sim: ttft=10ms itl=10ms tokens=10 stall_after=3 stall=10s")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(Json.MAPPER.readTree(lastData(c.body())).at("/error/code").asText()).isEqualTo("upstream_idle_timeout");
      }
    }
  }

  /**
   * An upstream that sends its response head a line at a time, never finishing it, is not silent: it is ended
   * by the head's deadline (--upstream-idle-timeout from the request, which the head's bytes do not reset, the
   * codec handing on nothing before the head is whole), with a 504 that says so. It was
   * {@code upstream_idle_timeout}, "The upstream went silent."
   */
  @Test
  void anUpstreamHeadThatTricklesInIsEndedByTheHeadDeadlineNotCalledSilent() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream().on("slow-head", x -> {
          x.write("HTTP/1.1 200 OK\r\n");
          for (int i = 0; i < 20; i++) {
            x.pause(500).write("X-Slow-" + i + ": " + i + "\r\n");
          }
        });
        GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url()))
            .withTimeouts(Duration.ofSeconds(60), Duration.ofSeconds(2), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
      long start = System.nanoTime();
      Wire.Response r = Wire.post(g.port(), "/v1/chat/completions",
          "{\"model\":\"slow-head\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      long tookMillis = (System.nanoTime() - start) / 1_000_000;
      assertThat(r.status()).as("%s", r).isEqualTo(504);
      var error = Json.MAPPER.readTree(r.body()).path("error");
      assertThat(error.path("code").asText()).isEqualTo("upstream_head_timeout");
      assertThat(error.path("message").asText()).isEqualTo("The upstream did not complete its response head in 2.00s.");
      assertThat(tookMillis).as("ended by the 2 s deadline while head lines kept coming").isBetween(1900L, 5000L);
      // Counted when the exchange finishes, after the 504 went out: the client may read it first.
      GatewayStreamingTest.await(() -> g.metrics().errors("upstream_head_timeout") == 1, Duration.ofSeconds(5));
    }
  }

  @Test
  void shutdownDrainsThenEndsRemainingStreamsWithAnErrorEvent() throws Exception {
    GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withDrainTimeout(Duration.ofMillis(300)));
    try (RawClient shortOne = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=10ms itl=20ms tokens=5");
         RawClient longOne = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=10ms itl=20ms tokens=100000")) {
      shortOne.readUntil(": ok");
      longOne.readUntil("id: tp.");
      Thread closer = Thread.ofPlatform().start(g::close);
      assertThat(shortOne.readToEnd()).isTrue();
      assertThat(shortOne.body()).contains("data: [DONE]");
      assertThat(longOne.readToEnd()).isTrue();
      assertThat(Json.MAPPER.readTree(lastData(longOne.body())).at("/error/code").asText()).isEqualTo("gateway_shutdown");
      closer.join(10_000);
    }
  }

  static String headChunk(String text) {
    return Integer.toHexString(text.length()) + "\r\n" + text;
  }

  static long countOf(String s, String needle) {
    long n = 0;
    for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
      n++;
    }
    return n;
  }
}
