package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.dialect.AnthropicMessages;
import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.Json;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code --api} parsing and auto detection, and the request each API builds: body, key headers, key variable. */
class ClientApiTest {

  @Test
  void autoPicksTheDialectByTheUrlPath() {
    assertThat(ClientApi.parse("auto", "/v1/messages").dialect()).isSameAs(Dialects.ANTHROPIC_MESSAGES);
    assertThat(ClientApi.parse(null, "/v1/responses").dialect()).isSameAs(Dialects.OPENAI_RESPONSES);
    assertThat(ClientApi.parse(" ", "/openai/v1/chat/completions").dialect()).isSameAs(Dialects.OPENAI_CHAT);
    assertThat(ClientApi.parse("AUTO", "/v1/completions").dialect()).isSameAs(Dialects.OPENAI_COMPLETIONS);
    assertThat(ClientApi.parse("auto", "/v1/stream").dialect()).isSameAs(Dialects.TOKENS);
    assertThat(ClientApi.parse("auto", "/api/chat").dialect()).isSameAs(Dialects.OLLAMA);
    assertThat(ClientApi.parse("auto", "/anthropic/v1/messages").dialect()).isSameAs(Dialects.ANTHROPIC_MESSAGES);
    // A path that names no API: OpenAI chat, the most common one behind a base URL.
    ClientApi unknown = ClientApi.parse("auto", "/generate");
    assertThat(unknown.dialect()).isSameAs(Dialects.OPENAI_CHAT);
    assertThat(unknown.raw()).isFalse();
    assertThat(unknown.flag()).isEqualTo("openai-chat");
  }

  @Test
  void everyDialectFlagParsesAndOverridesThePath() {
    for (Dialect d : Dialects.ALL) {
      ClientApi api = ClientApi.parse(d.flag(), "/v1/chat/completions");
      assertThat(api.dialect()).isSameAs(d);
      assertThat(api.flag()).isEqualTo(d.flag());
      assertThat(api.expectsStream()).isTrue();
    }
    assertThat(ClientApi.parse("Anthropic_Messages", "/x").dialect()).isSameAs(Dialects.ANTHROPIC_MESSAGES);
  }

  /** Ollama's two generation endpoints take different bodies (github.com/ollama/ollama/blob/main/docs/api.md). */
  @Test
  void ollamasGenerateEndpointIsAskedWithAPromptAndItsChatEndpointWithMessages() throws Exception {
    for (String api : new String[] {"auto", "ollama"}) {
      ClientApi generate = ClientApi.parse(api, "/api/generate");
      assertThat(generate.flag()).as(api).isEqualTo("ollama");
      JsonNode body = Json.MAPPER.readTree(generate.body("llama3", "hi", 5));
      assertThat(body.path("model").asText()).as(api).isEqualTo("llama3");
      assertThat(body.path("prompt").asText()).as(api).isEqualTo("hi");
      assertThat(body.has("messages")).as("%s: %s", api, body).isFalse();
      assertThat(body.path("stream").asBoolean()).as(api).isTrue();
      assertThat(body.path("options").path("num_predict").asInt()).as(api).isEqualTo(5);
      JsonNode chat = Json.MAPPER.readTree(ClientApi.parse(api, "/api/chat").body("llama3", "hi", 0));
      assertThat(chat.path("messages").get(0).path("content").asText()).as(api).isEqualTo("hi");
      assertThat(chat.has("prompt")).as(api).isFalse();
    }
  }

  @Test
  void rawKeepsThePathsDialectForItsKeyButSendsTheBodyAsGiven() {
    ClientApi raw = ClientApi.parse("raw", "/v1/messages");
    assertThat(raw.raw()).isTrue();
    assertThat(raw.flag()).isEqualTo("raw");
    assertThat(raw.expectsStream()).isFalse();
    assertThat(raw.namesModel()).isFalse();
    assertThat(raw.dialect()).isSameAs(Dialects.ANTHROPIC_MESSAGES);
    assertThat(new String(raw.body("m", "{\"x\":1}", 5))).isEqualTo("{\"x\":1}");
    assertThat(raw.keyEnv(null)).isEqualTo("ANTHROPIC_API_KEY");
  }

  @Test
  void anUnknownValueNamesEveryValidOne() {
    assertThatThrownBy(() -> ClientApi.parse("gemini", "/v1/chat/completions"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown API 'gemini' (use " + ClientApi.VALUES + ")");
  }

  @Test
  void theHelpListIsEveryDialectPlusRawAndAuto() {
    List<String> expected = new ArrayList<>(Dialects.ALL.stream().map(Dialect::flag).toList());
    expected.add("raw");
    expected.add("auto");
    assertThat(ClientApi.VALUES.replace(" or ", ", ").split(", ")).containsExactlyElementsOf(expected);
  }

  @Test
  void bodiesAreTheDialectsStreamingRequests() throws Exception {
    JsonNode anthropic = Json.MAPPER.readTree(ClientApi.parse("auto", "/v1/messages").body("claude", "hi", 0));
    assertThat(anthropic.path("stream").asBoolean()).isTrue();
    assertThat(anthropic.path("max_tokens").asInt()).as("Anthropic requires max_tokens").isPositive();
    assertThat(anthropic.path("messages").get(0).path("content").asText()).isEqualTo("hi");
    JsonNode responses = Json.MAPPER.readTree(ClientApi.parse("auto", "/v1/responses").body("gpt", "hi", 7));
    assertThat(responses.path("input").asText()).isEqualTo("hi");
    assertThat(responses.path("max_output_tokens").asInt()).isEqualTo(7);
    assertThat(responses.path("stream").asBoolean()).isTrue();
    JsonNode chat = Json.MAPPER.readTree(ClientApi.parse("auto", "/v1/chat/completions").body("m", "hi", 0));
    assertThat(chat.path("stream_options").path("include_usage").asBoolean()).isTrue();
    assertThat(chat.has("max_tokens")).isFalse();
  }

  @Test
  void theKeyVariableDefaultsByDialect() {
    assertThat(ClientApi.parse("auto", "/v1/messages").keyEnv(null)).isEqualTo("ANTHROPIC_API_KEY");
    assertThat(ClientApi.parse("auto", "/v1/responses").keyEnv(null)).isEqualTo("OPENAI_API_KEY");
    assertThat(ClientApi.parse("auto", "/v1/chat/completions").keyEnv("")).isEqualTo("OPENAI_API_KEY");
    assertThat(ClientApi.parse("auto", "/v1/messages").keyEnv("MY_KEY")).isEqualTo("MY_KEY");
  }

  /** PATH stands in for a key variable: it is set wherever the tests run. */
  @Test
  void theKeyIsSentInTheDialectsHeaders() {
    String key = System.getenv("PATH").trim();
    List<Map.Entry<String, String>> anthropic = ClientApi.parse("auto", "/v1/messages").withApiKey(List.of(), "PATH");
    assertThat(anthropic).containsExactly(Map.entry("x-api-key", key), Map.entry("anthropic-version", AnthropicMessages.VERSION));
    List<Map.Entry<String, String>> openai = ClientApi.parse("auto", "/v1/responses").withApiKey(List.of(), "PATH");
    assertThat(openai).containsExactly(Map.entry("Authorization", "Bearer " + key));
  }

  @Test
  void headersGivenWithDashHWin() {
    List<Map.Entry<String, String>> given = List.of(Map.entry("X-Api-Key", "sk-flag"), Map.entry("Anthropic-Version", "2024-01-01"));
    assertThat(ClientApi.parse("auto", "/v1/messages").withApiKey(given, "PATH")).containsExactlyElementsOf(given);
    // A proxy that wants a bearer token in front of Anthropic: no x-api-key is added, the version still is.
    List<Map.Entry<String, String>> bearer = List.of(Map.entry("Authorization", "Bearer sk-proxy"));
    assertThat(ClientApi.parse("auto", "/v1/messages").withApiKey(bearer, "PATH"))
        .containsExactly(Map.entry("Authorization", "Bearer sk-proxy"), Map.entry("anthropic-version", AnthropicMessages.VERSION));
    List<Map.Entry<String, String>> auth = List.of(Map.entry("authorization", "Bearer sk-flag"));
    assertThat(ClientApi.parse("auto", "/v1/chat/completions").withApiKey(auth, "PATH")).containsExactlyElementsOf(auth);
  }

  @Test
  void withoutAKeyOnlyTheRequiredVersionHeaderIsSent() {
    String unset = "TOKENPIPE_TEST_UNSET_KEY_VARIABLE";
    assertThat(System.getenv(unset)).isNull();
    assertThat(ClientApi.parse("auto", "/v1/messages").withApiKey(List.of(), unset))
        .containsExactly(Map.entry("anthropic-version", AnthropicMessages.VERSION));
    assertThat(ClientApi.parse("auto", "/v1/chat/completions").withApiKey(List.of(), unset)).isEmpty();
  }
}
