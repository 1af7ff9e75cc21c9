package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * docs/serve.md, "Memory per stream, on every path": an in-band error the gateway writes is one write, so it is
 * kept small and in a buffer of its size. The message of an upstream's error object is passed on
 * ({@code UpstreamErrorBody.toApiError}) but cut at 8,192 characters: an upstream error event of up to the
 * translation's 64 KiB would otherwise be one write that size. And the gateway's own text is encoded into a
 * buffer of exactly its bytes ({@code ByteBufUtil.writeUtf8} reserves 3 bytes per character).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InBandErrorMemoryTest {

  @Test
  void anInBandErrorFromAnUpstreamsLongErrorMessageIsOneSmallWriteInABufferOfItsSize() {
    String event = "event: error\ndata: {\"error\":{\"message\":\"" + "x".repeat(60_000)
        + "\",\"type\":\"server_error\",\"code\":\"boom\"}}\n\n";
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post("/v1/stream", "{\"prompt\":\"hi\",\"model\":\"m\"}");
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO);
      HeldRecorder r = HeldRecorder.on(g);

      a.chunk(event);

      assertThat(g.state()).isEqualTo(StreamState.FAILED);
      assertThat(g.response().body()).contains("\n\nevent: error\n").contains("x".repeat(8192) + "...")
          .doesNotContain("x".repeat(8193));
      assertThat(r.writes).isNotEmpty().allSatisfy(w -> assertThat(w.held())
          .as("memory held by a write of %d bytes (all writes: %s)", w.bytes(), r.writes)
          .isLessThanOrEqualTo(Math.max(2 * w.bytes(), 16)));
      assertThat(r.writes).allSatisfy(w -> assertThat(w.bytes()).isLessThan(10_000));
    }
  }
}
