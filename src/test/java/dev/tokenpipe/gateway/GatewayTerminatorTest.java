package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.GatewayDialectTest.ANTHROPIC_STREAM;
import static dev.tokenpipe.gateway.GatewayDialectTest.MESSAGES;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The upstream's terminator ({@code data: [DONE]}, Anthropic's {@code message_stop}) ends the client's stream
 * at once, whatever the upstream does after it. An upstream that sent its terminator but kept its body open
 * (mistral.rs#1874 is one such report) held the client's stream open until {@code --upstream-idle-timeout},
 * and the official openai SDK, which reads on to the body's end after {@code [DONE]}, with it; then the
 * gateway appended an error event after the {@code [DONE]} and booked a complete answer as an error.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayTerminatorTest {
  static final String CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  /** Far longer than any wait below: an end that waits for it is the fault. */
  static final Duration IDLE_TIMEOUT = Duration.ofSeconds(20);

  ScriptedUpstream upstream;
  GatewayServer gateway;

  @AfterEach
  void stop() throws IOException {
    if (gateway != null) {
      gateway.close();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  private void start(ScriptedUpstream up) throws IOException {
    upstream = up;
    // One event loop: upstream connections are pooled per loop, and the tests count them.
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withThreads(1).withUpstreams(List.of(up.url()))
        .withTimeouts(Duration.ofSeconds(10), IDLE_TIMEOUT, Duration.ofSeconds(5), Duration.ofSeconds(30)));
  }

  private static void answer(ScriptedUpstream.Exchange x) throws IOException {
    x.sseHead("");
    x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(ChatChunks.finish("stop")).event(ChatChunks.DONE);
  }

  @Test
  void aDoneThatTheUpstreamDoesNotEndEndsTheClientsStreamAtOnce() throws Exception {
    start(new ScriptedUpstream().on("m", x -> {
      answer(x);
      x.pause(3_000).event(ChatChunks.content("AFTER")).end(); // too late, and not part of the answer
    }));

    try (AccessLogCapture log = new AccessLogCapture()) {
      long t0 = System.nanoTime();
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
      long millis = (System.nanoTime() - t0) / 1_000_000;

      assertThat(r.complete()).as("ended by its last chunk: %s", r).isTrue();
      assertThat(millis).as("the stream ended with its [DONE], not at the upstream's end 3 s later").isLessThan(2_000);
      String body = r.bodyWithoutComments();
      assertThat(body).endsWith("data: [DONE]\n\n").doesNotContain("AFTER").doesNotContain("event: error");
      Map<String, String> line = log.await("/v1/chat/completions", Duration.ofSeconds(5));
      assertThat(line).containsEntry("outcome", "done");
    }
    assertThat(gateway.metrics().errors("upstream_idle_timeout")).isZero();
  }

  @Test
  void anAnthropicMessageStopEndsTheClientsStreamAtOnce() throws Exception {
    start(new ScriptedUpstream().on("/v1/messages", x -> {
      x.sseHead("");
      for (String event : ANTHROPIC_STREAM.split("(?<=\n\n)")) {
        x.chunk(event);
      }
      x.pause(3_000).end();
    }));

    long t0 = System.nanoTime();
    Wire.Response r = Wire.post(gateway.port(), "/v1/messages", MESSAGES);
    long millis = (System.nanoTime() - t0) / 1_000_000;

    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(millis).as("ended with message_stop").isLessThan(2_000);
    assertThat(r.bodyWithoutComments()).isEqualTo(ANTHROPIC_STREAM);
  }

  @Test
  void anUpstreamThatEndsItsBodyShortlyAfterTheDoneKeepsItsConnection() throws Exception {
    start(new ScriptedUpstream().on("m", x -> {
      answer(x);
      x.pause(50).end(); // the last chunk in a write (and a read) of its own, as ASGI servers send it
    }));

    for (int i = 0; i < 3; i++) {
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
      assertThat(r.bodyWithoutComments()).as("stream %d", i).endsWith("data: [DONE]\n\n");
      Thread.sleep(150); // the upstream's end arrives and the connection goes back to the pool
    }
    assertThat(upstream.connections.get()).as("one upstream connection, kept alive for all three").isEqualTo(1);
  }

  @Test
  void anUpstreamThatSendsMoreAfterItsDoneLosesItsConnection() throws Exception {
    start(new ScriptedUpstream().on("m", x -> {
      answer(x);
      x.pause(50).event(ChatChunks.content("AFTER")).end();
    }));

    for (int i = 0; i < 2; i++) {
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
      assertThat(r.bodyWithoutComments()).as("stream %d", i).endsWith("data: [DONE]\n\n").doesNotContain("AFTER");
      Thread.sleep(150);
    }
    assertThat(upstream.connections.get()).as("bytes after the terminator: the connection is not reused").isEqualTo(2);
  }

  @Test
  void eventsAfterTheDoneInTheSameReadAreNotTokensAndCostTheConnection() throws Exception {
    start(new ScriptedUpstream().on("m", x -> {
      x.sseHead("");
      x.event(ChatChunks.role()).event(ChatChunks.content("Hello"));
      // The rest in one write, so in one read: the finish, the [DONE], an event after it, the body's end.
      String tail = "data: " + ChatChunks.finish("stop") + "\n\ndata: [DONE]\n\ndata: "
          + ChatChunks.content("AFTER") + "\n\n";
      int length = tail.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
      x.write(Integer.toHexString(length) + "\r\n" + tail + "\r\n0\r\n\r\n");
    }));

    try (AccessLogCapture log = new AccessLogCapture()) {
      for (int i = 0; i < 2; i++) {
        Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
        assertThat(r.complete()).as("stream %d: %s", i, r).isTrue();
        Thread.sleep(150);
      }
      log.await("/v1/chat/completions", l -> log.lines().size() >= 2, Duration.ofSeconds(5));
      assertThat(log.lines()).as("the answer is the one token before the [DONE]").hasSize(2)
          .allSatisfy(l -> assertThat(l).containsEntry("outcome", "done").containsEntry("tokens", "1"));
    }
    assertThat(upstream.connections.get()).as("an event after the terminator, in its read as in a later one: the"
        + " upstream and the gateway disagree on where the answer ends, so the connection is not reused").isEqualTo(2);
  }

  static final String UPSTREAM_ERROR = "{\"error\":{\"message\":\"Number of choices must be greater than 0.\","
      + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";

  @Test
  void anUpstreamErrorEventThatTheUpstreamDoesNotEndEndsTheClientsStreamAfterTheGrace() throws Exception {
    // mistral.rs#1874: the server writes its error event, then leaves the stream open until the client gives up.
    start(new ScriptedUpstream().on("m", x -> {
      x.sseHead("");
      x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(UPSTREAM_ERROR);
      x.pause(6_000).end();
    }));

    try (AccessLogCapture log = new AccessLogCapture()) {
      long t0 = System.nanoTime();
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
      long millis = (System.nanoTime() - t0) / 1_000_000;

      assertThat(r.complete()).as("%s", r).isTrue();
      assertThat(millis).as("about the grace after the error event, not the upstream's end 6 s later")
          .isBetween(UpstreamDrain.GRACE_MILLIS - 100, 4_000L);
      assertThat(r.bodyWithoutComments()).as("the upstream's error event is the stream's last word, no second one")
          .endsWith("data: " + UPSTREAM_ERROR + "\n\n").doesNotContain("event: error");
      assertThat(log.await("/v1/chat/completions", Duration.ofSeconds(5))).containsEntry("outcome", "error:upstream_status");
    }
    assertThat(gateway.metrics().errors("upstream_idle_timeout")).isZero();
  }

  @Test
  void aDoneShortlyAfterAnUpstreamErrorEventIsRelayed() throws Exception {
    // vLLM writes its error event, then [DONE]: both reach the client.
    start(new ScriptedUpstream().on("m", x -> {
      x.sseHead("");
      x.event(ChatChunks.role()).event(ChatChunks.content("Hello")).event(UPSTREAM_ERROR);
      x.pause(100).event(ChatChunks.DONE).end();
    }));

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);

    assertThat(r.complete()).isTrue();
    assertThat(r.bodyWithoutComments()).endsWith("data: " + UPSTREAM_ERROR + "\n\ndata: [DONE]\n\n");
  }

  @Test
  void anUpstreamThatNeverEndsItsBodyAfterTheDoneIsClosed() throws Exception {
    java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);
    start(new ScriptedUpstream().on("m", x -> {
      answer(x);
      // Reads until the gateway closes the connection (or 15 s pass).
      x.socket.setSoTimeout(15_000);
      try {
        if (x.socket.getInputStream().read() < 0) {
          closed.countDown();
        }
      } catch (IOException e) {
        closed.countDown(); // a reset is a close too
      }
    }));

    long t0 = System.nanoTime();
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);
    long millis = (System.nanoTime() - t0) / 1_000_000;

    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(millis).isLessThan(2_000);
    assertThat(r.bodyWithoutComments()).endsWith("data: [DONE]\n\n");
    assertThat(closed.await(8, TimeUnit.SECONDS)).as("the gateway closed the upstream connection, well before"
        + " the idle timeout").isTrue();
  }
}
