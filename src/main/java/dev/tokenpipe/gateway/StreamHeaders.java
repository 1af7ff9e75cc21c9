package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Framing;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The one place that decides which headers cross the gateway, both ways. Tests point here.
 *
 * <p>Streams (SSE and NDJSON) always get:
 * <ul>
 *   <li>{@code Content-Type: text/event-stream; charset=utf-8} for SSE (the upstream's type for NDJSON);
 *   <li>{@code Cache-Control: no-cache, no-transform}: caches must not hold it, and {@code no-transform}
 *       asks CDNs (Cloudflare, Traefik/Caddy with zstd) not to compress it;
 *   <li>{@code X-Accel-Buffering: no}: NGINX (and ingress-nginx) in front of us turns off proxy buffering
 *       for this response, which also makes its gzip flush per event;
 *   <li>no {@code Content-Length} and no {@code Content-Encoding}: the body is chunked, one chunk per
 *       event, and never compressed, whatever the client's {@code Accept-Encoding} says (a compressor
 *       holds bytes until its window fills; there is no compressor in our pipeline at all).
 * </ul>
 *
 * <p>Hop-by-hop headers (RFC 9110 §7.6.1: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization, and every header named in
 * Connection) are removed in both directions; each hop sets its own framing.
 */
final class StreamHeaders {
  static final String SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8";
  static final String CACHE_CONTROL = "no-cache, no-transform";
  static final String X_ACCEL_BUFFERING = "X-Accel-Buffering";

  private static final List<String> HOP_BY_HOP = List.of(
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
      "proxy-authenticate", "proxy-authorization");

  private StreamHeaders() {}

  /**
   * The head of a streamed response.
   *
   * @param upstream the upstream's response headers to carry over (end-to-end ones only), or null when
   *     the head goes out before the upstream answered (the head wait expired)
   * @param status the upstream's status (a 2xx), or 200 for the gateway's own head
   */
  static HttpResponse streamHead(HttpHeaders upstream, HttpResponseStatus status, Framing framing, boolean keepAlive) {
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
    HttpHeaders h = head.headers();
    String contentType = SSE_CONTENT_TYPE;
    if (upstream != null) {
      h.add(upstream);
      removeHopByHop(h);
      if (framing == Framing.NDJSON && upstream.contains(HttpHeaderNames.CONTENT_TYPE)) {
        contentType = upstream.get(HttpHeaderNames.CONTENT_TYPE);
      }
    }
    h.remove(HttpHeaderNames.CONTENT_LENGTH);
    h.remove(HttpHeaderNames.CONTENT_ENCODING);
    h.remove(HttpHeaderNames.CONTENT_MD5);
    h.set(HttpHeaderNames.CONTENT_TYPE, contentType);
    h.set(HttpHeaderNames.CACHE_CONTROL, CACHE_CONTROL);
    h.set(X_ACCEL_BUFFERING, "no");
    HttpUtil.setTransferEncodingChunked(head, true);
    HttpUtil.setKeepAlive(head, keepAlive);
    return head;
  }

  /**
   * The head of a non-streamed response (JSON answers, upstream errors): status and end-to-end headers
   * as the upstream sent them. Keeps {@code Content-Length} when the upstream gave one (the decompressor
   * removes it when it inflates), otherwise chunked.
   */
  static HttpResponse passthroughHead(HttpResponse upstream, boolean keepAlive) {
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, upstream.status());
    HttpHeaders h = head.headers();
    h.add(upstream.headers());
    removeHopByHop(h);
    if (bodyless(upstream.status())) {
      // RFC 9110 §8.6: a 204 never has a length; a 304 may carry the 200's, so the upstream's stays. Neither gets
      // a chunked coding it did not have (RFC 9112 §6.1).
      if (upstream.status().code() == 204) {
        h.remove(HttpHeaderNames.CONTENT_LENGTH);
      }
    } else if (!h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
      HttpUtil.setTransferEncodingChunked(head, true);
    }
    HttpUtil.setKeepAlive(head, keepAlive);
    return head;
  }

  /**
   * A response that has no body whatever its head says (RFC 9110 §15.3.5, §15.4.5; RFC 9112 §6.3): its head is
   * the whole answer, relayed as the upstream sent it.
   */
  static boolean bodyless(HttpResponseStatus status) {
    return status.code() == 204 || status.code() == 304;
  }

  /**
   * The upstream's end-to-end headers ({@code Retry-After}, {@code x-request-id}, rate limits, CORS, ...)
   * onto a response whose body the gateway wrote itself: hop-by-hop headers and those that describe the
   * upstream's body (length, type, encoding) stay behind, and headers already set win.
   */
  static void copyEndToEnd(HttpHeaders upstream, HttpHeaders into) {
    HttpHeaders copy = new io.netty.handler.codec.http.DefaultHttpHeaders().add(upstream);
    removeHopByHop(copy);
    for (CharSequence body : BODY_HEADERS) {
      copy.remove(body);
    }
    java.util.Set<String> preset = new java.util.HashSet<>();
    into.names().forEach(n -> preset.add(n.toLowerCase(Locale.ROOT)));
    for (java.util.Map.Entry<String, String> e : copy) {
      if (!preset.contains(e.getKey().toLowerCase(Locale.ROOT))) {
        into.add(e.getKey(), e.getValue());
      }
    }
  }

  private static final List<CharSequence> BODY_HEADERS = List.of(HttpHeaderNames.CONTENT_LENGTH,
      HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_ENCODING, HttpHeaderNames.CONTENT_MD5,
      HttpHeaderNames.CONTENT_RANGE, HttpHeaderNames.ETAG, HttpHeaderNames.LAST_MODIFIED);

  /**
   * Request headers toward the upstream: end-to-end headers of the client, minus hop-by-hop ones, with
   * {@code Accept-Encoding: identity} (gateways' bug trackers are full of streams that gzip turned into
   * one burst at the end), our own Host, and the credential policy applied.
   *
   * @param upstreamKey key to send instead of the client's, in the way {@code dialect} sends one
   *     ({@code Authorization: Bearer}, or Anthropic's {@code x-api-key} with {@code anthropic-version} unless
   *     the client named a version), or null
   * @param keepClientAuth whether the client's credentials may pass (false when they were a gateway key)
   */
  static void toUpstream(HttpHeaders h, Upstream upstream, String upstreamKey, Dialect dialect, boolean keepClientAuth) {
    removeHopByHop(h);
    h.remove(HttpHeaderNames.CONTENT_LENGTH);
    // The body is already complete here (the aggregator answered any 100-continue); an Expect header
    // would make the upstream send a 1xx head we do not want to relay.
    h.remove(HttpHeaderNames.EXPECT);
    h.set(HttpHeaderNames.HOST, upstream.authority());
    h.set(HttpHeaderNames.ACCEPT_ENCODING, HttpHeaderValues.IDENTITY);
    if (upstreamKey != null || !keepClientAuth) {
      // Both ways a client can carry a key: a gateway key must never reach the upstream.
      h.remove(HttpHeaderNames.AUTHORIZATION);
      h.remove(ApiKeys.X_API_KEY);
    }
    if (upstreamKey != null) {
      for (Map.Entry<String, String> header : dialect.authHeaders(upstreamKey)) {
        if (!header.getKey().equalsIgnoreCase("anthropic-version") || !h.contains(header.getKey())) {
          h.set(header.getKey(), header.getValue());
        }
      }
    }
    HttpUtil.setKeepAlive(h, HttpVersion.HTTP_1_1, true);
  }

  /** RFC 9110 §7.6.1: drop the fixed hop-by-hop set and every header the Connection header names. */
  static void removeHopByHop(HttpHeaders h) {
    List<String> named = new ArrayList<>();
    for (String value : h.getAll(HttpHeaderNames.CONNECTION)) {
      for (String token : value.split(",")) {
        String t = token.trim().toLowerCase(Locale.ROOT);
        if (!t.isEmpty()) {
          named.add(t);
        }
      }
    }
    for (String name : named) {
      h.remove(name);
    }
    for (String name : HOP_BY_HOP) {
      h.remove(name);
    }
  }
}
