package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.DONE_EVENT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.STOP;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.WORLD;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a write queued for the client holds: its whole buffer, not only its bytes. The high-water mark that
 * pauses the upstream counts bytes, so each write may hold at most twice its bytes, whatever the size of the
 * upstream read it came in (Netty's adaptive receive buffer starts at 2 KiB and jumps to 64 KiB after a full
 * read), or a client that stops reading would make the gateway hold several times the mark (docs/serve.md,
 * "Memory per stream"). Recorded at the socket end of the client's pipeline, without sockets.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class QueuedMemoryTest {

  /** A chat stream whose first token went out: what follows is relayed as it comes. */
  private static EmbeddedGateway.Conn committed(EmbeddedGateway g) {
    g.post(CHAT_PATH, CHAT);
    EmbeddedGateway.Conn a = g.accept();
    a.sseHead().chunk(ROLE).chunk(HELLO);
    return a;
  }

  private static String chunk(String data) {
    return Integer.toHexString(data.getBytes(UTF_8).length) + "\r\n" + data + "\r\n";
  }

  @Test
  void aChunkForwardedFromAnOversizedReadHoldsAtMostTwiceItsBytes() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      HeldRecorder r = HeldRecorder.on(g);
      EmbeddedGateway.Conn a = committed(g);
      int before = r.writes.size();

      a.send(chunk(WORLD), 64 * 1024); // the read after a full one: a 64 KiB buffer for one token
      a.send(chunk(STOP), 2048); // a fresh connection's first reads: 2 KiB each

      assertThat(r.writes.subList(before, r.writes.size())).hasSize(2)
          .allSatisfy(w -> assertThat(w.held()).as("memory held by a write of %d bytes", w.bytes())
              .isLessThanOrEqualTo(2 * w.bytes()));
      a.chunk(DONE_EVENT).end();
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + WORLD + STOP + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
    }
  }

  @Test
  void eventsHeldBeforeTheFirstTokenHoldAtMostTwiceTheirBytes() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead();

      a.send(chunk(ROLE), 64 * 1024); // held for failover until a token arrives
      a.send(chunk(ROLE.replace("assistant", "assistant ")), 2048);

      int bytes = ROLE.length() * 2 + 1;
      assertThat(g.exchange().heldMemory()).as("memory held by %d bytes of held events", bytes)
          .isBetween((long) bytes, 2L * bytes);
      a.chunk(HELLO).chunk(DONE_EVENT).end();
      assertThat(g.response().body()).startsWith(ROLE).endsWith(HELLO + DONE_EVENT);
    }
  }

  @Test
  void aSteadyTokenReadGoesOutAsItCameWithoutACopy() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      HeldRecorder r = HeldRecorder.on(g);
      EmbeddedGateway.Conn a = committed(g);
      String read = chunk(WORLD);
      int capacity = read.length() + 16; // the adaptive guess, one step above the reads it has seen

      a.send(read, capacity);

      assertThat(r.writes.getLast().bytes()).isEqualTo(read.length());
      assertThat(r.writes.getLast().held()).as("the read's own buffer: not copied").isEqualTo(capacity);
    }
  }

  @Test
  void aNonStreamBodyFromAnOversizedReadHoldsAtMostTwiceItsBytes() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      HeldRecorder r = HeldRecorder.on(g);
      g.post(CHAT_PATH, CHAT.replace("\"stream\":true", "\"stream\":false"));
      EmbeddedGateway.Conn a = g.accept();
      String body = "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[]}";
      a.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n", 2048);
      int before = r.writes.size();

      a.send(body, 64 * 1024);

      assertThat(r.writes.subList(before, r.writes.size())).isNotEmpty()
          .allSatisfy(w -> assertThat(w.held()).as("memory held by a write of %d bytes", w.bytes())
              .isLessThanOrEqualTo(2 * w.bytes()));
      assertThat(g.response().body()).isEqualTo(body);
    }
  }
}
