package dev.tokenpipe.dialect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.Json;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DialectsTest {
  private static final ApiError CUT = new ApiError(HttpResponseStatus.BAD_GATEWAY,
      "The upstream closed the stream before it ended.", "server_error", null, "upstream_cut");

  @Test
  void pathsNameTheirDialectWhateverTheBase() {
    assertThat(Dialects.forPath("/v1/chat/completions")).isSameAs(Dialects.OPENAI_CHAT);
    assertThat(Dialects.forPath("/openai/v1/completions")).isSameAs(Dialects.OPENAI_COMPLETIONS);
    assertThat(Dialects.forPath("/v1/stream")).isSameAs(Dialects.TOKENS);
    assertThat(Dialects.forPath("/api/generate")).isSameAs(Dialects.OLLAMA);
    assertThat(Dialects.forPath("/anthropic/v1/messages")).isSameAs(Dialects.ANTHROPIC_MESSAGES);
    assertThat(Dialects.forPath("/v1/responses")).isSameAs(Dialects.OPENAI_RESPONSES);
    assertThat(Dialects.forPath("/v1/models")).isNull();
    assertThat(Dialects.forPathOrChat("/v1/models")).isSameAs(Dialects.OPENAI_CHAT);
  }

  @Test
  void flagsRoundTripAndUnknownOnesNameTheValidOnes() {
    for (Dialect d : Dialects.ALL) {
      assertThat(Dialects.parse(d.flag().toUpperCase().replace('-', '_'))).isSameAs(d);
    }
    assertThatThrownBy(() -> Dialects.parse("gemini")).hasMessageContaining("anthropic-messages")
        .hasMessageContaining("openai-responses");
  }

  @Test
  void streamRequestsAskForAStreamAndForUsage() throws Exception {
    JsonNode chat = Json.MAPPER.readTree(Dialects.OPENAI_CHAT.streamRequest("m", "hi", 7));
    assertThat(chat.path("stream").asBoolean()).isTrue();
    assertThat(chat.path("stream_options").path("include_usage").asBoolean()).isTrue();
    JsonNode anthropic = Json.MAPPER.readTree(Dialects.ANTHROPIC_MESSAGES.streamRequest("m", "hi", 0));
    assertThat(anthropic.path("max_tokens").asInt()).as("required by the API").isPositive();
    assertThat(anthropic.path("messages").get(0).path("content").asText()).isEqualTo("hi");
    JsonNode responses = Json.MAPPER.readTree(Dialects.OPENAI_RESPONSES.streamRequest("m", "hi", 9));
    assertThat(responses.path("input").asText()).isEqualTo("hi");
    assertThat(responses.path("max_output_tokens").asInt()).isEqualTo(9);
    JsonNode ollama = Json.MAPPER.readTree(Dialects.OLLAMA.streamRequest("m", "hi", 5));
    assertThat(ollama.path("options").path("num_predict").asInt()).isEqualTo(5);
  }

  @Test
  void anthropicSendsItsKeyAsXApiKeyWithAVersion() {
    assertThat(Dialects.ANTHROPIC_MESSAGES.authHeaders("k"))
        .containsExactly(Map.entry("x-api-key", "k"), Map.entry("anthropic-version", AnthropicMessages.VERSION));
    assertThat(Dialects.OPENAI_RESPONSES.authHeaders("k")).containsExactly(Map.entry("Authorization", "Bearer k"));
  }

  @Test
  void errorsAreInEachApisOwnShape() throws Exception {
    JsonNode openai = Json.MAPPER.readTree(Dialects.OPENAI_CHAT.errorBody(CUT));
    assertThat(openai.path("error").path("code").asText()).isEqualTo("upstream_cut");
    assertThat(Dialects.OPENAI_CHAT.isErrorBody(openai)).isTrue();

    JsonNode anthropic = Json.MAPPER.readTree(Dialects.ANTHROPIC_MESSAGES.errorBody(CUT));
    assertThat(anthropic.path("type").asText()).isEqualTo("error");
    assertThat(anthropic.path("error").path("type").asText()).isEqualTo("api_error");
    assertThat(Dialects.ANTHROPIC_MESSAGES.isErrorBody(anthropic)).isTrue();
    assertThat(Dialects.ANTHROPIC_MESSAGES.isErrorBody(openai)).isFalse();
    assertThat(Dialects.ANTHROPIC_MESSAGES.inBandError(CUT)).startsWith("event: error\ndata: {\"type\":\"error\"")
        .endsWith("\n\n");
    assertThat(Dialects.ANTHROPIC_MESSAGES.errorType(529)).isEqualTo("overloaded_error");
    assertThat(Dialects.ANTHROPIC_MESSAGES.errorType(401)).isEqualTo("authentication_error");

    String responses = Dialects.OPENAI_RESPONSES.inBandError(CUT);
    assertThat(responses).startsWith("event: error\ndata: ").endsWith("\n\n");
    JsonNode r = Json.MAPPER.readTree(responses.substring(responses.indexOf('{')));
    assertThat(r.path("type").asText()).isEqualTo("error");
    assertThat(r.path("code").asText()).isEqualTo("upstream_cut");

    assertThat(Dialects.OLLAMA.inBandError(CUT)).isEqualTo("{\"error\":\"The upstream closed the stream before it ended.\"}\n");
    assertThat(Dialects.OLLAMA.framing()).isEqualTo(Framing.NDJSON);
  }

  @Test
  void everyInBandErrorIsClassifiedAsAnErrorByTheSharedDefinition() {
    for (Dialect d : Dialects.ALL) {
      String event = d.inBandError(CUT);
      long kind;
      if (d.framing() == Framing.SSE) {
        kind = EventClassifier.classify("error", event.substring(event.indexOf("data: ") + 6).strip());
      } else {
        kind = EventClassifier.classify(null, event.strip());
      }
      assertThat(EventKind.has(kind, EventKind.ERROR)).as(d.flag()).isTrue();
    }
  }
}
