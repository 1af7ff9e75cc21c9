package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.http.Http10Framing;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link ClientStream} frames each event write as one HTTP/1.1 chunk itself (issue 15: Netty's encoder made
 * about 230 bytes of garbage per event doing it). The wire must not change: the same bytes as the encoder's
 * chunked coding, one buffer and one flush per forwarded read, and no chunk coding for an HTTP/1.0 client.
 */
class ClientStreamFramingTest {
  private static final int[] SIZES = {1, 9, 15, 16, 17, 255, 256, 4095, 4096, 65_535, 70_000, 1 << 20};

  private record Wire(List<byte[]> writes, byte[] all) {}

  private static Wire relay(String requestHead) {
    ChannelInboundHandlerAdapter gateway = new ChannelInboundHandlerAdapter();
    EmbeddedChannel ch = new EmbeddedChannel(new HttpServerCodec(), new Http10Framing(), gateway);
    ch.writeInbound(Unpooled.copiedBuffer(requestHead, US_ASCII));
    Object req;
    while ((req = ch.readInbound()) != null) {
      io.netty.util.ReferenceCountUtil.release(req);
    }
    ClientStream client = new ClientStream(ch.pipeline().context(gateway), new GatewayMetrics(), dev.tokenpipe.dialect.Dialects.OPENAI_CHAT, true, 0, false);
    client.streamHead(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK), Framing.SSE);
    drain(ch); // the head
    List<byte[]> writes = new ArrayList<>();
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    for (int size : SIZES) {
      byte[] event = event(size);
      client.forward(Unpooled.wrappedBuffer(event), System.nanoTime(), false);
      List<byte[]> out = drain(ch);
      assertThat(out).as("one buffer per forwarded read (size %d)", size).hasSize(1);
      writes.add(out.get(0));
      all.writeBytes(out.get(0));
    }
    client.end(System.nanoTime());
    drain(ch).forEach(all::writeBytes);
    ch.finishAndReleaseAll();
    return new Wire(writes, all.toByteArray());
  }

  private static byte[] event(int size) {
    byte[] b = new byte[size];
    for (int i = 0; i < size; i++) {
      b[i] = (byte) ('a' + i % 26);
    }
    if (size >= 2) {
      b[size - 2] = '\n';
      b[size - 1] = '\n';
    }
    return b;
  }

  private static List<byte[]> drain(EmbeddedChannel ch) {
    List<byte[]> out = new ArrayList<>();
    Object msg;
    while ((msg = ch.readOutbound()) != null) {
      ByteBuf b = (ByteBuf) msg;
      byte[] bytes = new byte[b.readableBytes()];
      b.getBytes(b.readerIndex(), bytes);
      b.release();
      if (bytes.length > 0) {
        out.add(bytes);
      }
    }
    return out;
  }

  @Test
  void eachEventIsOneChunkExactlyAsRfc9112FramesIt() {
    Wire wire = relay("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ByteArrayOutputStream expected = new ByteArrayOutputStream();
    for (int i = 0; i < SIZES.length; i++) {
      ByteArrayOutputStream chunk = new ByteArrayOutputStream();
      chunk.writeBytes((Integer.toHexString(SIZES[i]) + "\r\n").getBytes(US_ASCII));
      chunk.writeBytes(event(SIZES[i]));
      chunk.writeBytes("\r\n".getBytes(US_ASCII));
      assertThat(new String(wire.writes().get(i), UTF_8)).as("chunk of %d bytes", SIZES[i])
          .isEqualTo(chunk.toString(UTF_8));
      expected.writeBytes(chunk.toByteArray());
    }
    expected.writeBytes("0\r\n\r\n".getBytes(US_ASCII));
    assertThat(new String(wire.all(), UTF_8)).isEqualTo(expected.toString(UTF_8));
  }

  @Test
  void anHttp10ClientGetsTheBytesUnframed() {
    Wire wire = relay("POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    ByteArrayOutputStream expected = new ByteArrayOutputStream();
    for (int size : SIZES) {
      expected.writeBytes(event(size));
    }
    assertThat(new String(wire.all(), UTF_8)).isEqualTo(expected.toString(UTF_8));
  }
}
