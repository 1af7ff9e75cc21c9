package dev.tokenpipe.chat;

import static dev.tokenpipe.chat.ChatCommandTest.chat;
import static dev.tokenpipe.client.DialectUpstream.SSE;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.chat.ChatCommandTest.Run;
import dev.tokenpipe.client.DialectUpstream;
import dev.tokenpipe.openai.Json;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * chat prints the text of Anthropic Messages and OpenAI Responses streams as it arrives (thinking counts as
 * tokens but is not printed), takes the token count from the API's usage, and fails with exit 3 on a stream cut
 * before its end event or ended by {@code response.failed}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChatDialectsTest {
  static final List<String> TEXT = List.of("Hello", ",", " world", "!");
  static DialectUpstream upstream;

  @BeforeAll
  static void start() throws Exception {
    upstream = new DialectUpstream()
        .on("/v1/messages", SSE, DialectUpstream.anthropicThinking(List.of("Greet", " them."), TEXT, 17))
        .on("/cut/v1/messages", SSE, DialectUpstream.before(DialectUpstream.anthropic(TEXT, 15), "message_stop"))
        .on("/v1/responses", SSE, DialectUpstream.responses(TEXT, 12, "response.completed"))
        .on("/failed/v1/responses", SSE, DialectUpstream.responsesFailed())
        .on("/overloaded/v1/messages", SSE, DialectUpstream.anthropicOverloaded())
        .on("/api/generate", DialectUpstream.NDJSON, List.of(
            "{\"model\":\"llama3\",\"response\":\"Hello\",\"done\":false}\n",
            "{\"model\":\"llama3\",\"response\":\"!\",\"done\":false}\n",
            "{\"model\":\"llama3\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"eval_count\":2}\n"));
  }

  @AfterAll
  static void stop() throws Exception {
    upstream.close();
  }

  @Test
  void anthropicTextIsPrintedAndThinkingCountsAsTokens() throws Exception {
    int before = upstream.seen.size();
    Run r = chat("--url", upstream.url("/v1/messages"), "--model", "claude-test", "Say", "hello");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Hello, world!\n");
    assertThat(r.err()).contains("17 tokens (usage) in 6 events");
    // TTFT is the first thinking delta, 150 ms after message_start.
    double ttft = Double.parseDouble(r.err().replaceAll("(?s).*TTFT ([0-9.]+) ms.*", "$1"));
    assertThat(ttft).isBetween(140.0, 1000.0);
    JsonNode body = Json.MAPPER.readTree(upstream.seen.get(before).body());
    assertThat(body.path("messages").get(0).path("content").asText()).isEqualTo("Say hello");
    assertThat(upstream.seen.get(before).headers()).containsKey("anthropic-version");
  }

  @Test
  void responsesTextIsPrinted() {
    Run r = chat("--url", upstream.url("/v1/responses"), "--model", "gpt-test", "--max-tokens", "50", "hi");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Hello, world!\n");
    assertThat(r.err()).contains("12 tokens (usage) in 4 events");
    assertThat(upstream.seen.getLast().body()).as("the Responses API's own field").contains("\"max_output_tokens\":50")
        .doesNotContain("max_tokens");
  }

  @Test
  void ollamasGenerateEndpointIsAskedWithAPrompt() throws Exception {
    Run r = chat("--url", upstream.url("/api/generate"), "--model", "llama3", "Say", "hello");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Hello!\n");
    JsonNode body = Json.MAPPER.readTree(upstream.seen.getLast().body());
    assertThat(body.path("prompt").asText()).as("%s", body).isEqualTo("Say hello");
    assertThat(body.has("messages")).as("%s", body).isFalse();
  }

  @Test
  void rawShowsTheNamedEvents() {
    Run r = chat("--url", upstream.url("/v1/responses"), "--model", "gpt-test", "--raw", "hi");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("event: response.output_text.delta\ndata: {").contains("event: response.completed");
  }

  @Test
  void aCutStreamAndAFailedResponseAreExitThree() {
    Run cut = chat("--url", upstream.url("/cut/v1/messages"), "--model", "claude-test", "hi");
    assertThat(cut.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(cut.err()).contains("stream ended without its end event");
    Run failed = chat("--url", upstream.url("/failed/v1/responses"), "--model", "gpt-test", "hi");
    assertThat(failed.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(failed.err()).contains("The model failed to generate a response.");
    assertThat(failed.err().strip().lines().count()).isEqualTo(1);
  }

  @Test
  void anInBandErrorEventIsNamedOnce() {
    Run r = chat("--url", upstream.url("/overloaded/v1/messages"), "--model", "claude-test", "hi");
    assertThat(r.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).as(r.err()).contains("Overloaded").containsOnlyOnce("error event");
    Run failed = chat("--url", upstream.url("/failed/v1/responses"), "--model", "gpt-test", "hi");
    assertThat(failed.err()).as(failed.err()).containsOnlyOnce("error event");
  }

  @Test
  void apiOverridesThePathAndABadValueIsAUsageError() {
    Run r = chat("--url", upstream.url("/v1/messages"), "--api", "openai-responses", "--model", "gpt-test", "hi");
    assertThat(upstream.seen.getLast().body()).contains("\"input\":\"hi\"");
    assertThat(r.code()).as("reading a stream does not depend on --api").isZero();
    Run bad = chat("--url", upstream.url("/v1/messages"), "--api", "nope", "hi");
    assertThat(bad.code()).isEqualTo(64);
    assertThat(bad.err()).contains("unknown API 'nope'");
  }
}
