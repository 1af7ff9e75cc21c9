package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.RawClient;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Stress with churn, bounded and on loopback: hundreds of concurrent streams through the gateway,
 * a random half of whose clients walk away mid-stream. Every finished stream must be complete,
 * every abandoned one must free its upstream, and nothing may stay open afterwards.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GatewayChurnTest {
  static final int STREAMS = 300;
  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  @Test
  void abandonedStreamsFreeTheirUpstreamAndTheRestComplete() throws Exception {
    String chat = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    long cancelledBefore = gateway.sim().metrics().count("cancelled");
    long completedBefore = gateway.sim().metrics().count("completed");
    SplittableRandom random = new SplittableRandom(42);
    List<RawClient> clients = new ArrayList<>();
    List<RawClient> leaving = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      // Clients that will leave ask for endless streams, so leaving always cuts a live stream.
      boolean leaves = random.nextBoolean();
      RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", chat,
          "X-Tokenpipe-Sim: ttft=20ms/200ms itl=10ms/30ms tokens=" + (leaves ? 1_000_000 : 40));
      clients.add(c);
      if (leaves) {
        leaving.add(c);
      }
    }
    int abandoned = 0;
    int completed = 0;
    for (RawClient c : leaving) {
      assertThat(c.readUntil("\"delta\":{\"content\":\"")).isTrue(); // at least one token arrived
      c.close();
      abandoned++;
    }
    for (RawClient c : clients) {
      if (c.socket.isClosed()) {
        continue;
      }
      try (c) {
        assertThat(c.readToEnd()).as("stream ended with its last chunk").isTrue();
        assertThat(c.status()).isEqualTo(200);
        assertThat(c.body()).contains("data: [DONE]").doesNotContain("event: error");
        completed++;
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while ((gateway.metrics().activeStreams() != 0 || gateway.sim().metrics().activeStreams() != 0)
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(gateway.metrics().activeStreams()).isZero();
    assertThat(gateway.sim().metrics().activeStreams()).isZero();
    assertThat(abandoned).isBetween(100, 200);
    // Every abandoned client closed its upstream stream at the model; the others ran to the end.
    assertThat(gateway.sim().metrics().count("cancelled") - cancelledBefore).isEqualTo(abandoned);
    assertThat(gateway.sim().metrics().count("completed") - completedBefore).isEqualTo(completed);
    assertThat(completed).isEqualTo(STREAMS - abandoned);
    assertThat(gateway.metrics().count("cancels")).isEqualTo(abandoned);
  }
}
