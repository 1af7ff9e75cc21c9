package dev.tokenpipe.gateway;

import dev.tokenpipe.testing.RawClient;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bad input gets a clear OpenAI-shaped error with the right status, one row per test. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayBadInputTest {
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String PLAIN_CHAT = "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withLimits(4096, 2)
        .withTimeouts(Duration.ofSeconds(120), Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofMillis(500)));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  @Test
  void malformedJsonPassesThroughToTheUpstreamsOwn400() throws Exception {
    JsonNode error = errorOf(RawClient.post(gateway.port(), "/v1/chat/completions", "{\"model\": tokenpipe"), 400);
    assertThat(error.at("/error/type").asText()).isEqualTo("invalid_request_error");
    assertThat(error.at("/error/message").asText()).contains("could not parse the JSON body");
  }

  @Test
  void bodyTooLargeIs413() throws Exception {
    String big = "{\"prompt\":\"" + "x".repeat(10_000) + "\"}";
    JsonNode error = errorOf(RawClient.post(gateway.port(), "/v1/completions", big), 413);
    assertThat(error.at("/error/code").asText()).isEqualTo("request_too_large");
  }

  @Test
  void unknownPathIs404() throws Exception {
    JsonNode error = errorOf(RawClient.get(gateway.port(), "/nope"), 404);
    assertThat(error.at("/error/code").asText()).isEqualTo("unknown_url");
  }

  @Test
  void wrongMethodIs405() throws Exception {
    JsonNode error = errorOf(RawClient.get(gateway.port(), "/v1/stream"), 405);
    assertThat(error.at("/error/code").asText()).isEqualTo("method_not_allowed");
  }

  @Test
  void wrongMethodOnAProxiedPathIsTheUpstreams405() throws Exception {
    errorOf(RawClient.get(gateway.port(), "/v1/chat/completions"), 405);
  }

  @Test
  void tooManyStreamsIs429WithRetryAfter() throws Exception {
    try (RawClient a = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=5s");
         RawClient b = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=5s")) {
      // Both are admitted and waiting for their first token (their heads wait for the model's).
      GatewayStreamingTest.await(() -> gateway.metrics().activeStreams() == 2, Duration.ofSeconds(5));
      try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT)) {
        JsonNode error = errorOf(c, 429);
        assertThat(c.head()).contains("retry-after: 1");
        assertThat(error.at("/error/type").asText()).isEqualTo("rate_limit_error");
      }
    }
  }

  @Test
  void slowRequestIs408() throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", gateway.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(answer).startsWith("HTTP/1.1 408");
      assertThat(answer).contains("\"code\":\"request_timeout\"");
    }
  }

  @Test
  void upstreamRefusedIs502Json() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + closedPort)))) {
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      assertThat(error.at("/error/code").asText()).isEqualTo("upstream_unavailable");
      GatewayStreamingTest.await(() -> g.metrics().errors("upstream_refused") == 1, Duration.ofSeconds(5));
      // A stream:true request's head waits for the upstream's: the same error as an HTTP status.
      JsonNode streamError = errorOf(RawClient.post(g.port(), "/v1/chat/completions", CHAT), 502);
      assertThat(streamError.at("/error/code").asText()).isEqualTo("upstream_unavailable");
    }
    // With --head-wait 0 the head went out at once: the error can only arrive in-band.
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withHeartbeat(Duration.ofSeconds(15), Duration.ZERO)
        .withUpstreams(List.of("http://127.0.0.1:" + closedPort)))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.status()).isEqualTo(200);
        assertThat(c.body()).contains("event: error\ndata: {\"error\":").contains("upstream_unavailable");
      }
    }
  }

  @Test
  void badApiKeyIs401AndAGoodOneStreams() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withAuth(Set.of("sk-good"), null))) {
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", CHAT, "Authorization: Bearer sk-bad"), 401);
      assertThat(error.at("/error/code").asText()).isEqualTo("invalid_api_key");
      errorOf(RawClient.post(g.port(), "/v1/chat/completions", CHAT), 401);
      try (RawClient ok = RawClient.post(g.port(), "/v1/chat/completions", CHAT,
          "Authorization: Bearer sk-good", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=2")) {
        assertThat(ok.readToEnd()).isTrue();
        assertThat(ok.body()).contains("data: [DONE]");
      }
    }
  }

  @Test
  void upstreamErrorStatusBeforeTheHeadIsRelayedWithItsOwnBody() throws Exception {
    JsonNode error = errorOf(RawClient.post(gateway.port(), "/v1/chat/completions", PLAIN_CHAT,
        "X-Tokenpipe-Sim: error_rate=1 error_status=503"), 503);
    assertThat(error.at("/error/code").asText()).isEqualTo("injected_fault");
  }

  /** Reads the whole response, checks the status and returns the OpenAI error object. */
  static JsonNode errorOf(RawClient c, int status) throws Exception {
    try (c) {
      c.readToEnd();
      assertThat(c.status()).as(c.all()).isEqualTo(status);
      assertThat(c.head()).contains("content-type: application/json");
      JsonNode json = Json.MAPPER.readTree(c.body());
      assertThat(json.at("/error/message").asText()).isNotBlank();
      return json;
    }
  }
}
