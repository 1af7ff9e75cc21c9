package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.testing.RawClient;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Backpressure and {@code --capacity} for the Anthropic Messages and OpenAI Responses streams: the same
 * machinery as chat, so a client that stops reading stops the model, and a full batch delays the first token.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SimDialectLoadTest {
  static final List<String[]> APIS = List.of(
      new String[] {"/v1/messages", SimDialectStreamTest.MESSAGES.replace("\"max_tokens\":1000", "\"max_tokens\":1000000"),
          "message_stop"},
      new String[] {"/v1/responses", SimDialectStreamTest.RESPONSES, "response.completed"});

  @Test
  void aClientThatStopsReadingPausesTheStreamWhichThenCompletes() throws Exception {
    for (String[] api : APIS) {
      try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0)) {
        int tokens = 300_000;
        try (RawClient c = RawClient.request(sim.port(), "POST", api[0], api[1], SimBackpressureTest.RECEIVE_BUFFER,
            "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=" + tokens)) {
          long generated = SimBackpressureTest.awaitGenerationStops(sim);
          assertThat(generated).as("tokens generated while the client reads nothing (%s)", api[0]).isLessThan(tokens / 2);
          assertThat(sim.metrics().maxPendingWriteBytes()).as(api[0]).isLessThanOrEqualTo(SimBackpressureTest.BOUND);
          assertThat(sim.metrics().count("pauses")).isPositive();

          String body = SimBackpressureTest.readAll(c.socket.getInputStream());
          assertThat(body).as(api[0]).contains("event: " + api[2]).endsWith("\r\n0\r\n\r\n");
          assertThat(sim.metrics().count("completed")).isEqualTo(1);
        }
      }
    }
  }

  @Test
  void aFullBatchDelaysTheNextStreamsFirstToken() throws Exception {
    for (String[] api : APIS) {
      try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0)) {
        sim.slots().capacity(1);
        String profile = "ttft=20ms itl=40ms tokens=10";
        CompletableFuture<SimDialectStreamTest.Stream> first = CompletableFuture.supplyAsync(() -> post(sim, api, profile));
        Thread.sleep(100);
        SimDialectStreamTest.Stream second = post(sim, api, profile);
        SimDialectStreamTest.Stream one = first.get(30, TimeUnit.SECONDS);

        long firstEnds = SimDialectStreamTest.stamp(one.events().getLast()).emitMicros();
        long secondStarts = second.events().stream().filter(e -> EventKind.generated(e.kind()))
            .map(e -> SimDialectStreamTest.stamp(e).emitMicros()).findFirst().orElseThrow();
        assertThat(secondStarts).as("the second stream's first token waits for the slot (%s)", api[0])
            .isGreaterThanOrEqualTo(firstEnds);
        assertThat(second.events().getLast().name()).isEqualTo(api[2]);
      }
    }
  }

  private static SimDialectStreamTest.Stream post(SimServer sim, String[] api, String profile) {
    try {
      return SimDialectStreamTest.post(sim.port(), api[0], api[1], profile);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
