package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.testing.NodeScript;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The official {@code @anthropic-ai/sdk} (Messages) and {@code openai} (Responses) npm SDKs of src/test/node
 * stream through {@code serve} in front of the sim, with the SDKs' own helpers ({@code messages.stream},
 * {@code responses.stream}) and raw {@code create({stream: true})}: text, thinking/reasoning and tool use
 * arrive whole; an upstream error before content is the SDK's own error type; a cut or an in-band error
 * mid-stream makes the SDK raise, never complete silently. The sim's behaviour is chosen per request with
 * the {@code tokenpipe_sim} body field, which the SDKs pass through as an extra parameter.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SimSdkCompatibilityTest {
  static SimServer sim;
  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + sim.port())));
  }

  @AfterAll
  static void stop() {
    if (gateway != null) {
      gateway.close();
    }
    if (sim != null) {
      sim.close();
    }
  }

  // ---------------------------------------------------------------------------- Anthropic Messages

  @Test
  void anthropicMessagesStreamHelperGetsTheWholeText() throws Exception {
    JsonNode r = anthropic("stream", "{\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=12\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("text").asText()).isNotBlank();
    assertThat(r.path("stopReason").asText()).isEqualTo("end_turn");
    assertThat(r.at("/usage/output_tokens").asInt()).isEqualTo(12);
    assertThat(r.at("/usage/input_tokens").asInt()).isPositive();
    assertThat(r.path("events").get(0).asText()).isEqualTo("message_start");
    assertThat(r.path("events").get(r.path("events").size() - 1).asText()).isEqualTo("message_stop");
  }

  @Test
  void anthropicThinkingAndToolUseThroughTheStreamHelper() throws Exception {
    JsonNode r = anthropic("stream", "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},"
        + "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
        + "\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=12 reasoning=4 tool_call=4\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("thinking").asText()).isNotBlank();
    assertThat(r.path("signature").asText()).isNotBlank();
    assertThat(r.path("text").asText()).isNotBlank();
    assertThat(r.at("/toolUses/0/name").asText()).isEqualTo("get_weather");
    assertThat(r.at("/toolUses/0/input/input").asText()).as("the SDK parsed the streamed input JSON").isNotBlank();
    assertThat(r.path("stopReason").asText()).isEqualTo("tool_use");
  }

  @Test
  void anthropicRawCreateStreamWithThinkingAndAForcedTool() throws Exception {
    JsonNode r = anthropic("create", "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},"
        + "\"tools\":[{\"name\":\"lookup\",\"input_schema\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"any\"},"
        + "\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=10\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("status").asInt()).isEqualTo(200);
    assertThat(r.path("thinking").asText()).isNotBlank();
    assertThat(r.path("text").asText()).isEmpty();
    assertThat(r.at("/toolUses/0/name").asText()).isEqualTo("lookup");
    assertThat(r.at("/usage/output_tokens").asInt()).isEqualTo(10);
  }

  @Test
  void anthropicUpstreamErrorsBeforeContentAreTheSdksOwnErrorTypes() throws Exception {
    JsonNode limited = anthropic("stream", "{\"tokenpipe_sim\":\"error_rate=1 error_status=429\"}");
    assertThat(limited.at("/error/isApiError").asBoolean()).as("%s", limited).isTrue();
    assertThat(limited.at("/error/name").asText()).isEqualTo("RateLimitError");
    assertThat(limited.at("/error/status").asInt()).isEqualTo(429);
    assertThat(limited.at("/error/type").asText()).isEqualTo("rate_limit_error");

    JsonNode broken = anthropic("create", "{\"tokenpipe_sim\":\"error_rate=1 error_status=500\"}");
    assertThat(broken.at("/error/isApiError").asBoolean()).as("%s", broken).isTrue();
    assertThat(broken.at("/error/name").asText()).isEqualTo("InternalServerError");
    assertThat(broken.at("/error/status").asInt()).isEqualTo(500);
  }

  @Test
  void anthropicCutMidStreamRaisesInTheSdk() throws Exception {
    for (String mode : List.of("stream", "create")) {
      JsonNode r = anthropic(mode, "{\"tokenpipe_sim\":\"ttft=20ms itl=5ms tokens=20 drop_after=4\"}");

      assertThat(r.path("ok").asBoolean()).as("a cut is not a complete message (%s): %s", mode, r).isFalse();
      assertThat(r.at("/error/isApiError").asBoolean()).as("the gateway's in-band error (%s): %s", mode, r).isTrue();
      assertThat(r.at("/error/type").asText()).as("Anthropic's error shape: %s", r).isEqualTo("api_error");
      assertThat(r.at("/error/message").asText()).contains("closed the stream before it ended");
    }
  }

  @Test
  void anthropicInBandErrorRaisesTheSdksApiError() throws Exception {
    JsonNode r = anthropic("create", "{\"tokenpipe_sim\":\"ttft=20ms itl=5ms tokens=20 error_after=3\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isFalse();
    assertThat(r.path("text").asText()).as("what came before the error").isNotBlank();
    assertThat(r.at("/error/isApiError").asBoolean()).as("%s", r).isTrue();
    assertThat(r.at("/error/type").asText()).isEqualTo("api_error");
    assertThat(r.at("/error/message").asText()).contains("Injected fault");
  }

  // ----------------------------------------------------------------------------- OpenAI Responses

  @Test
  void responsesStreamHelperGetsTheWholeText() throws Exception {
    JsonNode r = responses("stream", "{\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=12\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("text").asText()).isNotBlank();
    assertThat(r.path("responseStatus").asText()).isEqualTo("completed");
    assertThat(r.at("/usage/output_tokens").asInt()).isEqualTo(12);
    assertThat(r.path("outputTypes")).extracting(JsonNode::asText).containsExactly("message");
  }

  @Test
  void responsesReasoningAndFunctionCallThroughTheStreamHelper() throws Exception {
    JsonNode r = responses("stream", "{\"reasoning\":{\"effort\":\"low\",\"summary\":\"auto\"},"
        + "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}],"
        + "\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=12 reasoning=4 tool_call=4\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("reasoning").asText()).isNotBlank();
    assertThat(r.path("text").asText()).isNotBlank();
    assertThat(r.path("outputTypes")).extracting(JsonNode::asText).containsExactly("reasoning", "message", "function_call");
    assertThat(r.at("/functionCalls/0/name").asText()).isEqualTo("get_weather");
    assertThat(dev.tokenpipe.openai.Json.MAPPER.readTree(r.at("/functionCalls/0/arguments").asText()).get("input").asText())
        .isNotBlank();
    assertThat(r.at("/usage/output_tokens_details/reasoning_tokens").asInt()).isEqualTo(4);
  }

  @Test
  void responsesRawCreateStream() throws Exception {
    JsonNode r = responses("create", "{\"tool_choice\":\"required\",\"reasoning\":{\"effort\":\"medium\"},"
        + "\"tools\":[{\"type\":\"function\",\"name\":\"lookup\",\"parameters\":{\"type\":\"object\"}}],"
        + "\"tokenpipe_sim\":\"ttft=20ms itl=2ms tokens=10\"}");

    assertThat(r.path("ok").asBoolean()).as("%s", r).isTrue();
    assertThat(r.path("status").asInt()).isEqualTo(200);
    assertThat(r.path("reasoning").asText()).isNotBlank();
    assertThat(r.path("text").asText()).isEmpty();
    assertThat(r.at("/functionCalls/0/name").asText()).isEqualTo("lookup");
    assertThat(r.path("events").get(r.path("events").size() - 1).asText()).isEqualTo("response.completed");
  }

  @Test
  void responsesUpstreamErrorsBeforeContentAreTheSdksOwnErrorTypes() throws Exception {
    JsonNode limited = responses("stream", "{\"tokenpipe_sim\":\"error_rate=1 error_status=429\"}");
    assertThat(limited.at("/error/isApiError").asBoolean()).as("%s", limited).isTrue();
    assertThat(limited.at("/error/name").asText()).isEqualTo("RateLimitError");
    assertThat(limited.at("/error/status").asInt()).isEqualTo(429);

    JsonNode broken = responses("create", "{\"tokenpipe_sim\":\"error_rate=1 error_status=503\"}");
    assertThat(broken.at("/error/isApiError").asBoolean()).as("%s", broken).isTrue();
    assertThat(broken.at("/error/name").asText()).isEqualTo("InternalServerError");
    assertThat(broken.at("/error/status").asInt()).isEqualTo(503);
  }

  @Test
  void responsesCutMidStreamRaisesInTheSdk() throws Exception {
    for (String mode : List.of("stream", "create")) {
      JsonNode r = responses(mode, "{\"tokenpipe_sim\":\"ttft=20ms itl=5ms tokens=20 drop_after=4\"}");

      assertThat(r.path("ok").asBoolean()).as("a cut is not a complete response (%s): %s", mode, r).isFalse();
      // The Responses error event carries an "error" object too: the SDK itself raises its APIError, in both modes.
      assertThat(r.at("/error/code").asText()).as("%s", r).isEqualTo("upstream_cut");
      assertThat(r.at("/error/isApiError").asBoolean()).as("the SDK's own error type (%s): %s", mode, r).isTrue();
      assertThat(r.path("responseStatus").isNull()).as("never completed: %s", r).isTrue();
    }
  }

  @Test
  void responsesInBandErrorRaises() throws Exception {
    for (String mode : List.of("stream", "create")) {
      JsonNode r = responses(mode, "{\"tokenpipe_sim\":\"ttft=20ms itl=5ms tokens=20 error_after=3\"}");

      assertThat(r.path("ok").asBoolean()).as("%s", r).isFalse();
      assertThat(r.path("text").asText()).as("what came before the error (%s)", mode).isNotBlank();
      assertThat(r.at("/error/code").asText()).as("%s", r).isEqualTo("injected_fault");
      assertThat(r.at("/error/isApiError").asBoolean()).as("the SDK's own error type (%s): %s", mode, r).isTrue();
      assertThat(r.path("responseStatus").isNull()).as("never completed: %s", r).isTrue();
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  static JsonNode anthropic(String mode, String params) throws Exception {
    NodeScript.require("@anthropic-ai/sdk");
    return NodeScript.run("anthropic-messages.mjs",
        Map.of("ANTHROPIC_BASE_URL", "http://127.0.0.1:" + gateway.port(), "ANTHROPIC_API_KEY", "sk-ant-test-client"),
        Duration.ofSeconds(60), mode, params).json();
  }

  static JsonNode responses(String mode, String params) throws Exception {
    NodeScript.require("openai");
    return NodeScript.run("openai-responses.mjs",
        Map.of("OPENAI_BASE_URL", "http://127.0.0.1:" + gateway.port() + "/v1", "OPENAI_API_KEY", "sk-test-client"),
        Duration.ofSeconds(60), mode, params).json();
  }
}
