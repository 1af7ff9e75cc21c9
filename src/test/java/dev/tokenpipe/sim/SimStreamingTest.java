package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.testing.RawClient;
import dev.tokenpipe.testing.SimExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The simulated model's stream shapes over real sockets. Structure is asserted strictly (one
 * event per read, tokens per event, terminators); timing loosely, as this runs on a noisy
 * 2-core machine.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimStreamingTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";

  @Test
  void firstTokenAfterTtftThenOneEventPerReadAtTheInterval() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"hi\"}",
        "X-Tokenpipe-Sim: ttft=300ms itl=50ms tokens=10")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
      List<RawClient.Read> events = c.eventReads();
      // 10 token events plus [DONE]; the reader may see the last token and [DONE] in one read.
      assertThat(c.all().split("id: tp\\.", -1)).hasSize(12);
      assertThat(events.size()).isBetween(10, 11);
      for (RawClient.Read r : events.subList(0, 9)) {
        assertThat(r.count("id: tp.")).as("events in one read: %s", r.text()).isEqualTo(1);
      }
      long ttftMillis = (events.getFirst().nanos() - c.sentNanos) / 1_000_000;
      assertThat(ttftMillis).isBetween(280L, 600L);
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < 10; i++) {
        gaps.add((events.get(i).nanos() - events.get(i - 1).nanos()) / 1_000_000);
      }
      assertThat(median(gaps)).isBetween(40L, 75L);
      assertThat(c.all()).contains("data: [DONE]");
    }
  }

  @Test
  void chatStreamHasRoleChunkContentFinishUsageAndDone() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=20ms itl=5ms tokens=7")) {
      assertThat(c.readToEnd()).isTrue();
      List<JsonNode> chunks = dataJson(c.all());
      assertThat(chunks.getFirst().at("/choices/0/delta/role").asText()).isEqualTo("assistant");
      assertThat(chunks.getFirst().at("/choices/0/delta/content").asText()).isEmpty();
      long contentChunks = chunks.stream().filter(j -> !j.at("/choices/0/delta/content").asText().isEmpty()).count();
      assertThat(contentChunks).isEqualTo(7);
      JsonNode finish = chunks.get(chunks.size() - 2);
      assertThat(finish.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
      JsonNode usage = chunks.getLast();
      assertThat(usage.get("choices")).isEmpty();
      assertThat(usage.at("/usage/completion_tokens").asInt()).isEqualTo(7);
      assertThat(usage.at("/usage/prompt_tokens").asInt()).isPositive();
      assertThat(chunks).allSatisfy(j -> assertThat(j.get("object").asText()).isEqualTo("chat.completion.chunk"));
      assertThat(c.all()).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
    }
  }

  @Test
  void everyEventCarriesItsEmissionTime() throws Exception {
    long before = EmissionStamp.nowMicros();
    try (RawClient c = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"hi\"}",
        "X-Tokenpipe-Sim: ttft=10ms itl=5ms tokens=5")) {
      assertThat(c.readToEnd()).isTrue();
      List<EmissionStamp> stamps = c.all().lines().filter(l -> l.startsWith("id: "))
          .map(l -> EmissionStamp.parse(l.substring(4)).orElseThrow()).toList();
      assertThat(stamps).hasSize(6);
      for (int i = 0; i < stamps.size(); i++) {
        assertThat(stamps.get(i).seq()).isEqualTo(i);
        assertThat(stamps.get(i).emitMicros()).isBetween(before, EmissionStamp.nowMicros());
      }
    }
  }

  @Test
  void burstModeSendsNTokensPerEventEveryNIntervals() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/chat/completions", CHAT,
        "X-Tokenpipe-Sim: ttft=50ms itl=20ms tokens=13 burst=4")) {
      assertThat(c.readToEnd()).isTrue();
      List<JsonNode> chunks = dataJson(c.all());
      List<String> contents = chunks.stream().map(j -> j.at("/choices/0/delta/content").asText())
          .filter(s -> !s.isEmpty()).toList();
      // Documented shape: the first token alone at TTFT, then events of `burst` tokens.
      assertThat(contents).hasSize(4);
      assertThat(chunks.getLast().at("/usage/completion_tokens").asInt()).isEqualTo(13);
      List<RawClient.Read> reads = c.reads.stream().filter(r -> r.text().contains("\"content\":\"") && !r.text().contains("\"role\"")).toList();
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < Math.min(reads.size(), 4); i++) {
        gaps.add((reads.get(i).nanos() - reads.get(i - 1).nanos()) / 1_000_000);
      }
      assertThat(median(gaps)).isBetween(65L, 120L);
    }
  }

  @Test
  void groupCommitFlushesManyEventsTogetherAcrossStreams() throws Exception {
    String header = "X-Tokenpipe-Sim: ttft=10ms itl=10ms tokens=40 group_commit=100ms";
    try (RawClient a = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"a\"}", header);
        RawClient b = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"b\"}", header)) {
      // Read both at once: a reader that lags would merge reads by itself.
      var other = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return b.readToEnd();
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
      assertThat(a.readToEnd()).isTrue();
      assertThat(other.get(20, TimeUnit.SECONDS)).isTrue();
      for (RawClient c : List.of(a, b)) {
        assertThat(c.all().split("id: tp\\.", -1)).hasSize(42);
        // 40 tokens over ~400 ms in 100 ms commits: a handful of reads, most holding many events.
        assertThat(c.eventReads().size()).isBetween(3, 12);
        assertThat(c.eventReads().stream().mapToInt(r -> r.count("id: tp.")).max().orElse(0)).isGreaterThanOrEqualTo(5);
      }
      // Both streams are flushed at the same wall-clock commits.
      long firstA = a.eventReads().get(1).nanos();
      long nearestB = b.eventReads().stream().mapToLong(r -> Math.abs(r.nanos() - firstA)).min().orElseThrow();
      assertThat(nearestB / 1_000_000).isLessThan(30);
    }
  }

  static List<JsonNode> dataJson(String raw) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String line : raw.split("\n")) {
      if (line.startsWith("data: {")) {
        out.add(Json.MAPPER.readTree(line.substring(6)));
      }
    }
    return out;
  }

  static long median(List<Long> values) {
    List<Long> sorted = new ArrayList<>(values);
    sorted.sort(null);
    return sorted.get(sorted.size() / 2);
  }
}
