package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.openai.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A prompts file becomes each dialect's own streaming requests: ShareGPT and JSONL, prompts and conversations. */
class PromptsFileDialectsTest {
  @TempDir Path dir;

  private List<JsonNode> read(String file, String api) throws Exception {
    Path p = Files.writeString(dir.resolve("p"), file);
    return PromptsFile.read(p, ClientApi.parse(api, "/"), "m", 0).stream().map(b -> {
      try {
        return Json.MAPPER.readTree(b);
      } catch (java.io.IOException e) {
        throw new AssertionError(e);
      }
    }).toList();
  }

  @Test
  void shareGptPromptsWorkForEveryDialect() throws Exception {
    String share = "[{\"conversations\":[{\"from\":\"human\",\"value\":\"Tell a joke\"},{\"from\":\"gpt\",\"value\":\"Why did the"
        + " chicken cross the road?\"}]}]";
    JsonNode anthropic = read(share, "anthropic-messages").getFirst();
    assertThat(anthropic.path("messages").get(0).path("content").asText()).isEqualTo("Tell a joke");
    assertThat(anthropic.path("max_tokens").asInt()).isBetween(5, 15);
    JsonNode responses = read(share, "openai-responses").getFirst();
    assertThat(responses.path("input").asText()).isEqualTo("Tell a joke");
    assertThat(responses.path("max_output_tokens").asInt()).isEqualTo(anthropic.path("max_tokens").asInt());
    JsonNode ollama = read(share, "ollama").getFirst();
    assertThat(ollama.path("options").path("num_predict").asInt()).isEqualTo(anthropic.path("max_tokens").asInt());
    JsonNode chat = read(share, "openai-chat").getFirst();
    assertThat(chat.path("max_tokens").asInt()).isEqualTo(anthropic.path("max_tokens").asInt());
  }

  @Test
  void conversationsGoWhereEachApiTakesThem() throws Exception {
    String line = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
        + "\"max_tokens\":9}\n";
    JsonNode anthropic = read(line, "anthropic-messages").getFirst();
    assertThat(anthropic.path("system").asText()).as("Anthropic takes no system role in messages").isEqualTo("Be brief.");
    assertThat(anthropic.path("messages")).hasSize(1);
    assertThat(anthropic.path("messages").get(0).path("role").asText()).isEqualTo("user");
    assertThat(anthropic.path("max_tokens").asInt()).isEqualTo(9);
    assertThat(anthropic.path("stream").asBoolean()).isTrue();
    JsonNode responses = read(line, "openai-responses").getFirst();
    assertThat(responses.path("input")).hasSize(2);
    assertThat(responses.has("messages")).isFalse();
    assertThat(responses.path("max_output_tokens").asInt()).isEqualTo(9);
    JsonNode chat = read(line, "openai-chat").getFirst();
    assertThat(chat.path("messages")).hasSize(2);
    assertThatThrownBy(() -> read(line, "openai-completions")).hasMessageContaining("expected a JSON string");
  }
}
