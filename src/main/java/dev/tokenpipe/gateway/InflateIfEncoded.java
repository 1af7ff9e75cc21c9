package dev.tokenpipe.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpContentDecompressor;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;

/**
 * Netty's streaming {@link HttpContentDecompressor} for a response whose head names a {@code Content-Encoding},
 * and no hop at all for the body pieces of one that does not (what the gateway asks for and nearly always
 * gets: {@code Accept-Encoding: identity}). The decompressor, like any {@code MessageToMessageDecoder}, retains,
 * lists and re-fires every body piece even when it has nothing to inflate; the profile of issue 15 put that
 * pass at about 3% of the event loop per relayed event.
 *
 * <p>Bounded: one body piece (at most one socket read) inflates to at most {@link #MAX_INFLATED_PER_PIECE}; past it
 * the decompressor fails ({@code DecompressionException}) and the attempt fails as an upstream protocol error. The
 * gateway asks for {@code Accept-Encoding: identity}, so only an upstream that ignores it gets here, and without the
 * bound one 32 KiB read of a gzip stream inflated to 8 MiB of events queued for a client that had stopped reading
 * (docs/serve.md, "Memory per stream").
 *
 * <p>Heads always go through the decompressor, which keeps its own state per response (including a
 * {@code 100 Continue}'s); only the body pieces of an identity response skip it. One instance per upstream
 * connection.
 */
final class InflateIfEncoded extends HttpContentDecompressor {
  /** The current response's body is encoded: its pieces go through the decompressor. */
  private boolean encoded;

  /** What one body piece may inflate to: 16 times a 64 KiB read, above what text compresses by. */
  static final int MAX_INFLATED_PER_PIECE = 1 << 20;

  InflateIfEncoded() {
    super(MAX_INFLATED_PER_PIECE);
  }

  /** The current response's body is content-coded (the decompressor took the coding out of the head it passed on). */
  boolean encoded() {
    return encoded;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (msg instanceof HttpResponse head) {
      String coding = head.headers().get(HttpHeaderNames.CONTENT_ENCODING);
      encoded = coding != null && !coding.isBlank()
          && !HttpHeaderValues.IDENTITY.contentEqualsIgnoreCase(coding.strip());
    } else if (!encoded && msg instanceof HttpContent) {
      ctx.fireChannelRead(msg);
      return;
    }
    super.channelRead(ctx, msg);
  }

  /**
   * The decompressor asks for another read after a batch in which it swallowed everything (its own flag, set by
   * each decode); a batch of pieces that skipped it would leave that flag set and turn a paused upstream
   * (auto-read off: backpressure) back on. Such a batch only passes the event on.
   */
  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
    if (encoded) {
      super.channelReadComplete(ctx);
    } else {
      ctx.fireChannelReadComplete();
    }
  }
}
