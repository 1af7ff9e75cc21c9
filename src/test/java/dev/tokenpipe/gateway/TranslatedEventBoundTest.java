package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * docs/serve.md, "Memory per stream, on every path": the translated token API ({@code /v1/stream}) parses before
 * it writes, so one upstream event, however many reads it arrives in, leaves as one write when its last read
 * completes it, and a token of line breaks grows 2 bytes ({@code \n} in JSON) into 7 ({@code "\ndata: "}) on the
 * way out. With the chat relay's 1 MiB per event, one 60 KiB read queued a 3 MB write (the client writable all
 * along, so the upstream was never paused). The translation reads events of at most
 * {@link TokenTranslator#MAX_EVENT_BYTES}, so a translated event stays within 3.5 times that.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TranslatedEventBoundTest {
  private static final int PIECE = 60 * 1024;
  private static final long TRANSLATED_BOUND = 7L * TokenTranslator.MAX_EVENT_BYTES / 2;

  private static String newlines(int count) {
    return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + "\\n".repeat(count)
        + "\"},\"finish_reason\":null}]}\n\n";
  }

  /** Sends {@code event} in reads of at most 60 KiB; returns the largest number of bytes one read queued. */
  private static long send(EmbeddedGateway.Conn a, EmbeddedGateway g, String event) {
    long largest = 0;
    for (int from = 0; from < event.length(); from += PIECE) {
      int before = g.clientBytes().length();
      a.chunk(event.substring(from, Math.min(event.length(), from + PIECE))); // one read each
      largest = Math.max(largest, g.clientBytes().length() - before);
    }
    return largest;
  }

  @Test
  void anUpstreamEventOverTheBoundFailsTheStreamInsteadOfQueuingItsTranslation() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);

      long largest = send(a, g, newlines(520_000)); // a 1 MiB event

      assertThat(g.state()).isEqualTo(StreamState.FAILED);
      assertThat(g.response().body()).contains("upstream_invalid_sse");
      assertThat(largest).as("bytes one upstream read queued for the client").isLessThan(4096);
    }
  }

  @Test
  void theLargestEventTheTranslationTakesLeavesWithinItsBound() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);
      String event = newlines((TokenTranslator.MAX_EVENT_BYTES - 100) / 2);

      long largest = send(a, g, event);

      assertThat(g.state()).isEqualTo(StreamState.RELAYING);
      assertThat(largest).as("bytes one upstream read queued for the client (an event of %d bytes)", event.length())
          .isGreaterThan(2L * event.length()).isLessThanOrEqualTo(TRANSLATED_BOUND);
    }
  }
}
