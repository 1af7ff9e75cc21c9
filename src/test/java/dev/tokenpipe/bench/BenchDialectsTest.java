package dev.tokenpipe.bench;

import static dev.tokenpipe.bench.BenchCli.metric;
import static dev.tokenpipe.client.DialectUpstream.SSE;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.client.DialectUpstream;
import dev.tokenpipe.dialect.AnthropicMessages;
import dev.tokenpipe.openai.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench against Anthropic Messages and OpenAI Responses upstreams on real sockets, writing the APIs' documented
 * event sequences with a 150 ms pause between the stream's opening events (message_start, response.created) and
 * the first generated delta: no stream is "truncated", TTFT is taken at the first generated event (not at the
 * opening ones, which arrive with the head), output tokens come from the API's usage; a stream cut before its
 * end event is truncated, {@code response.failed} is an error event. The dialect comes from the URL path or
 * {@code --api}, the request is the dialect's own, and so is the key's header.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BenchDialectsTest {
  static final List<String> TEXT = List.of("Once", " upon", " a", " time", ".");
  static DialectUpstream upstream;

  @TempDir Path dir;

  @BeforeAll
  static void start() throws Exception {
    upstream = new DialectUpstream()
        .on("/v1/messages", SSE, DialectUpstream.anthropic(TEXT, 15))
        .on("/thinking/v1/messages", SSE, DialectUpstream.anthropicThinking(List.of("The user", " wants a story."), TEXT, 21))
        .on("/cut/v1/messages", SSE, DialectUpstream.before(DialectUpstream.anthropic(TEXT, 15), "message_stop"))
        .on("/custom-route", SSE, DialectUpstream.anthropic(TEXT, 15))
        .on("/v1/responses", SSE, DialectUpstream.responses(TEXT, 12, "response.completed"))
        .on("/failed/v1/responses", SSE, DialectUpstream.responsesFailed());
  }

  @AfterAll
  static void stop() throws Exception {
    upstream.close();
  }

  @Test
  void anthropicMessagesStreamsAreCompleteAndTimedAtTheFirstTextDelta() throws Exception {
    int before = upstream.seen.size();
    JsonNode res = bench(0, "--api-key-env", "PATH", upstream.url("/v1/messages"));
    assertThat(res.path("config").path("api").asText()).isEqualTo("anthropic-messages");
    assertComplete(res, 15);
    // The request was Anthropic's, with its key headers and no bearer token.
    List<DialectUpstream.Seen> seen = upstream.seen.subList(before, upstream.seen.size());
    assertThat(seen).isNotEmpty().allSatisfy(s -> {
      assertThat(s.path()).isEqualTo("/v1/messages");
      assertThat(s.headers()).containsEntry("x-api-key", System.getenv("PATH").trim())
          .containsEntry("anthropic-version", AnthropicMessages.VERSION).doesNotContainKey("authorization");
      JsonNode body = Json.MAPPER.readTree(s.body());
      assertThat(body.path("model").asText()).isEqualTo("claude-test");
      assertThat(body.path("stream").asBoolean()).isTrue();
      assertThat(body.path("max_tokens").asInt()).isPositive();
      assertThat(body.path("messages").get(0).path("role").asText()).isEqualTo("user");
    });
  }

  @Test
  void responsesStreamsAreCompleteAndTimedAtTheFirstOutputTextDelta() throws Exception {
    int before = upstream.seen.size();
    JsonNode res = bench(0, "--max-tokens", "40", upstream.url("/v1/responses"));
    assertThat(res.path("config").path("api").asText()).isEqualTo("openai-responses");
    assertComplete(res, 12);
    JsonNode body = Json.MAPPER.readTree(upstream.seen.get(before).body());
    assertThat(body.path("input").asText()).isEqualTo(BenchCommand.DEFAULT_PROMPT);
    assertThat(body.path("max_output_tokens").asInt()).isEqualTo(40);
    assertThat(body.path("stream").asBoolean()).isTrue();
  }

  @Test
  void thinkingIsTheFirstToken() throws Exception {
    JsonNode res = bench(0, upstream.url("/thinking/v1/messages"));
    assertThat(res.path("errors").size()).as(res.path("errors").toString()).isZero();
    assertThat(res.path("totals").path("output_tokens").asLong()).isEqualTo(6 * 21);
    assertThat(res.path("totals").path("content_events").asLong()).isEqualTo(6 * (2 + TEXT.size()));
    // TTFT at the first thinking delta; the text block comes 150 ms later and does not move it.
    assertThat(metric(res, "ttft_reasoning", "count")).isEqualTo(6);
    assertThat(Math.abs(metric(res, "ttft", "p50") - metric(res, "ttft_reasoning", "p50"))).isLessThan(1.0);
    assertThat(metric(res, "ttft", "p50")).isBetween(140.0, 600.0);
  }

  @Test
  void apiFlagOverridesAPathThatNamesNoApi() throws Exception {
    JsonNode res = bench(0, "--api", "anthropic-messages", upstream.url("/custom-route"));
    assertThat(res.path("config").path("api").asText()).isEqualTo("anthropic-messages");
    assertComplete(res, 15);
  }

  @Test
  void anthropicStreamCutBeforeMessageStopIsTruncated() throws Exception {
    JsonNode res = bench(BenchCommand.EXIT_ALL_FAILED, upstream.url("/cut/v1/messages"));
    assertThat(res.path("errors").path("truncated").asLong()).isEqualTo(6);
    assertThat(res.path("totals").path("ok").asLong()).isZero();
  }

  @Test
  void responseFailedIsAnErrorEvent() throws Exception {
    JsonNode res = bench(BenchCommand.EXIT_ALL_FAILED, upstream.url("/failed/v1/responses"));
    assertThat(res.path("errors").path("stream_error").asLong()).isEqualTo(6);
    assertThat(res.path("errors").has("truncated")).isFalse();
    assertThat(res.path("error_samples").toString()).contains("The model failed to generate a response.");
  }

  @Test
  void theSummaryNamesTheApi() {
    BenchCli r = BenchCli.run("bench", "-n", "2", "-c", "1", "--progress", "none", "--model", "m", upstream.url("/v1/responses"));
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).contains("model     m (flag), api openai-responses");
  }

  @Test
  void anUnknownApiIsAUsageError() {
    BenchCli r = BenchCli.run("bench", "--api", "gemini", "-n", "1", upstream.url("/v1/messages"));
    assertThat(r.exitCode()).isEqualTo(64);
    assertThat(r.err()).contains("unknown API 'gemini'").contains("anthropic-messages").contains("openai-responses")
        .contains("raw").doesNotContain("Exception");
  }

  @Test
  void helpListsEveryApi() {
    BenchCli r = BenchCli.run("bench", "--help");
    assertThat(r.out().replaceAll("\\s+", " ")).contains("anthropic-messages, openai-responses, raw or auto")
        .contains("ANTHROPIC_API_KEY");
  }

  /**
   * 6 streams all complete, none truncated; TTFT is the 150 ms pause before the first delta (the head and the
   * opening event arrive at once, TTFB), output tokens from usage.
   */
  private static void assertComplete(JsonNode res, int usagePerStream) {
    System.out.printf("[bench %s] ttfb p50 %.1f ms, ttft p50 %.1f ms, itl p50 %.1f ms, tokens %d (%s), errors %s%n",
        res.path("config").path("api").asText(), metric(res, "ttfb", "p50"), metric(res, "ttft", "p50"), metric(res, "itl", "p50"),
        res.path("totals").path("output_tokens").asLong(), res.path("output_tokens_source").path("primary").asText(),
        res.path("errors"));
    assertThat(res.path("errors").size()).as(res.path("errors").toString()).isZero();
    assertThat(res.path("totals").path("ok").asLong()).isEqualTo(6);
    assertThat(res.path("output_tokens_source").path("primary").asText()).isEqualTo("usage");
    assertThat(res.path("totals").path("output_tokens").asLong()).isEqualTo(6L * usagePerStream);
    assertThat(res.path("totals").path("content_events").asLong()).isEqualTo(6L * TEXT.size());
    assertThat(metric(res, "ttft", "count")).isEqualTo(6);
    assertThat(metric(res, "ttft", "p50")).isBetween(140.0, 600.0);
    assertThat(metric(res, "ttft", "p50") - metric(res, "ttfb", "p50")).as("TTFT is not the opening event").isGreaterThan(100.0);
    assertThat(metric(res, "itl", "count")).isEqualTo(6 * (TEXT.size() - 1));
    assertThat(metric(res, "itl", "p50")).isBetween(15.0, 300.0); // 20 ms apart, on a busy machine
  }

  /** Runs bench -n 6 -c 2 --model claude-test with {@code args} (the URL last) and returns its JSON result. */
  private JsonNode bench(int exitCode, String... args) throws Exception {
    Path json = Files.createTempFile(dir, "r", ".json");
    List<String> all = new ArrayList<>(List.of("bench", "-n", "6", "-c", "2", "--progress", "none", "--model", "claude-test",
        "--json", json.toString()));
    all.addAll(List.of(args));
    BenchCli r = BenchCli.run(all.toArray(String[]::new));
    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(exitCode);
    return BenchCli.json(json);
  }
}
