package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Failover before generated content: upstream A fails after sending only an event that carries nothing
 * generated (vLLM's and the sim's assistant role chunk); upstream B answers. The client must see B's
 * stream alone, as if A had never been tried. A fresh round-robin gateway per test, so A is tried first.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayFailoverTest {
  static final String CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  /** B's whole answer, as its body bytes. */
  static final String B_STREAM = "data: " + ChatChunks.role() + "\n\n"
      + "data: " + ChatChunks.content("Hello") + "\n\n"
      + "data: " + ChatChunks.content(" from B") + "\n\n"
      + "data: " + ChatChunks.finish("stop") + "\n\n"
      + "data: [DONE]\n\n";

  ScriptedUpstream a;
  ScriptedUpstream b;
  GatewayServer gateway;

  @BeforeEach
  void start() throws IOException {
    a = new ScriptedUpstream();
    b = new ScriptedUpstream().on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-b\r\n");
      for (String event : B_STREAM.split("(?<=\n\n)")) {
        x.chunk(event);
      }
      x.end();
    });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(a.url(), b.url()))
        .withBalance("round-robin"));
  }

  @AfterEach
  void stop() throws IOException {
    gateway.close();
    a.close();
    b.close();
  }

  /**
   * The client sees B's stream alone, its head included: B's {@code x-request-id} and rate limits, never those of
   * A's attempt that failed (a request id the client reports, a rate limit it backs off on).
   */
  @Test
  @Tag("issue9")
  void roleChunkThenResetFailsOverAndTheClientSeesBsStreamAlone() throws Exception {
    a.on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-a\r\nx-ratelimit-remaining-requests: 0\r\n");
      x.event(ChatChunks.role());
      x.pause(50).reset();
    });

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);

    assertThat(a.requests("/v1/chat/completions")).as("A was tried first").isEqualTo(1);
    assertThat(b.requests("/v1/chat/completions")).as("then B").isEqualTo(1);
    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.headerValue("x-request-id")).as("%s", r.head()).isEqualTo("from-b");
    assertThat(r.head()).doesNotContain("x-ratelimit-remaining-requests");
    assertThat(r.complete()).as("ended by its last chunk: %s", r).isTrue();
    assertThat(r.events().events()).as("dispatched events").isEqualTo(Wire.Parsed.of(B_STREAM).events());
    assertThat(r.bodyWithoutComments()).as("event bytes").isEqualTo(B_STREAM);
    assertThat(gateway.metrics().count("retries")).isEqualTo(1);
  }

  @Test
  @Tag("issue9")
  void roleChunkThenAnInBandOverloadedErrorIsAFailedAttemptAndBServes() throws Exception {
    a.on("/v1/chat/completions", x -> {
      x.sseHead("");
      x.event(ChatChunks.role());
      x.pause(50).event("{\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
      x.end();
    });

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);

    assertThat(a.requests("/v1/chat/completions")).isEqualTo(1);
    assertThat(b.requests("/v1/chat/completions")).as("B served after A's in-band error").isEqualTo(1);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.bodyText()).doesNotContain("overloaded_error");
    assertThat(r.bodyWithoutComments()).as("event bytes").isEqualTo(B_STREAM);
    assertThat(gateway.metrics().count("retries")).isEqualTo(1);
  }

  /**
   * A failed before any token and the retry on B was refused: no upstream's head stands for this answer (A's
   * stream is gone), so the client gets the retry's failure as its status (502), as when A had refused too, and
   * not A's 200 with an error after it, which no SDK retries.
   */
  @Test
  void whenTheRetryIsRefusedTheClientGetsAnErrorStatusNotTheFailedAttemptsHead() throws Exception {
    b.close(); // refused from now on
    a.on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(50).reset();
    });

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);

    assertThat(r.status()).as("no upstream's head stands: the retry's failure is the status, %s", r).isEqualTo(502);
    assertThat(r.head()).doesNotContain("from-a");
    assertThat(r.bodyText()).contains("\"code\":\"upstream_unavailable\"");
  }

  /**
   * A head held for a possible failover still goes out when the head wait ends: the upstream's own (its status
   * and x-request-id), not the gateway's 200 and {@code : ok}, and no early head is counted.
   */
  @Test
  void aHeldHeadGoesOutAsTheUpstreamsWhenTheHeadWaitEnds() throws Exception {
    gateway.close();
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(a.url(), b.url()))
        .withBalance("round-robin").withHeartbeat(java.time.Duration.ofSeconds(15), java.time.Duration.ofMillis(300)));
    a.on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(800);
      for (String event : B_STREAM.split("(?<=\n\n)")) {
        if (!event.contains("\"role\"")) {
          x.chunk(event);
        }
      }
      x.end();
    });
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", gateway.port())) {
      s.getOutputStream().write(Wire.post("HTTP/1.1", "/v1/chat/completions", CHAT).getBytes(java.nio.charset.StandardCharsets.UTF_8));
      s.setSoTimeout(5000);
      byte[] buf = new byte[4096];
      long sent = System.nanoTime();
      int n = s.getInputStream().read(buf);
      long waitedMs = (System.nanoTime() - sent) / 1_000_000;
      String first = new String(buf, 0, n, java.nio.charset.StandardCharsets.ISO_8859_1).toLowerCase(java.util.Locale.ROOT);
      assertThat(first).as("the upstream's head, once the head wait ended").startsWith("http/1.1 200")
          .contains("x-request-id: from-a").doesNotContain(": ok");
      assertThat(waitedMs).as("held for the head wait (300 ms), not until the first token (800 ms)").isBetween(200L, 750L);
      StringBuilder rest = new StringBuilder(first);
      while (!rest.toString().endsWith("0\r\n\r\n")) {
        int m = s.getInputStream().read(buf);
        if (m < 0) {
          break;
        }
        rest.append(new String(buf, 0, m, java.nio.charset.StandardCharsets.ISO_8859_1));
      }
      assertThat(rest.toString()).as("then A's stream to its end").contains("data: [DONE]").endsWith("0\r\n\r\n");
    }
    assertThat(gateway.metrics().earlyHeads.get()).isZero();
  }

  /** The same on the token API: /v1/stream's head is that of the attempt whose tokens the client gets. */
  @Test
  void onTheTokenApiTooTheHeadAfterAFailoverIsBs() throws Exception {
    a.on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(50).reset();
    });

    Wire.Response r = Wire.post(gateway.port(), "/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");

    assertThat(b.requests("/v1/chat/completions")).as("A failed, B served").isEqualTo(1);
    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.headerValue("x-request-id")).as("%s", r.head()).isEqualTo("from-b");
    assertThat(r.bodyWithoutComments()).contains("data: Hello\n\n", "data:  from B\n\n").endsWith("data: [DONE]\n\n");
  }
}
