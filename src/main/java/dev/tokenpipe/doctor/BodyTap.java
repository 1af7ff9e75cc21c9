package dev.tokenpipe.doctor;

import dev.tokenpipe.dialect.Framing;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.compression.JdkZlibDecoder;
import io.netty.handler.codec.compression.ZlibWrapper;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.Locale;

/**
 * Sits between the HTTP codec and the shared client's exchange handler on a doctor connection. It records the
 * response head as it arrived (version, every header, {@code Content-Encoding} untouched), decompresses a gzip or
 * deflate body <em>on the side</em> so the exchange handler can still parse events (the socket reads were already
 * timed, compressed, by the client's read clock), and tells the recorder whether each read ended inside an SSE
 * event, which is how Nagle stalls show.
 *
 * <p>Deliberately not Netty's HttpContentDecompressor: it rewrites the head, and doctor must report what the
 * server really sent.
 */
final class BodyTap extends ChannelInboundHandlerAdapter {
  private final ResponseRecorder recorder;
  private EmbeddedChannel inflater;
  private boolean undecodable;
  private boolean sse;
  // SSE boundary scanner state (WHATWG: CR, LF or CRLF end a line; an empty line ends an event).
  private boolean prevCr;
  private int lineLength;
  private boolean inEvent;

  BodyTap(ResponseRecorder recorder) {
    this.recorder = recorder;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpResponse res && res.status().code() != 100) {
      onHead(res);
    }
    if (!(msg instanceof HttpContent content)) {
      ctx.fireChannelRead(msg);
      return;
    }
    boolean last = content instanceof LastHttpContent;
    if (inflater == null && !undecodable) {
      scan(content.content());
      ctx.fireChannelRead(msg);
      return;
    }
    ByteBuf decoded = ctx.alloc().buffer();
    try {
      if (!undecodable) {
        inflater.writeInbound(content.content().retain());
        if (last) {
          inflater.finish();
        }
        for (ByteBuf b; (b = inflater.readInbound()) != null; ) {
          decoded.writeBytes(b);
          b.release();
        }
      }
    } catch (RuntimeException e) {
      recorder.undecodable("cannot decompress the " + recorder.contentEncoding() + " body: " + e.getMessage());
      undecodable = true;
    } finally {
      content.release();
    }
    scan(decoded);
    ctx.fireChannelRead(last ? new DefaultLastHttpContent(decoded) : new DefaultHttpContent(decoded));
  }

  private void onHead(HttpResponse res) {
    recorder.head(res);
    sse = Framing.of(res.headers()) == Framing.SSE;
    String enc = String.valueOf(res.headers().get(HttpHeaderNames.CONTENT_ENCODING, "")).trim().toLowerCase(Locale.ROOT);
    closeInflater();
    switch (enc) {
      case "", "identity" -> {}
      case "gzip", "x-gzip" -> inflater = new EmbeddedChannel(new JdkZlibDecoder(ZlibWrapper.GZIP));
      case "deflate" -> inflater = new EmbeddedChannel(new JdkZlibDecoder(ZlibWrapper.ZLIB_OR_NONE));
      default -> {
        undecodable = true;
        recorder.undecodable("the body is compressed with '" + enc + "', which doctor cannot decode (it asks for gzip or deflate)");
      }
    }
  }

  /** Tracks SSE event boundaries over decoded body bytes and marks the current read. */
  private void scan(ByteBuf buf) {
    if (!sse || inflater != null || undecodable) {
      return; // boundaries of compressed bytes say nothing about the sender's writes
    }
    for (int i = buf.readerIndex(); i < buf.writerIndex(); i++) {
      byte b = buf.getByte(i);
      if (b == '\n' && prevCr) {
        prevCr = false;
        continue;
      }
      prevCr = b == '\r';
      if (b == '\n' || b == '\r') {
        if (lineLength == 0) {
          inEvent = false;
        }
        lineLength = 0;
      } else {
        lineLength++;
        inEvent = true;
      }
    }
    recorder.midEvent(inEvent);
  }

  private void closeInflater() {
    if (inflater != null) {
      inflater.finishAndReleaseAll();
      inflater = null;
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    closeInflater();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closeInflater();
    ctx.fireChannelInactive();
  }
}
