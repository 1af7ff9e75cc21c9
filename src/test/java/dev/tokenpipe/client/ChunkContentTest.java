package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** bench, chat and doctor read events with the shared definition of a generated token (docs/metrics.md). */
class ChunkContentTest {

  @Test
  void toolCallsAreGeneratedOutputWithTheirText() {
    ChunkContent c = ChunkContent.of("message",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\"\"}}]}}]}");
    assertThat(c.isGenerated()).isTrue();
    assertThat(c.hasToolCall()).isTrue();
    assertThat(c.hasContent()).isFalse();
    assertThat(c.toolCall()).isEqualTo("{\"city\"");
  }

  @Test
  void roleOnlyFinishAndUsageChunksAreNot() {
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}").isGenerated()).isFalse();
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}").isGenerated()).isFalse();
    ChunkContent usage = ChunkContent.of("message", "{\"choices\":[],\"usage\":{\"completion_tokens\":7}}");
    assertThat(usage.isGenerated()).isFalse();
    assertThat(usage.completionTokens()).isEqualTo(7);
  }

  @Test
  void anthropicAndResponsesEvents() {
    ChunkContent thinking = ChunkContent.of("content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me\"}}");
    assertThat(thinking.reasoning()).isEqualTo("Let me");
    assertThat(ChunkContent.of("message_delta", "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}")
        .completionTokens()).isEqualTo(15);
    assertThat(ChunkContent.of("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}")
        .error()).isEqualTo("Overloaded");
    assertThat(ChunkContent.of("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}")
        .content()).isEqualTo("Hi");
    assertThat(ChunkContent.of("response.completed",
        "{\"type\":\"response.completed\",\"response\":{\"usage\":{\"output_tokens\":9}}}").completionTokens()).isEqualTo(9);
    assertThat(ChunkContent.of("response.failed",
        "{\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}").error())
        .isEqualTo("boom");
    assertThat(ChunkContent.of("error", "{\"type\":\"error\",\"code\":\"x\",\"message\":\"bad\"}").error()).isEqualTo("bad");
  }

  /** The terminator is recognised by the shared definition, not by string equality: trailing space included. */
  @Test
  void terminatorsAreNotTokens() {
    assertThat(ChunkContent.of("message", "[DONE]").isGenerated()).isFalse();
    assertThat(ChunkContent.of("message", "[DONE] ").isGenerated()).isFalse();
    assertThat(ChunkContent.of("message", "[1, 2]").content()).as("token API text that is not [DONE]").isEqualTo("[1, 2]");
    assertThat(ChunkContent.of("message_stop", "{\"type\":\"message_stop\"}").isGenerated()).isFalse();
    assertThat(ChunkContent.of(null, "{\"message\":{\"content\":\"\"},\"done\":true,\"eval_count\":4}").completionTokens())
        .isEqualTo(4);
  }

  @Test
  void ollamaStringErrorsAndPlainTokens() {
    assertThat(ChunkContent.of(null, "{\"error\":\"model not found\"}").error()).isEqualTo("model not found");
    assertThat(ChunkContent.plain("tok").isGenerated()).isTrue();
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{\"content\":\"cut").error()).startsWith("unparseable");
  }
}
