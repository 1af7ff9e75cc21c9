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
 * way out. The parser takes events of at most 1 MiB (as the chat relay's books do), so what one read queues on
 * this path is at most 3.5 MiB, the bound the table documents; an event over 1 MiB fails the stream.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TranslatedEventBoundTest {
  private static final int PIECE = 60 * 1024;
  private static final int MAX_EVENT = dev.tokenpipe.sse.SseParser.DEFAULT_MAX_EVENT_BYTES;
  private static final long TRANSLATED_BOUND = 7L * MAX_EVENT / 2;

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
  void anUpstreamEventOverTheParsersBoundFailsTheStream() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);

      long largest = send(a, g, newlines(MAX_EVENT / 2 + 1000)); // just over 1 MiB

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
      String event = newlines((MAX_EVENT - 100) / 2);

      long largest = send(a, g, event);

      assertThat(g.state()).isEqualTo(StreamState.RELAYING);
      assertThat(largest).as("bytes one upstream read queued for the client (an event of %d bytes)", event.length())
          .isGreaterThan(2L * event.length()).isLessThanOrEqualTo(TRANSLATED_BOUND);
    }
  }
}
