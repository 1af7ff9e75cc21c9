package dev.tokenpipe.gateway;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpClientCodec;

/**
 * The pipeline of an upstream connection, in the order a response byte passes through it. Reading this
 * method is reading the upstream half of the architecture. One instance per upstream (the TLS handler
 * needs its host and port), shared by all of that upstream's connections.
 */
@ChannelHandler.Sharable
final class UpstreamInitializer extends ChannelInitializer<Channel> {
  private final Upstream upstream;
  /** The gateway's TLS client; null for an {@code http://} upstream. */
  private final UpstreamTls tls;

  UpstreamInitializer(Upstream upstream, UpstreamTls tls) {
    if (upstream.tls() && tls == null) {
      throw new IllegalArgumentException("no TLS client for " + upstream.name());
    }
    this.upstream = upstream;
    this.tls = upstream.tls() ? tls : null;
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelPipeline p = ch.pipeline();
    // https:// only: TLS, first, so everything after it sees plaintext. SNI and hostname verification use
    // the upstream's host (UpstreamTls). Each TLS record is decrypted as soon as it is complete and the
    // plaintext of a socket read goes on at once; our writes (the request) are wrapped on every flush.
    // The pool hands the connection out only after the handshake succeeded.
    if (tls != null) {
      p.addLast("tls", tls.newHandler(ch.alloc(), upstream));
    }
    // HTTP/1.1 framing. The decoder hands body bytes on as they are read (a chunk per socket read, split
    // at 8 KiB), never waiting for a whole HTTP chunk or message.
    p.addLast(HTTP, new HttpClientCodec());
    // We ask for Accept-Encoding: identity. If the upstream compresses anyway, inflate each arriving
    // piece at once (streaming inflate, no aggregation) so events still leave one by one. An identity body
    // skips the decompressor.
    p.addLast(INFLATE, new InflateIfEncoded());
    // Deliberately absent: HttpObjectAggregator (would hold the whole stream until its end) and
    // FlushConsolidationHandler (would batch flushes across events).
    p.addLast(RELAY, new UpstreamHandler());
  }

  private static final String HTTP = "http";
  private static final String INFLATE = "inflate";
  private static final String RELAY = "relay";

  /**
   * Takes the HTTP handlers out right after a response head, so that the body reaches the relay as the socket
   * read it (a chunked identity stream the exchange decodes in place, {@link dev.tokenpipe.http.ChunkedBody}).
   * The codec hands on what it read past the head as one buffer when it is removed (as on an HTTP upgrade),
   * at once: the caller must be ready for body bytes before this returns. Call on the channel's loop, from
   * the head's own {@code channelRead}.
   *
   * @return false, changing nothing, when the body is content-coded: the decompressor stays in to inflate it (it
   *     also took the coding out of the head the exchange saw)
   */
  static boolean readBodyRaw(ChannelPipeline p) {
    if (!(p.get(INFLATE) instanceof InflateIfEncoded inflate) || inflate.encoded()) {
      return false;
    }
    p.remove(INFLATE);
    p.remove(HTTP);
    return true;
  }

  /** Puts fresh HTTP handlers back after a raw body ended, so the connection can carry the next exchange. */
  static void readHttpAgain(ChannelPipeline p) {
    p.addBefore(RELAY, HTTP, new HttpClientCodec());
    p.addBefore(RELAY, INFLATE, new InflateIfEncoded());
  }
}
