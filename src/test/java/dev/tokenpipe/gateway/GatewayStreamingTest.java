package dev.tokenpipe.gateway;

import dev.tokenpipe.testing.RawClient;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The gateway in front of its embedded simulated model, over real sockets. Wire structure is asserted
 * strictly (one event per read, headers, terminators); timing loosely (noisy 2-core machine).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayStreamingTest {
  static GatewayServer gateway;

  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";

  @BeforeAll
  static void start() {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  @Test
  void oneEventPerSocketReadAtTheSimulatedModelsPace() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=300ms itl=50ms tokens=12")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
      List<RawClient.Read> events = c.eventReads();
      // role chunk, 12 tokens, finish chunk, [DONE]; the model writes the last three in one flush.
      assertThat(c.all().split("id: tp\\.", -1)).hasSize(16);
      // The role chunk is held until the first token (failover before generated content), so both
      // leave in the first write; the last token may share a read with the finish chunk and [DONE].
      assertThat(events.getFirst().count("id: tp.")).isEqualTo(2);
      List<RawClient.Read> tokens = events.subList(1, 11);
      for (RawClient.Read r : tokens) {
        assertThat(r.count("id: tp.")).as("events in one read: %s", r.text()).isEqualTo(1);
      }
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < tokens.size(); i++) {
        gaps.add((tokens.get(i).nanos() - tokens.get(i - 1).nanos()) / 1_000_000);
      }
      assertThat(median(gaps)).isBetween(35L, 80L);
      long ttftMillis = (tokens.getFirst().nanos() - c.sentNanos) / 1_000_000;
      assertThat(ttftMillis).isBetween(280L, 1500L);
      assertThat(c.all()).contains("data: [DONE]\n\n");
    }
  }

  @Test
  void servesTheKnownPacingProbeItselfOneEventPerRead() throws Exception {
    try (RawClient c = RawClient.get(gateway.port(), "/tokenpipe/probe?interval=40ms&count=6&size=64&headers=safe")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
      assertThat(c.head()).contains("x-accel-buffering: no");
      List<RawClient.Read> events = c.eventReads();
      assertThat(c.all().split("id: tp\\.", -1)).hasSize(7);
      assertThat(events.subList(0, 5)).allSatisfy(r -> assertThat(r.count("id: tp.")).isEqualTo(1));
      long spanMillis = (events.get(4).nanos() - events.get(0).nanos()) / 1_000_000;
      assertThat(spanMillis).isBetween(120L, 400L);
      assertThat(c.all()).contains("data: [DONE]");
    }
    try (RawClient bad = RawClient.get(gateway.port(), "/tokenpipe/probe?interval=0ms")) {
      bad.readToEnd();
      assertThat(bad.status()).isEqualTo(400);
    }
  }

  @Test
  void streamHeadersDefeatBufferingAndCompression() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=10ms itl=5ms tokens=3", "Accept-Encoding: gzip, br")) {
      assertThat(c.readToEnd()).isTrue();
      String head = c.head();
      assertThat(head).startsWith("http/1.1 200 ok");
      assertThat(head).contains("content-type: text/event-stream; charset=utf-8");
      assertThat(head).contains("cache-control: no-cache, no-transform");
      assertThat(head).contains("x-accel-buffering: no");
      assertThat(head).contains("transfer-encoding: chunked");
      assertThat(head).doesNotContain("content-length").doesNotContain("content-encoding");
      assertThat(c.body()).contains("data: [DONE]");
    }
  }

  @Test
  void clientDisconnectCancelsTheUpstreamWithinMilliseconds() throws Exception {
    long cancelledBefore = gateway.sim().metrics().count("cancelled");
    long gatewayCancelsBefore = gateway.metrics().count("cancels");
    try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=20ms itl=20ms tokens=100000")) {
      while (c.eventReads().size() < 3) {
        c.readOnce();
      }
      assertThat(gateway.sim().metrics().activeStreams()).isGreaterThanOrEqualTo(1);
    }
    long closedAt = System.nanoTime();
    await(() -> gateway.sim().metrics().count("cancelled") == cancelledBefore + 1, Duration.ofSeconds(5));
    long millis = (System.nanoTime() - closedAt) / 1_000_000;
    await(() -> gateway.sim().metrics().activeStreams() == 0 && gateway.metrics().activeStreams() == 0, Duration.ofSeconds(5));
    assertThat(gateway.metrics().count("cancels")).isEqualTo(gatewayCancelsBefore + 1);
    assertThat(millis).as("upstream saw the cancel after %d ms", millis).isLessThan(1000);
  }

  @Test
  void upstreamDeathMidStreamEndsWithAnInBandErrorAndTheTerminatingChunk() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=10ms itl=10ms tokens=20 drop_after=3")) {
      assertThat(c.readToEnd()).as("chunked body properly terminated").isTrue();
      String body = c.body();
      assertThat(body).doesNotContain("[DONE]");
      assertThat(body).contains("event: error\ndata: {\"error\":");
      JsonNode error = Json.MAPPER.readTree(lastData(body));
      assertThat(error.at("/error/code").asText()).isEqualTo("upstream_cut");
      assertThat(error.at("/error/type").asText()).isEqualTo("server_error");
      assertThat(body.split("\"content\":\"[^\"]", -1)).hasSize(4); // the three tokens before the cut arrived
    }
  }

  @Test
  void simpleTokenApiSendsOneDataEventPerTokenAndDone() throws Exception {
    try (RawClient c = RawClient.post(gateway.port(), "/v1/stream", "{\"prompt\":\"hello\"}",
        "X-Tokenpipe-Sim: ttft=10ms itl=10ms tokens=8")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.head()).contains("content-type: text/event-stream; charset=utf-8");
      List<String> data = new ArrayList<>();
      for (String block : ("\r\n" + c.body()).replaceAll("\r\n[0-9a-f]+\r\n", "").split("\n\n")) {
        if (block.contains("data:")) {
          data.add(block);
        }
      }
      assertThat(data).hasSize(9);
      assertThat(data.getLast()).endsWith("data: [DONE]");
      assertThat(data.subList(0, 8)).allSatisfy(b -> assertThat(b).startsWith("id: tp.").doesNotContain("{"));
    }
  }

  @Test
  void nonStreamingResponsesPassThroughAsTheyAre() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", body, "X-Tokenpipe-Sim: ttft=10ms itl=1ms tokens=4")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
      assertThat(c.head()).contains("content-type: application/json").contains("content-length:");
      assertThat(Json.MAPPER.readTree(c.body()).at("/usage/completion_tokens").asInt()).isEqualTo(4);
    }
  }

  @Test
  void keepAliveConnectionServesSeveralStreamsAndMetricsUseGenAiNames() throws Exception {
    try (RawClient c = RawClient.get(gateway.port(), "/metrics")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.body()).contains("gen_ai_server_time_to_first_token_seconds_bucket")
          .contains("gen_ai_server_time_per_output_token_seconds")
          .contains("gen_ai_server_request_duration_seconds")
          .contains("tokenpipe_gateway_added_latency_seconds")
          .contains("tokenpipe_gateway_active_streams");
    }
    try (RawClient c = RawClient.get(gateway.port(), "/readyz")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
    }
  }

  static String lastData(String body) {
    int i = body.lastIndexOf("data: ");
    return body.substring(i + 6, body.indexOf('\n', i));
  }

  static long median(List<Long> values) {
    List<Long> sorted = new ArrayList<>(values);
    sorted.sort(null);
    return sorted.get(sorted.size() / 2);
  }

  static void await(BooleanSupplier condition, Duration limit) throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within " + limit);
      }
      Thread.sleep(5);
    }
  }
}
