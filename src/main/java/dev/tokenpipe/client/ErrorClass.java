package dev.tokenpipe.client;

/**
 * Why an exchange failed, in the classes a user acts on differently. The one place that names them: bench
 * counts by {@link #key}, chat and doctor print {@link #description}.
 */
public enum ErrorClass {
  /** No TCP (or TLS) connection: refused, unreachable, DNS, connect timeout. */
  CONNECT("connect", "could not connect"),
  /** The per-request deadline passed before the response ended (a stalled stream, a slow server). */
  TIMEOUT("timeout", "timed out"),
  /** The server answered with a status >= 400; counted per code as {@code http_<code>}. */
  HTTP_STATUS("http", "HTTP error status"),
  /**
   * The stream carried an error event: an SSE event named {@code error} (OpenAI, Anthropic, Responses), a JSON
   * {@code "error"} object or string (OpenAI, Ollama), or {@code response.failed} (Responses).
   */
  STREAM_ERROR("stream_error", "error event in the stream"),
  /**
   * The stream ended (connection closed or body ended) without its API's terminator: {@code data: [DONE]},
   * {@code message_stop}, {@code response.completed}/{@code .incomplete}, Ollama's {@code "done": true}.
   */
  TRUNCATED("truncated", "stream ended without its end event"),
  /** A stream was asked for, but the response was not {@code text/event-stream} or NDJSON. */
  NOT_STREAM("not_stream", "response is not a stream"),
  /** The body claimed to be SSE but could not be parsed (e.g. an over-long line). */
  INVALID_SSE("invalid_sse", "invalid SSE"),
  /**
   * The connection failed after it was established but before a response head arrived (reset, closed), or the body
   * did not end after the stream's end event (no last chunk, short of its Content-Length, broken framing).
   */
  IO("io", "connection failed");

  private final String key;
  private final String description;

  ErrorClass(String key, String description) {
    this.key = key;
    this.description = description;
  }

  /** Stable machine name used in JSON reports; HTTP errors add their code, see {@link ExchangeOutcome#errorKey()}. */
  public String key() {
    return key;
  }

  public String description() {
    return description;
  }
}
