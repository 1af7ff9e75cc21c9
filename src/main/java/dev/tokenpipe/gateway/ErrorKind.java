package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.openai.ApiError;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.time.Duration;

/**
 * Why a proxied request failed: the one table that decides the HTTP status (before the head went out),
 * the OpenAI error code (in the JSON body or the in-band {@code event: error}), the message, and the
 * label of the {@code tokenpipe_gateway_errors} metric and the access log's outcome.
 */
enum ErrorKind {
  NO_UPSTREAM(HttpResponseStatus.SERVICE_UNAVAILABLE, "upstream_unavailable", "No healthy upstream is available."),
  UPSTREAM_REFUSED(HttpResponseStatus.BAD_GATEWAY, "upstream_unavailable", "The upstream refused the connection."),
  UPSTREAM_TLS(HttpResponseStatus.BAD_GATEWAY, "upstream_tls_error", "The TLS handshake with the upstream failed."),
  UPSTREAM_CONNECT_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "upstream_timeout", "Connecting to the upstream timed out."),
  UPSTREAM_STATUS(HttpResponseStatus.BAD_GATEWAY, "upstream_error", "The upstream answered with an error."),
  UPSTREAM_CUT(HttpResponseStatus.BAD_GATEWAY, "upstream_cut", "The upstream closed the stream before it ended."),
  UPSTREAM_PROTOCOL(HttpResponseStatus.BAD_GATEWAY, "upstream_protocol_error", "The upstream's response was not valid HTTP."),
  INVALID_SSE(HttpResponseStatus.BAD_GATEWAY, "upstream_invalid_sse", "The upstream sent an invalid event stream."),
  FIRST_TOKEN_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "first_token_timeout", "The upstream sent no token in time."),
  UPSTREAM_IDLE_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "upstream_idle_timeout", "The upstream went silent."),
  /**
   * No whole response head within --upstream-idle-timeout of the request. Not "silent": the HTTP codec hands on
   * nothing before a head is whole, so the head may have been arriving slowly all along ({@link #headTimeout}).
   */
  UPSTREAM_HEAD_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "upstream_head_timeout",
      "The upstream did not complete its response head in time."),
  SLOW_CLIENT(HttpResponseStatus.SERVICE_UNAVAILABLE, "slow_client", "The client did not read the stream in time."),
  SHUTDOWN(HttpResponseStatus.SERVICE_UNAVAILABLE, "gateway_shutdown", "The gateway is shutting down."),
  /** Our own socket failed (out of file descriptors, ports or buffers): not the upstream's fault ({@link ConnectFailure}). */
  GATEWAY_OVERLOADED(HttpResponseStatus.SERVICE_UNAVAILABLE, "gateway_overloaded",
      "The gateway is out of local resources (open files, ports or memory); retry shortly."),
  INTERNAL(HttpResponseStatus.INTERNAL_SERVER_ERROR, "gateway_error", "Internal error in the gateway.");

  final HttpResponseStatus status;
  final String code;
  final String message;

  ErrorKind(HttpResponseStatus status, String code, String message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  ApiError apiError() {
    return ApiError.server(status, message, code);
  }

  /** This kind's error with a more specific message. */
  ApiError apiError(String specificMessage) {
    return ApiError.server(status, specificMessage, code);
  }

  /** {@link #UPSTREAM_HEAD_TIMEOUT}'s error, naming the deadline the head missed. */
  static ApiError headTimeout(Duration deadline) {
    return UPSTREAM_HEAD_TIMEOUT.apiError("The upstream did not complete its response head in " + Durations.format(deadline) + ".");
  }

  /**
   * {@link #INVALID_SSE}'s error for a whole body where a stream was asked for, naming what the upstream sent and
   * what the client's API streams. The SDKs read any 2xx to a stream request as an event stream: a page or a whole
   * JSON answer has no event in it, and their loop would end cleanly with nothing.
   */
  static ApiError notAStream(int status, String contentType, Framing expected) {
    String sent = contentType == null ? "a " + status + " body without a Content-Type"
        : "a whole " + status + " " + UpstreamErrorBody.clip(contentType.strip(), 100) + " body";
    String wanted = expected == Framing.NDJSON ? "an NDJSON stream (application/x-ndjson)" : "an event stream (text/event-stream)";
    return INVALID_SSE.apiError("The upstream answered a streaming request with " + sent + ", not " + wanted + ".");
  }

  /**
   * {@link #INVALID_SSE}'s error for an event stream where a whole answer was asked for ({@code "stream": false}, or
   * none): the SDKs' non-stream call returns its text as the answer, with none of the answer's fields.
   */
  static ApiError notAWholeAnswer(int status) {
    return INVALID_SSE.apiError("The upstream answered a request that did not ask for a stream with a " + status
        + " event stream (text/event-stream), not a whole answer.");
  }

  /** The {@code Retry-After} seconds of this kind's error response, or null when retrying soon would not help. */
  String retryAfter() {
    return this == GATEWAY_OVERLOADED ? "1" : null;
  }

  /**
   * What an upstream connection that closed under a stream means: a decoder that failed on its bytes (a body
   * that inflated past its bound, broken TLS) says they were wrong, a protocol error; anything else is a cut.
   */
  static ErrorKind ofUpstreamClose(Throwable cause) {
    return cause instanceof DecoderException ? UPSTREAM_PROTOCOL : UPSTREAM_CUT;
  }

  /** Metric label and access-log outcome suffix, e.g. {@code upstream_cut}. */
  String label() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
