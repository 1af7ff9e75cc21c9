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

  @Test
  @Tag("issue9")
  void roleChunkThenResetFailsOverAndTheClientSeesBsStreamAlone() throws Exception {
    a.on("/v1/chat/completions", x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(50).reset();
    });

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT);

    assertThat(a.requests("/v1/chat/completions")).as("A was tried first").isEqualTo(1);
    assertThat(b.requests("/v1/chat/completions")).as("then B").isEqualTo(1);
    assertThat(r.status()).as("%s", r).isEqualTo(200);
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
}
