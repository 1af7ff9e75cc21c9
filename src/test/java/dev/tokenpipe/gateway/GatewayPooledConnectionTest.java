package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Pooled upstream connections are reused only while they have been idle for less than the pool's keep-alive
 * bound. A connection idle longer may be dead without a close: a NAT or load balancer dropped its flow, or the
 * upstream stopped serving it. Reused, it held the request until --upstream-idle-timeout (60 s by default), then
 * 504, since a request that went up is not retried (the model may be generating).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayPooledConnectionTest {
  static final String CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  /** Answers the first request of each connection; any later one on it is read and never answered. */
  static ScriptedUpstream silentAfterFirst() throws Exception {
    Set<Socket> answered = ConcurrentHashMap.newKeySet();
    return new ScriptedUpstream().on("/v1/chat/completions", x -> {
      if (!answered.add(x.socket)) {
        x.pause(30_000);
        return;
      }
      x.sseHead("");
      x.event(ChatChunks.content("Hi")).event(ChatChunks.DONE).end();
    });
  }

  /** Answers every request with one token and [DONE], on any connection. */
  static ScriptedUpstream answering() throws Exception {
    return new ScriptedUpstream().on("/v1/chat/completions", x -> {
      x.sseHead("");
      x.event(ChatChunks.content("Hi")).event(ChatChunks.DONE).end();
    });
  }

  /** A gateway with one loop in front of {@code up}, pooled connections reused while idle less than {@code keepalive}. */
  static GatewayServer gateway(ScriptedUpstream up, Duration keepalive) throws Exception {
    return GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1).withUpstreams(List.of(up.url()))
        .withUpstreamKeepalive(keepalive));
  }

  @Test
  void aConnectionIdleLongerThanTheBoundIsNotReused() throws Exception {
    try (ScriptedUpstream up = silentAfterFirst();
        GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1).withUpstreams(List.of(up.url()))
            .withTimeouts(Duration.ofSeconds(20), Duration.ofSeconds(8), Duration.ofSeconds(30), Duration.ofSeconds(30))
            .withUpstreamKeepalive(Duration.ofMillis(300)))) {
      assertThat(Wire.post(g.port(), "/v1/chat/completions", CHAT).status()).isEqualTo(200);
      Thread.sleep(1_000); // idle well past the bound

      long t0 = System.nanoTime();
      Wire.Response r = Wire.post(g.port(), "/v1/chat/completions", CHAT);

      assertThat(r.status()).as("%s", r).isEqualTo(200);
      assertThat(r.bodyText()).endsWith("data: [DONE]\n\n");
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("not held until the idle timeout")
          .isLessThan(Duration.ofSeconds(5));
      assertThat(up.connections.get()).as("a new connection for the second request").isEqualTo(2);
    }
  }

  @Test
  void aConnectionIdleLongerThanTheBoundIsClosedWithoutAnotherRequest() throws Exception {
    // Before, a connection past the bound was closed only when the next request found it: after a burst, hundreds of
    // idle connections (up to 512 per loop and upstream) held their sockets and the upstream's slots for good.
    try (ScriptedUpstream up = answering();
        GatewayServer g = gateway(up, Duration.ofMillis(300))) {
      assertThat(Wire.post(g.port(), "/v1/chat/completions", CHAT).status()).isEqualTo(200);
      assertThat(up.ended.get()).as("kept alive after the answer").isZero();

      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (up.ended.get() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(up.ended.get()).as("closed by the gateway once idle past the bound").isEqualTo(1);
    }
  }

  @Test
  void aConnectionIdleLessThanTheBoundIsReused() throws Exception {
    try (ScriptedUpstream up = answering();
        GatewayServer g = gateway(up, Duration.ofSeconds(30))) {
      for (int i = 0; i < 3; i++) {
        assertThat(Wire.post(g.port(), "/v1/chat/completions", CHAT).status()).isEqualTo(200);
        Thread.sleep(200);
      }
      assertThat(up.connections.get()).as("one kept-alive connection for all three").isEqualTo(1);
    }
  }
}
