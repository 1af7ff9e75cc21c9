package dev.tokenpipe.gateway;

import dev.tokenpipe.http.ConnectionTimeouts;
import dev.tokenpipe.http.Http10Framing;
import dev.tokenpipe.http.InTurnAggregator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpServerCodec;

/**
 * The pipeline of a client connection, in the order a request byte passes through it. A response byte
 * passes, in reverse, through {@code cors} (head only, when on), {@code http10} (head and the close, for
 * HTTP/1.0 clients), {@code http} (the HTTP/1.1 encoder, which frames each write as one chunk) and then
 * the socket: none of them holds bytes, and the relay writes and flushes every event itself.
 */
@ChannelHandler.Sharable
final class GatewayInitializer extends ChannelInitializer<Channel> {
  private final GatewayContext gateway;
  /** Claims the start-up warm-up's own connections; null when there is none (tests). */
  private final Warmup warmup;
  private final CorsPolicy cors;

  GatewayInitializer(GatewayContext gw) {
    this(gw, null);
  }

  GatewayInitializer(GatewayContext gw, Warmup warmup) {
    this.gateway = gw;
    this.warmup = warmup;
    this.cors = CorsPolicy.of(gw.config().corsOrigins());
  }

  @Override
  protected void initChannel(Channel ch) {
    // The connection's books, limits and log: the gateway's, or the warm-up's own for a connection it opened.
    GatewayContext gw = warmup == null ? gateway : warmup.contextOf(ch);
    ChannelPipeline p = ch.pipeline();
    // Its 408 is in the shape of the request's API: Route.dialect, as for every error GatewayHandler sends
    // (the 413 and 417 of the requests the aggregator refuses among them).
    ConnectionTimeouts timeouts = new ConnectionTimeouts(gw.config().requestReadTimeout().toNanos(),
        gw.config().requestReadTimeout().toNanos(), new ConnectionTimeouts.Listener() {
          @Override
          public void idleClosed() { }

          @Override
          public void requestTimedOut() {
            gw.metrics().rejected.labelValues("408").inc();
          }
        }, Route::dialect);
    p.addLast("request-timeout", timeouts);
    p.addLast("http", new HttpServerCodec());
    // Right after the codec: they see every request head and every response, also the aggregator's own.
    p.addLast("http10", new Http10Framing());
    if (cors.enabled()) {
      p.addLast("cors", new CorsHandler(cors));
    }
    // Before the aggregator, which holds a head until its body is whole: tells the clock whose body it awaits.
    p.addLast("request-target", timeouts.headWatch());
    // Request bodies only (inbound): a chat request is small and must be whole to be routed and retried.
    // Oversized ones, and an Expect other than 100-continue, are passed on for the handler to refuse in their
    // turn (413, 417). Responses never pass through an aggregator.
    // Its 100 Continue waits for the request's turn, which the handler knows.
    GatewayHandler handler = new GatewayHandler(gw, cors);
    p.addLast("request-body", new InTurnAggregator(gw.config().maxBodyBytes(), handler::answeredAll));
    // Deliberately absent:
    //   HttpContentCompressor     - a compressor holds bytes until its window fills: streams arrive in bursts
    //   FlushConsolidationHandler - batches flushes across events (group commit, DESIGN.md)
    //   ChunkedWriteHandler       - not needed: each event is one write
    p.addLast("gateway", handler);
  }
}
