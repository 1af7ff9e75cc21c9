package dev.tokenpipe.doctor;

import static dev.tokenpipe.client.DialectUpstream.SSE;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.client.DialectUpstream;
import dev.tokenpipe.openai.Json;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * doctor probes Anthropic Messages and OpenAI Responses endpoints: its real streaming requests are the
 * dialect's own (body and key headers), the streams are read to their end events, and a verdict is reached on
 * an upstream that writes and flushes every event on its own (clean), not an "unknown API" or "truncated" failure.
 * An upstream without tokenpipe's probe route is measured by the real requests alone.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DoctorDialectsTest {
  static DialectUpstream upstream;

  @BeforeAll
  static void start() throws Exception {
    List<String> words = new ArrayList<>();
    for (int i = 1; i <= 30; i++) {
      words.add(i + "\n");
    }
    upstream = new DialectUpstream()
        .on("/v1/messages", SSE, DialectUpstream.anthropic(words, 60))
        .on("/v1/responses", SSE, DialectUpstream.responses(words, 60, "response.completed"))
        .on("/failed/v1/responses", SSE, DialectUpstream.responsesFailed());
  }

  @AfterAll
  static void stop() throws Exception {
    upstream.close();
  }

  @Test
  void anthropicMessagesEndpointIsCleanAndAskedInItsOwnShape() throws Exception {
    int before = upstream.seen.size();
    DoctorRun run = DoctorRun.run("--model", "claude-test", "--api-key-env", "PATH", upstream.url("/v1/messages"));
    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(run.out()).contains("anthropic-messages");
    List<DialectUpstream.Seen> real = upstream.seen.subList(before, upstream.seen.size()).stream()
        .filter(s -> s.path().equals("/v1/messages")).toList();
    assertThat(real).hasSize(2).allSatisfy(s -> {
      assertThat(s.headers()).containsKey("x-api-key").containsKey("anthropic-version").doesNotContainKey("authorization");
      JsonNode body = Json.MAPPER.readTree(s.body());
      assertThat(body.path("max_tokens").asInt()).isEqualTo(64);
      assertThat(body.path("stream").asBoolean()).isTrue();
    });
  }

  @Test
  void responsesEndpointIsClean() throws Exception {
    DoctorRun run = DoctorRun.run("--model", "gpt-test", upstream.url("/v1/responses"));
    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(upstream.seen.getLast().body()).contains("\"max_output_tokens\":64");
    assertThat(run.out()).as("the report names the API's own field").contains("max_output_tokens 64")
        .doesNotContain("max_tokens");
  }

  @Test
  void aFailedResponseIsExit2WithItsMessage() throws Exception {
    DoctorRun run = DoctorRun.run("--model", "gpt-test", upstream.url("/failed/v1/responses"));
    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("doctor: ").contains("The model failed to generate a response.");
    assertThat(run.err().strip().lines()).hasSize(1);
  }
}
