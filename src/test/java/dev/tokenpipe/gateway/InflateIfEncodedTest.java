package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/** One pooled upstream connection's responses in turn: encoded bodies are inflated, identity bodies pass as they are. */
class InflateIfEncodedTest {

  @Test
  void identityPiecesPassUntouchedAndEncodedOnesAreInflatedOnTheSameConnection() throws IOException {
    EmbeddedChannel ch = new EmbeddedChannel(new InflateIfEncoded());

    // 1. gzip: the body comes out inflated.
    ch.writeInbound(head("gzip"), new DefaultHttpContent(Unpooled.wrappedBuffer(gzip("data: a\n\n"))),
        LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat(drainText(ch)).isEqualTo("data: a\n\n");

    // 2. identity (no header): the very same content objects come out, the decompressor never saw them.
    HttpContent piece = new DefaultHttpContent(Unpooled.copiedBuffer("data: b\n\n", StandardCharsets.UTF_8));
    LastHttpContent last = new DefaultLastHttpContent();
    ch.writeInbound(head(null), piece, last);
    assertThat((Object) ch.readInbound()).isInstanceOf(HttpResponse.class);
    HttpContent out = ch.readInbound();
    assertThat(out).isSameAs(piece);
    assertThat(out.refCnt()).isEqualTo(1);
    assertThat((Object) ch.readInbound()).isSameAs(last);
    out.release();

    // 3. explicit identity, in any case: passes too.
    HttpContent piece2 = new DefaultHttpContent(Unpooled.copiedBuffer("data: c\n\n", StandardCharsets.UTF_8));
    ch.writeInbound(head("Identity"), piece2);
    ch.readInbound();
    assertThat((Object) ch.readInbound()).isSameAs(piece2);
    piece2.release();
    ch.writeInbound(LastHttpContent.EMPTY_LAST_CONTENT);
    ch.readInbound();

    // 4. gzip again after identity responses: inflated again (the state is per response).
    ch.writeInbound(head("gzip"), new DefaultHttpContent(Unpooled.wrappedBuffer(gzip("data: d\n\n"))),
        LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat(drainText(ch)).isEqualTo("data: d\n\n");
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  /** The backpressure contract: with auto-read off (the relay paused its upstream), passing pieces asks for no read. */
  @Test
  void aPausedUpstreamStaysPausedAfterIdentityPieces() {
    java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
    EmbeddedChannel ch = new EmbeddedChannel(new io.netty.channel.ChannelOutboundHandlerAdapter() {
      @Override
      public void read(io.netty.channel.ChannelHandlerContext ctx) {
        reads.incrementAndGet();
        ctx.read();
      }
    }, new InflateIfEncoded());
    ch.config().setAutoRead(false);
    ch.writeInbound(head(null));
    reads.set(0);
    for (int i = 0; i < 3; i++) {
      ch.writeInbound(new DefaultHttpContent(Unpooled.copiedBuffer("data: x\n\n", StandardCharsets.UTF_8)));
    }
    assertThat(reads).hasValue(0);
    ch.finishAndReleaseAll();
  }

  private static HttpResponse head(String coding) {
    HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    r.headers().set("content-type", "text/event-stream");
    if (coding != null) {
      r.headers().set("content-encoding", coding);
    }
    return r;
  }

  private static String drainText(EmbeddedChannel ch) {
    StringBuilder text = new StringBuilder();
    for (Object m; (m = ch.readInbound()) != null; ) {
      if (m instanceof HttpContent c) {
        ByteBuf b = c.content();
        text.append(b.toString(StandardCharsets.UTF_8));
        c.release();
      }
    }
    return text.toString();
  }

  private static byte[] gzip(String s) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
      gz.write(s.getBytes(StandardCharsets.UTF_8));
    }
    return bytes.toByteArray();
  }
}
