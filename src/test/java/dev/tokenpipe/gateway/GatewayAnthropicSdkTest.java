package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.GatewayDialectTest.A_END;
import static dev.tokenpipe.gateway.GatewayDialectTest.A_OPEN;
import static dev.tokenpipe.gateway.GatewayDialectTest.A_TEXT;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.NodeScript;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The official {@code @anthropic-ai/sdk} npm package (src/test/node/anthropic-messages.mjs) through
 * {@code serve} with its defaults, in front of a scripted Anthropic upstream: the SDK must see the upstream's
 * statuses, headers and error types as it would directly, and a stream that did not end must raise the SDK's
 * own error (an {@code APIError} from the gateway's in-band {@code event: error}), never end as a message.
 * {@code create} mode iterates the raw events as an application does; {@code stream} mode is the SDK's
 * accumulating helper ({@code messages.stream(...).finalMessage()}).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayAnthropicSdkTest {
  /** Shorter than the thinking and tool-use streams below (1.5 s of deltas before any text). */
  static final Duration FIRST_TOKEN_TIMEOUT = Duration.ofMillis(700);

  static final String OVERLOADED = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("overloaded", x -> x.json(529, "Overloaded", "request-id: req_529\r\n", OVERLOADED))
        .on("rate-limited", x -> x.json(429, "Too Many Requests", "retry-after: 0\r\n",
            "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}"))
        .on("with-headers", x -> {
          x.sseHead("request-id: req_011CSHoEeqs5C35K2UUqR7Fy\r\nanthropic-ratelimit-requests-remaining: 49\r\n");
          events(x, A_OPEN + A_TEXT + A_END);
          x.end();
        })
        .on("cut-mid-event", x -> {
          x.sseHead("");
          events(x, A_OPEN + A_TEXT);
          x.chunk("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_de");
          x.pause(100).close(); // FIN without the last chunk: cut inside an event
        })
        .on("no-message-stop", x -> {
          x.sseHead("");
          events(x, A_OPEN + A_TEXT);
          x.pause(50).end(); // a clean chunked end, but the stream never said message_stop
        })
        .on("overloaded-mid-stream", x -> {
          x.sseHead("");
          events(x, A_OPEN + A_TEXT + "event: error\ndata: " + OVERLOADED + "\n\n");
          x.end();
        })
        .on("thinking", x -> {
          x.sseHead("");
          x.chunk(A_OPEN.replace("\"content_block\":{\"type\":\"text\",\"text\":\"\"}",
              "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}"));
          for (int i = 0; i < 15; i++) {
            x.pause(100).chunk(delta(0, "{\"type\":\"thinking_delta\",\"thinking\":\"step " + i + ". \"}"));
          }
          x.chunk(delta(0, "{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM\"}"));
          x.chunk(stop(0));
          x.chunk("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
              + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
          x.chunk(delta(1, "{\"type\":\"text_delta\",\"text\":\"The answer is 42.\"}"));
          events(x, A_END.replace("\"index\":0", "\"index\":1"));
          x.end();
        })
        .on("tool-use", x -> {
          x.sseHead("");
          x.chunk(A_OPEN.replace("\"content_block\":{\"type\":\"text\",\"text\":\"\"}",
              "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}"));
          for (String part : List.of("{\"ci", "ty\":", " \"Pa", "ris\"", ", \"u", "nit\"", ": \"c", "\"}")) {
            x.pause(200).chunk(delta(0, "{\"type\":\"input_json_delta\",\"partial_json\":"
                + dev.tokenpipe.openai.Json.quote(part) + "}"));
          }
          events(x, A_END.replace("end_turn", "tool_use"));
          x.end();
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url()))
        .withTimeouts(FIRST_TOKEN_TIMEOUT, Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(30)));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  @BeforeEach
  void sdkInstalled() {
    NodeScript.require("@anthropic-ai/sdk");
  }

  @Test
  void anUpstream529ReachesTheSdkAsItsOverloadedError() throws Exception {
    JsonNode r = messages("create", "overloaded", 0);

    assertThat(r.at("/error/isApiError").asBoolean()).as("an APIError: %s", r).isTrue();
    assertThat(r.at("/error/status").asInt()).as("%s", r).isEqualTo(529);
    assertThat(r.at("/error/type").asText()).isEqualTo("overloaded_error");
    assertThat(r.at("/error/message").asText()).contains("Overloaded");
  }

  @Test
  void anUpstream429WithRetryAfterIsRetriedByTheSdkItself() throws Exception {
    int before = upstream.requests("rate-limited");
    JsonNode r = messages("create", "rate-limited", 2);

    assertThat(upstream.requests("rate-limited") - before).as("requests the upstream got (1 + maxRetries 2)").isEqualTo(3);
    assertThat(r.at("/error/status").asInt()).as("%s", r).isEqualTo(429);
    assertThat(r.at("/error/type").asText()).isEqualTo("rate_limit_error");
  }

  @Test
  void theUpstreamsRequestIdAndRateLimitHeadersReachTheSdk() throws Exception {
    JsonNode r = messages("create", "with-headers", 0);

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("text").asText()).isEqualTo("Hello there");
    assertThat(r.path("stopReason").asText()).isEqualTo("end_turn");
    assertThat(r.at("/headers/request-id").asText()).as("%s", r).isEqualTo("req_011CSHoEeqs5C35K2UUqR7Fy");
    assertThat(r.at("/headers/anthropic-ratelimit-requests-remaining").asText()).isEqualTo("49");
  }

  @Test
  void aCutInsideAnEventRaisesTheSdksApiErrorInBothModes() throws Exception {
    for (String mode : List.of("create", "stream")) {
      JsonNode r = messages(mode, "cut-mid-event", 0);

      assertThat(r.path("ok").asBoolean()).as("%s: %s", mode, r).isFalse();
      assertThat(r.at("/error/isApiError").asBoolean()).as("%s: the gateway's error event, an APIError: %s", mode, r)
          .isTrue();
      assertThat(r.at("/error/type").asText()).as(mode).isEqualTo("api_error");
      assertThat(r.at("/error/message").asText()).as(mode).contains(ErrorKind.UPSTREAM_CUT.message);
    }
  }

  @Test
  void aStreamThatEndsWithoutMessageStopRaisesTheSdksApiErrorInBothModes() throws Exception {
    for (String mode : List.of("create", "stream")) {
      JsonNode r = messages(mode, "no-message-stop", 0);

      assertThat(r.path("ok").asBoolean()).as("%s: %s", mode, r).isFalse();
      // create mode's script checks for message_stop itself, with a plain Error: an APIError is the gateway's
      assertThat(r.at("/error/isApiError").asBoolean()).as("%s: %s", mode, r).isTrue();
      assertThat(r.at("/error/message").asText()).as(mode).contains("without its terminator");
    }
  }

  @Test
  void anUpstreamsOverloadedEventMidStreamReachesTheSdkAsSent() throws Exception {
    JsonNode r = messages("create", "overloaded-mid-stream", 0);

    assertThat(r.path("text").asText()).as("what arrived before the error").isEqualTo("Hello there");
    assertThat(r.at("/error/isApiError").asBoolean()).as("%s", r).isTrue();
    assertThat(r.at("/error/type").asText()).isEqualTo("overloaded_error");
  }

  @Test
  void aThinkingStreamLongerThanTheFirstTokenTimeoutCompletes() throws Exception {
    JsonNode r = messages("stream", "thinking", 0);

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("thinking").asText()).startsWith("step 0. ").endsWith("step 14. ");
    assertThat(r.path("signature").asText()).isEqualTo("EqQBCgIYAhIM");
    assertThat(r.path("text").asText()).isEqualTo("The answer is 42.");
    assertThat(r.path("elapsedMs").asLong()).as("the stream outlived the first-token timeout")
        .isGreaterThan(FIRST_TOKEN_TIMEOUT.toMillis());
  }

  @Test
  void aToolUseStreamLongerThanTheFirstTokenTimeoutCompletes() throws Exception {
    JsonNode r = messages("stream", "tool-use", 0);

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.at("/toolUses/0/name").asText()).isEqualTo("get_weather");
    assertThat(r.at("/toolUses/0/input/city").asText()).isEqualTo("Paris");
    assertThat(r.at("/toolUses/0/input/unit").asText()).isEqualTo("c");
    assertThat(r.path("stopReason").asText()).isEqualTo("tool_use");
  }

  private static void events(ScriptedUpstream.Exchange x, String events) throws IOException {
    for (String event : events.split("(?<=\n\n)")) {
      x.chunk(event);
    }
  }

  private static String delta(int index, String delta) {
    return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":"
        + delta + "}\n\n";
  }

  private static String stop(int index) {
    return "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":" + index + "}\n\n";
  }

  /** One Messages request by the SDK in {@code mode}, with {@code model} picking the upstream's script. */
  static JsonNode messages(String mode, String model, int maxRetries) throws Exception {
    NodeScript.Result r = NodeScript.run("anthropic-messages.mjs",
        Map.of("ANTHROPIC_BASE_URL", "http://127.0.0.1:" + gateway.port(), "ANTHROPIC_API_KEY", "sk-ant-test-client",
            "TOKENPIPE_MAX_RETRIES", Integer.toString(maxRetries)),
        Duration.ofSeconds(60), mode, "{\"model\":\"" + model + "\"}");
    return r.json();
  }
}
