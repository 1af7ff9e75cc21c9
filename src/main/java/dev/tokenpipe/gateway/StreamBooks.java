package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.EventKind;

/**
 * The books of one proxied request: what its events carried (by the one definition of a generated token,
 * {@link Chunk}), when the first one was read and delivered, and, at the end, its metrics and access-log
 * line. Fed by {@link StreamScanner} (or the translator) after the relay decided what to do with the bytes.
 *
 * <p>Times are {@link System#nanoTime()} instants. TTFT counts from the first <em>generated</em> event of any
 * kind (content, reasoning, tool call), so a reasoning model's TTFT is its first thought, not the end of its
 * thinking; the first content event is recorded beside it.
 */
final class StreamBooks implements StreamScanner.Sink {
  private final GatewayMetrics metrics;
  /** The client's API, the {@code api} label of the per-dialect metrics and the access log's field. */
  private final String api;
  final long startNanos = System.nanoTime();

  private long upstreamRequestNanos;
  private long upstreamTtftNanos = -1;
  private long deliveredTtftNanos = -1;
  private long contentTtftNanos = -1;
  private long lastGeneratedNanos;
  private long generatedEvents;
  private long usageTokens = -1;
  /** A whole answer whose usage could not be read: its tokens are unknown, not 0. */
  private boolean tokensUnknown;
  private boolean terminator;
  /**
   * Events with a choice's finish_reason ({@link EventKind#FINISHED}): one per choice, so with a body ended by its
   * framing the answer is whole once every choice asked for has one.
   */
  private int finishes;
  /** Events came after the terminator: not part of the answer, and a sign the upstream's framing is not ours. */
  private boolean afterTerminator;
  private boolean opaque;
  private String errorJson;
  /** The current attempt's lease: its first-token latency goes to the balancer's scores. */
  private UpstreamSet.Lease lease = UpstreamSet.Lease.NONE;
  private String hedge = "-";

  StreamBooks(GatewayMetrics metrics) {
    this(metrics, Dialects.OPENAI_CHAT.flag());
  }

  /** @param api the {@code api} label ({@link Route#apiLabel}) */
  StreamBooks(GatewayMetrics metrics, String api) {
    this.metrics = metrics;
    this.api = api;
  }

  /** A new attempt's request went upstream: its first token is timed from here. */
  void requestSent(long nanos) {
    requestSent(nanos, UpstreamSet.Lease.NONE);
  }

  /** A new attempt's request went upstream on {@code lease}: its first token is timed from here and reported to it. */
  void requestSent(long nanos, UpstreamSet.Lease lease) {
    this.lease = lease;
    upstreamRequestNanos = nanos;
    terminator = false;
    finishes = 0;
    afterTerminator = false;
    opaque = false;
    errorJson = null;
  }

  @Override
  public void onChunk(Chunk chunk, long readNanos) {
    if (pastTerminator()) {
      return;
    }
    String error = chunk.error();
    if (error != null && errorJson == null) {
      errorJson = error;
    }
    account(chunk.kind(), chunk.plainToken(), readNanos);
  }

  @Override
  public void onEvent(long kind, long readNanos) {
    if (!pastTerminator()) {
      account(kind, false, readNanos);
    }
  }

  /**
   * An event after the upstream's own end ({@code [DONE]}, {@code message_stop}, ...) in the same read, as a broken
   * upstream may send: relayed with its read, but no part of the answer, so neither its tokens, usage nor error are
   * booked (they were counted as generated tokens, with an ITL). A later read never gets here: the stream ends at
   * its terminator.
   */
  private boolean pastTerminator() {
    if (!terminator) {
      return false;
    }
    metrics.events.inc();
    afterTerminator = true;
    return true;
  }

  private void account(long kind, boolean plainToken, long readNanos) {
    metrics.events.inc();
    long usage = EventKind.usage(kind);
    if (usage >= 0) {
      usageTokens = usage;
    }
    if (EventKind.has(kind, EventKind.TERMINATOR)) {
      terminator = true;
    }
    if (EventKind.has(kind, EventKind.FINISHED)) {
      finishes++;
    }
    if (!Chunk.isContent(kind, plainToken)) {
      return;
    }
    generatedEvents++;
    if (upstreamTtftNanos < 0) {
      upstreamTtftNanos = readNanos - upstreamRequestNanos;
      metrics.upstreamTtft.observe(upstreamTtftNanos / 1e9);
      lease.firstToken(upstreamTtftNanos);
    } else {
      metrics.itl.observe((readNanos - lastGeneratedNanos) / 1e9);
    }
    if (contentTtftNanos < 0 && Chunk.hasText(kind, plainToken)) {
      contentTtftNanos = readNanos - startNanos;
      metrics.contentTtft.observe(contentTtftNanos / 1e9);
    }
    lastGeneratedNanos = readNanos;
  }

  /** The first generated event's bytes were handed to the client (the flush that carries them returned). */
  void delivered() {
    if (deliveredTtftNanos < 0 && upstreamTtftNanos >= 0) {
      deliveredTtftNanos = System.nanoTime() - startNanos;
      metrics.deliveredTtft.labelValues(api).observe(deliveredTtftNanos / 1e9);
    }
  }

  @Override
  public void onOpaqueEvent() {
    opaque = true;
  }

  /** This attempt sent an event the gateway cannot read: whether it is output is unknown, so it is not held. */
  boolean sawOpaque() {
    return opaque;
  }

  /** When the current attempt's request went upstream ({@link System#nanoTime()}). */
  long requestSentNanos() {
    return upstreamRequestNanos;
  }

  /** Request written to the upstream that served → first generated event read; -1 if none. */
  long upstreamTtftNanos() {
    return upstreamTtftNanos;
  }

  /** How hedging went, for the access log: {@code -} (not hedged), {@code first}, {@code second}, ... */
  void hedged(String outcome) {
    hedge = outcome;
  }

  boolean sawGenerated() {
    return generatedEvents > 0;
  }

  /** The upstream's own end-of-stream event ({@code [DONE]}, Ollama's {@code "done":true}, ...) was read. */
  boolean sawTerminator() {
    return terminator;
  }

  /**
   * The model said each of {@code choices} answers is finished ({@link EventKind#FINISHED}) in this attempt: for a
   * server that sends no terminator, the proof of a whole stream when its body ends by its own framing. One finish
   * with {@code "n": 2} leaves the other choice cut however cleanly the body ended.
   */
  boolean sawFinish(int choices) {
    return finishes >= choices;
  }

  /** Events followed the terminator in this attempt ({@link #pastTerminator}). */
  boolean sawEventsAfterTerminator() {
    return afterTerminator;
  }

  /** The first in-band error object the upstream sent in this attempt, or null. */
  String upstreamError() {
    return errorJson;
  }

  /** A whole (non-stream) answer ended: {@code tokens} from its usage ({@link AnswerUsage}), -1 when unknown. */
  void answerTokens(long tokens) {
    usageTokens = tokens;
    tokensUnknown = tokens < 0;
  }

  /**
   * Metrics and the access-log line; call once, when the request ended.
   *
   * @param log where the access-log line goes ({@link GatewayContext#accessLog()})
   */
  void finish(AccessLog log, String method, String path, int status, String upstream, String outcome, ErrorKind errorKind) {
    long e2e = System.nanoTime() - startNanos;
    long tokens = tokensUnknown ? -1 : usageTokens >= 0 ? usageTokens : generatedEvents;
    metrics.e2e.observe(e2e / 1e9);
    if (deliveredTtftNanos >= 0 && tokens > 1) {
      metrics.tpot.observe((e2e - deliveredTtftNanos) / 1e9 / (tokens - 1));
    }
    if (tokens >= 0) {
      metrics.tokens.labelValues(api).inc(tokens);
    }
    String kind = outcome.startsWith("error:") ? "error" : outcome;
    metrics.requests.labelValues(api, kind).inc();
    if (errorKind != null) {
      metrics.errors.labelValues(errorKind.label()).inc();
    }
    log.write(new AccessLog.Entry(method, path, api, status, upstream, upstreamTtftNanos, deliveredTtftNanos,
        contentTtftNanos, tokens, e2e, outcome, hedge));
  }
}
