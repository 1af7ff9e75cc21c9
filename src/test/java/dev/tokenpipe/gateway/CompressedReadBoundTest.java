package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.WORLD;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * docs/serve.md, "Memory per stream, on every path": the client outbound buffer holds at most 2 x the 64 KiB
 * high-water mark plus what one upstream read makes, because past the mark the upstream is not read. An upstream
 * that compresses although asked not to (Content-Encoding: gzip, inflated by InflateIfEncoded) could turn one
 * socket read of 32 KiB into 8 MiB of events, all relayed and queued for the client within that one read; a
 * piece inflates to at most 1 MiB, and past it the stream fails.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CompressedReadBoundTest {
  private static final int HIGH_WATER_MARK = 64 * 1024;
  private static final int ONE_READ = 64 * 1024;

  private static byte[] chunk(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes((Integer.toHexString(data.length) + "\r\n").getBytes(US_ASCII));
    out.writeBytes(data);
    out.writeBytes("\r\n".getBytes(US_ASCII));
    return out.toByteArray();
  }

  private static void send(EmbeddedGateway g, EmbeddedGateway.Conn a, byte[] raw) {
    g.step(() -> a.ch.writeInbound(Unpooled.wrappedBuffer(raw)));
  }

  @Test
  void oneCompressedUpstreamReadQueuesNoMoreThanTheDocumentedBoundForAClientThatStopsReading() throws IOException {
    ByteArrayOutputStream zipped = new ByteArrayOutputStream();
    GZIPOutputStream gz = new GZIPOutputStream(zipped, true);
    gz.write((ROLE + HELLO).getBytes(UTF_8));
    gz.flush();
    byte[] first = zipped.toByteArray();
    zipped.reset();
    byte[] token = WORLD.getBytes(UTF_8);
    int inflated = 0;
    while (inflated < 8 * 1024 * 1024) {
      gz.write(token);
      inflated += token.length;
    }
    gz.flush();
    byte[] bomb = zipped.toByteArray();

    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      EmbeddedGateway.Conn a = g.accept();
      a.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
          + "Transfer-Encoding: chunked\r\n\r\n");
      send(g, a, chunk(first));
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO);

      g.clientWritable(false); // the client stops reading: the upstream is paused
      assertThat(a.ch.config().isAutoRead()).isFalse();
      int before = g.clientBytes().length();
      byte[] read = chunk(bomb);
      assertThat(read.length).as("one upstream read, within the default receive buffer").isLessThan(ONE_READ);

      send(g, a, read); // the read the paused upstream was already delivering

      long queued = g.clientBytes().length() - before;
      assertThat(queued)
          .as("bytes queued for a client that stopped reading, after one %d-byte upstream read (bound: 2 x %d + %d)",
              read.length, HIGH_WATER_MARK, ONE_READ)
          .isLessThanOrEqualTo(2L * HIGH_WATER_MARK + ONE_READ);
      assertThat(g.state()).as("a read that inflates past 1 MiB fails the stream").isEqualTo(StreamState.FAILED);
      assertThat(g.response().body()).as("the upstream's bytes were wrong: a protocol error, not a cut")
          .contains("upstream_protocol_error");
    }
  }
}
