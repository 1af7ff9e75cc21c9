package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.DONE_EVENT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A /v1/stream whose upstream sends one ordinary event larger than 64 KiB goes on (a trial bound of 64 KiB on the
 * translation's events failed it): a whole completion in one delta (an upstream or proxy that "fake streams" a
 * non-streaming model, a server with a coarse stream interval), or a reasoning/tool-call event the simple API
 * ignores anyway. Plain text (no line breaks) translates to about its own size, so the 3.5x growth the bound is
 * meant to cap does not happen; the chat relay (EventRelay, StreamScanner) takes the same event. The bound should
 * be on what the translation writes, not on what the upstream sends.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TranslatedLargeEventTest {
  private static final int PIECE = 60 * 1024;

  private static void send(EmbeddedGateway.Conn a, String event) {
    for (int from = 0; from < event.length(); from += PIECE) {
      a.chunk(event.substring(from, Math.min(event.length(), from + PIECE)));
    }
  }

  @Test
  void aWholeCompletionInOneUpstreamEventIsTranslated() {
    String text = "lorem ipsum dolor sit amet ".repeat(4000); // 108,000 bytes of plain text, no line breaks
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);
      send(a, ProxyExchangeStateMachineTest.sse(ChatChunks.content(text)));
      a.chunk(DONE_EVENT).end();

      assertThat(g.response().body()).as("the translated stream").doesNotContain("upstream_invalid_sse")
          .contains(text.substring(0, 64)).endsWith("data: [DONE]\n\n");
      assertThat(g.state()).isEqualTo(StreamState.DONE);
    }
  }

  @Test
  void aLargeToolCallEventTheSimpleApiIgnoresDoesNotFailTheStream() {
    String args = "{\"rows\":[" + "[1,2,3,4,5,6,7,8,9,10],".repeat(5000) + "[0]]}"; // ~115 KB of arguments
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);
      send(a, ProxyExchangeStateMachineTest.sse(ChatChunks.toolCall("call_1", "f", args)));
      a.chunk(DONE_EVENT).end();

      assertThat(g.response().body()).as("the translated stream").doesNotContain("upstream_invalid_sse")
          .endsWith("data: [DONE]\n\n");
      assertThat(g.state()).isEqualTo(StreamState.DONE);
    }
  }
}
