package dev.tokenpipe.gateway;

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
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The official {@code openai} npm SDK (src/test/node, {@code maxRetries: 2}, a streaming chat completion;
 * Responses streams at the end) through {@code serve} with its defaults, in front of a scripted upstream:
 * what the SDK sees must be what it would see from the upstream directly, only never buffered, and a stream
 * that did not end must raise the SDK's own error.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GatewayOpenAiSdkTest {
  /** Shorter than the reasoning and tool-call streams below (1.5 s of deltas before any content). */
  static final Duration FIRST_TOKEN_TIMEOUT = Duration.ofMillis(700);

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("rate-limited", x -> x.json(429, "Too Many Requests",
            "Retry-After: 0\r\nx-request-id: req-429\r\n",
            "{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"))
        .on("broken", x -> x.json(500, "Internal Server Error", "",
            "{\"error\":{\"message\":\"The model crashed\",\"type\":\"server_error\",\"code\":null}}"))
        .on("with-headers", x -> {
          x.sseHead("x-request-id: req-abc123\r\nx-ratelimit-remaining-requests: 41\r\nopenai-processing-ms: 7\r\n");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(ChatChunks.finish("stop"))
              .event(ChatChunks.DONE).end();
        })
        .on("cut-mid-event", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello"));
          x.chunk("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wor");
          x.pause(100).close(); // FIN without the last chunk: the body is cut inside an event
        })
        .on("reasoning", x -> {
          x.sseHead("");
          x.event(ChatChunks.role());
          for (int i = 0; i < 15; i++) {
            x.pause(100).event(ChatChunks.reasoning("step " + i + ". "));
          }
          x.event(ChatChunks.content("The answer is 42.")).event(ChatChunks.finish("stop")).event(ChatChunks.DONE).end();
        })
        .on("tool-call", x -> {
          x.sseHead("");
          x.event(ChatChunks.role());
          x.event(ChatChunks.toolCall("call_1", "get_weather", ""));
          for (String part : List.of("{\"ci", "ty\":", " \"Pa", "ris\"", ", \"u", "nit\"", ": \"c", "\"}")) {
            x.pause(200).event(ChatChunks.toolCall(null, null, part));
          }
          x.event(ChatChunks.finish("tool_calls")).event(ChatChunks.DONE).end();
        })
        .on("done-then-silent", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(ChatChunks.finish("stop"))
              .event(ChatChunks.DONE);
          x.pause(8_000).end(); // the body stays open after [DONE] (mistral.rs#1874 reports such a server)
        })
        .on("finish-no-done", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(ChatChunks.finish("stop"));
          x.end(); // no [DONE]: llama.cpp before #9459, TGI before #2221, ik_llama.cpp, llama-box
        })
        .on("html-page", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 36\r\n\r\n"
            + "<html><body>Welcome to nginx!</body>"))
        .on("whole-answer", x -> x.json(200, "OK", "", "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":\"stop\"}]}"))
        .on("responses-cut", x -> {
          x.sseHead("");
          responsesUpToText(x);
          x.pause(50).reset(); // a crashed model server
        })
        .on("responses-no-completed", x -> {
          x.sseHead("");
          responsesUpToText(x);
          x.pause(50).end(); // a clean end, but the stream never said response.completed
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
    NodeScript.require("openai");
  }

  @Test
  @Tag("issue9")
  void anUpstream429WithRetryAfterIsRetriedByTheSdkItself() throws Exception {
    JsonNode r = chat("rate-limited");

    assertThat(upstream.requests("rate-limited")).as("requests the upstream got (1 + maxRetries 2)").isEqualTo(3);
    assertThat(r.path("ok").asBoolean()).isFalse();
    assertThat(r.at("/error/isApiError").asBoolean()).as("an APIError: %s", r).isTrue();
    assertThat(r.at("/error/status").asInt()).as("status of %s", r).isEqualTo(429);
    assertThat(r.at("/error/message").asText()).contains("Rate limit reached for requests");
  }

  @Test
  @Tag("issue9")
  void anUpstream500RaisesAnApiErrorWithStatus500() throws Exception {
    JsonNode r = chat("broken");

    assertThat(r.at("/error/isApiError").asBoolean()).as("an APIError: %s", r).isTrue();
    assertThat(r.at("/error/status").asInt()).as("status of %s", r).isEqualTo(500);
    assertThat(r.at("/error/name").asText()).isEqualTo("InternalServerError");
    assertThat(upstream.requests("broken")).as("the SDK retried the 500 twice").isEqualTo(3);
  }

  @Test
  @Tag("issue9")
  void theUpstreamsRequestIdAndRateLimitHeadersReachTheSdk() throws Exception {
    JsonNode r = chat("with-headers");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("content").asText()).isEqualTo("Hello");
    JsonNode headers = r.path("headers");
    assertThat(headers.path("x-request-id").asText()).as("headers %s", headers).isEqualTo("req-abc123");
    assertThat(headers.path("x-ratelimit-remaining-requests").asText()).isEqualTo("41");
    assertThat(headers.path("openai-processing-ms").asText()).isEqualTo("7");
  }

  @Test
  @Tag("issue9")
  void aCutInsideAnEventRaisesTheGatewaysErrorNotAJsonSyntaxError() throws Exception {
    JsonNode r = chat("cut-mid-event");

    assertThat(r.path("ok").asBoolean()).isFalse();
    assertThat(r.path("content").asText()).as("what arrived before the cut").isEqualTo("Hello");
    assertThat(r.at("/error/isSyntaxError").asBoolean()).as("a JSON SyntaxError: %s", r).isFalse();
    assertThat(r.at("/error/isApiError").asBoolean()).as("%s", r).isTrue();
    assertThat(r.at("/error/message").asText()).isEqualTo(ErrorKind.UPSTREAM_CUT.message);
    assertThat(r.at("/error/code").asText()).isEqualTo("upstream_cut");
  }

  @Test
  @Tag("issue9")
  void aReasoningStreamLongerThanTheFirstTokenTimeoutCompletes() throws Exception {
    JsonNode r = chat("reasoning");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("reasoning").asText()).startsWith("step 0. ").endsWith("step 14. ");
    assertThat(r.path("content").asText()).isEqualTo("The answer is 42.");
    assertThat(r.path("finishReason").asText()).isEqualTo("stop");
    assertThat(r.path("elapsedMs").asLong()).as("the stream outlived the first-token timeout")
        .isGreaterThan(FIRST_TOKEN_TIMEOUT.toMillis());
  }

  @Test
  @Tag("issue9")
  void aToolCallStreamLongerThanTheFirstTokenTimeoutCompletes() throws Exception {
    JsonNode r = chat("tool-call");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("content").asText()).isEmpty();
    assertThat(r.at("/toolCalls/0/name").asText()).isEqualTo("get_weather");
    assertThat(r.at("/toolCalls/0/arguments").asText()).isEqualTo("{\"city\": \"Paris\", \"unit\": \"c\"}");
    assertThat(r.path("finishReason").asText()).isEqualTo("tool_calls");
  }

  @Test
  void aStreamAnsweredWithAWholeHtmlOrJsonBodyRaisesAnApiErrorNotAnEmptyCleanEnd() throws Exception {
    // Directly from such an upstream, the SDK's loop ends cleanly with no chunk: it reads any 2xx as an event
    // stream and finds no event. Through the gateway it must raise.
    for (String model : List.of("html-page", "whole-answer")) {
      JsonNode r = chat(model);

      assertThat(r.path("ok").asBoolean()).as("%s: %s", model, r).isFalse();
      assertThat(r.at("/error/isApiError").asBoolean()).as("%s: %s", model, r).isTrue();
      assertThat(r.at("/error/status").asInt()).as("%s", model).isEqualTo(502);
      assertThat(r.at("/error/code").asText()).isEqualTo("upstream_invalid_sse");
      assertThat(r.at("/error/message").asText()).contains(model.equals("html-page") ? "text/html" : "application/json");
    }
  }

  @Test
  void aStreamThatEndsAtItsFinishReasonWithoutDoneCompletesAsItDoesDirect() throws Exception {
    // Servers that send no [DONE] end with the finish_reason chunk and the body's last chunk; the SDK, direct, ends
    // its loop cleanly with the whole answer. Through the gateway that was "ended without its terminator".
    JsonNode r = chat("finish-no-done");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("content").asText()).isEqualTo("Hello");
    assertThat(r.path("finishReason").asText()).isEqualTo("stop");
  }

  @Test
  void theSdksLoopEndsAtDoneThoughTheUpstreamKeepsItsBodyOpen() throws Exception {
    JsonNode r = chat("done-then-silent");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("content").asText()).isEqualTo("Hello");
    // The SDK reads on to the body's end after [DONE]; before, that was the upstream's end 8 s later (or the
    // gateway's idle timeout, 10 s here).
    assertThat(r.path("elapsedMs").asLong()).as("%s", r).isLessThan(4_000);
  }

  @Test
  void aResponsesStreamCutOrEndedWithoutCompletedRaisesTheSdksApiErrorInBothModes() throws Exception {
    for (String model : List.of("responses-cut", "responses-no-completed")) {
      for (String mode : List.of("create", "stream")) {
        NodeScript.Result run = NodeScript.run("openai-responses.mjs",
            Map.of("OPENAI_BASE_URL", "http://127.0.0.1:" + gateway.port() + "/v1", "OPENAI_API_KEY", "sk-test-client"),
            Duration.ofSeconds(60), mode, "{\"model\":\"" + model + "\"}");
        JsonNode r = run.json();

        assertThat(r.path("ok").asBoolean()).as("%s %s: %s", model, mode, r).isFalse();
        assertThat(r.path("text").asText()).as("what arrived before the end: %s", r).isEqualTo("Hello");
        // create mode's script raises the API's error events itself, as a plain Error: an APIError is the SDK's
        assertThat(r.at("/error/isApiError").asBoolean()).as("%s %s: the gateway's error event: %s", model, mode, r)
            .isTrue();
        assertThat(r.at("/error/code").asText()).as("%s %s", model, mode).isEqualTo("upstream_cut");
      }
    }
  }

  /** A Responses stream up to its first text: what the SDK's accumulator needs to take the text in. */
  private static void responsesUpToText(ScriptedUpstream.Exchange x) throws IOException {
    String part = "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\","
        + "\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
        + "\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n";
    for (String event : (GatewayDialectTest.R_OPEN + part + GatewayDialectTest.R_TEXT).split("(?<=\n\n)")) {
      x.chunk(event);
    }
  }

  /** One streaming chat completion by the SDK with {@code model}, which picks the upstream's script. */
  static JsonNode chat(String model) throws Exception {
    NodeScript.Result r = NodeScript.run("openai-chat.mjs",
        Map.of("OPENAI_BASE_URL", "http://127.0.0.1:" + gateway.port() + "/v1", "OPENAI_API_KEY", "sk-test-client",
            "TOKENPIPE_MAX_RETRIES", "2"),
        Duration.ofSeconds(60), "{\"model\":\"" + model + "\"}");
    return r.json();
  }
}
