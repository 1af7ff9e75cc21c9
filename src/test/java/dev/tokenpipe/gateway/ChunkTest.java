package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.openai.Json;
import org.junit.jupiter.api.Test;

/** The gateway's books use the shared definition: any generated output is a token, whatever the dialect. */
class ChunkTest {

  @Test
  void reasoningAndToolCallsAreTokensButOnlyContentIsText() {
    Chunk reasoning = Chunk.classify("message", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}", false);
    assertThat(reasoning.isContent()).isTrue();
    assertThat(reasoning.isReasoning()).isTrue();
    assertThat(reasoning.hasText()).isFalse();
    assertThat(reasoning.content()).isEmpty();

    Chunk tool = Chunk.classify("message",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"get_weather\"}}]}}]}", false);
    assertThat(tool.isContent()).isTrue();
    assertThat(tool.isToolCall()).isTrue();
    assertThat(tool.hasText()).isFalse();

    Chunk role = Chunk.classify("message", "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", false);
    assertThat(role.isContent()).isFalse();
    assertThat(role.done()).isFalse();
    assertThat(role.usageTokens()).isEqualTo(-1);
  }

  @Test
  void anthropicAndResponsesEventsKeepTheSameBooks() {
    Chunk text = Chunk.classify("content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}", false);
    assertThat(text.isContent()).isTrue();
    assertThat(text.content()).isEqualTo("Hi");
    assertThat(Chunk.classify("message_delta", "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}", false)
        .usageTokens()).isEqualTo(15);
    assertThat(Chunk.classify("message_stop", "{\"type\":\"message_stop\"}", false).done()).isTrue();
    assertThat(Chunk.classify("response.output_text.delta",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}", false).content()).isEqualTo("x");
    Chunk failed = Chunk.classify("response.failed", "{\"type\":\"response.failed\",\"response\":{\"status\":\"failed\"}}", false);
    assertThat(failed.done()).isTrue();
    assertThat(failed.error()).startsWith("{\"type\":\"response.failed\"");
  }

  @Test
  void anErrorEventWithTextDataBecomesAnErrorObject() throws Exception {
    Chunk e = Chunk.classify("error", "upstream \"overloaded\"", false);
    assertThat(Json.MAPPER.readTree(e.error()).path("error").path("message").asText()).isEqualTo("upstream \"overloaded\"");
    assertThat(Chunk.classify("message", "{\"choices\":[]}", false).error()).isNull();
  }

  @Test
  void plainTokensAreTokensOnlyForTheTokenApi() {
    assertThat(Chunk.classify("message", "hello", true).content()).isEqualTo("hello");
    assertThat(Chunk.classify("message", "hello", true).hasText()).isTrue();
    assertThat(Chunk.classify("message", "hello", false).isContent()).isFalse();
    assertThat(Chunk.classify("message", "[DONE]", true).isContent()).isFalse();
    assertThat(Chunk.classify("message", "[DONE]", true).done()).isTrue();
    assertThat(Chunk.classify("message", "{not json", false).isContent()).isFalse();
  }
}
