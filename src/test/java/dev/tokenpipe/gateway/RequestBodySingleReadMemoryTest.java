package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.net.Buffers;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * JsonErrorAggregator.finishAggregation copies a body "that occupies more than twice its bytes" to its size, also
 * a composite of one part (which CompositeByteBuf.consolidate() leaves as it is). The most common body, one that
 * arrived in a single read, is one part: a slice of that read's receive buffer. After a full read (an earlier
 * request on the same keep-alive connection) Netty's adaptive receive buffer is 64 KiB, so a 2 KiB request keeps
 * 64 KiB for its whole stream (32 times its bytes; with 10,000 streams 640 MB instead of 20 MB).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RequestBodySingleReadMemoryTest {

  private static final class RequestSpy extends ChannelInboundHandlerAdapter {
    FullHttpRequest request;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof FullHttpRequest r) {
        request = r;
      }
      ctx.fireChannelRead(msg);
    }
  }

  @Test
  void aBodyThatArrivedInOneLargeReceiveBufferIsKeptInAtMostTwiceItsBytes() {
    String body = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\""
        + "x".repeat(2000) + "\"}]}";
    byte[] raw = ("POST " + CHAT_PATH + " HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(US_ASCII);

    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      RequestSpy spy = new RequestSpy();
      g.client.pipeline().addBefore("gateway", "spy", spy);
      ByteBuf read = ByteBufAllocator.DEFAULT.ioBuffer(64 * 1024); // the adaptive receive buffer after a full read
      read.writeBytes(raw);
      g.step(() -> g.client.pipeline().fireChannelRead(read));
      EmbeddedGateway.Conn a = g.accept();
      a.sseHead().chunk(HELLO); // the stream runs; the request is kept until it ends

      assertThat(g.state()).isEqualTo(StreamState.RELAYING);
      assertThat(spy.request.content().readableBytes()).isEqualTo(body.length());
      assertThat(Buffers.memory(spy.request.content()))
          .as("memory held for the whole stream by a %d-byte request body that came in one 64 KiB read", body.length())
          .isLessThanOrEqualTo(2L * body.length());
    }
  }
}
