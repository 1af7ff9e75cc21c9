package dev.tokenpipe.sim;

import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEncoder;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.random.RandomGenerator;

/**
 * One simulated generation streamed as server-sent events, driven by its event loop's
 * {@link PacingScheduler} (never a thread per stream). Event times are absolute targets, so
 * scheduling delays do not accumulate into drift; how far from its target each event fires is
 * recorded as pacing error.
 *
 * <p>Lifecycle: {@code WAITING_FIRST_TOKEN -> STREAMING -> FINISHED}, or {@code CANCELLED} when
 * the client goes away, {@code DROPPED} when a fault cuts the connection, {@code ERRORED} when the
 * {@code error_after} fault ends it with an in-band error event, {@code SHUT_DOWN} when the server's drain
 * period ran out (in-band error event, then the terminating chunk). In-band errors are in the API's own
 * shape ({@link dev.tokenpipe.dialect.Dialect#inBandError}).
 *
 * <p>Backpressure, as a real server's: when its connection is not writable (the client does not read
 * and the outbound buffer passed the high-water mark) the stream generates nothing and leaves the
 * scheduler; it resumes when the connection drains below the low-water mark, with the next event due
 * at once and the intervals measured from there. So a stream holds at most the high-water mark plus
 * one event in memory, however slowly its client reads.
 *
 * <p>Shape: the API's opening events go out at once with the head (chat's assistant-role chunk,
 * Anthropic's {@code message_start}, Responses' {@code response.created}, ...: the first byte comes before
 * the first token, as with real servers); the first token follows after the TTFT; then every {@code burst}
 * intervals one event with {@code burst} tokens, in the order of the {@link OutputPlan} (reasoning, content,
 * tool call; an event never mixes parts, so a burst may end early at a change of part). What the events
 * look like is the API's {@link StreamFormat}; every event it writes carries an emission stamp.
 */
final class TokenStream implements PacingScheduler.Paced, SimResponse, StreamFormat.Sink {
  enum State { WAITING_FIRST_TOKEN, STREAMING, FINISHED, CANCELLED, DROPPED, ERRORED, SHUT_DOWN }

  private final ChannelHandlerContext ctx;
  private final SimRequest request;
  private final StreamProfile profile;
  private final StreamFormat format;
  private final OutputPlan plan;
  private final SimMetrics metrics;
  private final RandomGenerator random;
  private final boolean keepAlive;
  private final Runnable onEnd;
  private final int totalTokens;

  private State state = State.WAITING_FIRST_TOKEN;
  private long textPosition;
  private int tokensSent;
  private long eventSeq;
  private long dueNanos;
  private boolean stalled;
  /** Not writable when due: out of the scheduler until {@link #onWritable()}. */
  private boolean paused;

  TokenStream(ChannelHandlerContext ctx, SimRequest request, SimMetrics metrics, RandomGenerator random,
      boolean keepAlive, Runnable onEnd) {
    this.ctx = ctx;
    this.request = request;
    this.profile = request.profile();
    this.metrics = metrics;
    this.random = random;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
    this.textPosition = random.nextInt(TokenText.get().size());
    this.plan = request.plan(textPosition);
    this.format = request.api().format(request, plan, System.currentTimeMillis() / 1000);
    this.totalTokens = plan.total();
  }

  State state() {
    return state;
  }

  void start() {
    metrics.started.inc();
    metrics.active.inc();
    // Like vLLM and FastAPI: content type only. Anti-buffering headers are the gateway's job,
    // and their absence here is what doctor and the demo show.
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    HttpUtil.setTransferEncodingChunked(head, true);
    HttpUtil.setKeepAlive(head, keepAlive);
    ctx.write(head);
    format.open(this);
    flushOrHold();
    dueNanos = System.nanoTime() + profile.ttft().sampleNanos(random);
    schedule();
  }

  private void schedule() {
    PacingScheduler.of(ctx.executor()).add(this);
  }

  @Override
  public long dueNanos() {
    return dueNanos;
  }

  @Override
  public boolean isLive() {
    return !isOver();
  }

  @Override
  public void fire() {
    if (!ctx.channel().isWritable()) {
      paused = true;
      metrics.pauses.inc();
      return;
    }
    metrics.recordPacingError(Math.abs(System.nanoTime() - dueNanos));
    boolean first = state == State.WAITING_FIRST_TOKEN;
    state = State.STREAMING;
    int n = first ? 1 : profile.burst();
    n = Math.min(n, plan.partEnd(tokensSent) - tokensSent);
    if (profile.dropAfter() >= 0) {
      n = Math.min(n, profile.dropAfter() - tokensSent);
      if (n <= 0) {
        drop();
        return;
      }
    }
    if (profile.errorAfter() >= 0) {
      n = Math.min(n, profile.errorAfter() - tokensSent);
      if (n <= 0) {
        inBandError();
        return;
      }
    }
    if (n > 0) {
      sendTokens(n);
    }
    if (tokensSent >= totalTokens) {
      finish();
      return;
    }
    long gap = 0;
    int nextEventTokens = Math.min(profile.burst(), plan.partEnd(tokensSent) - tokensSent);
    for (int i = 0; i < nextEventTokens; i++) {
      gap += profile.itl().sampleNanos(random);
    }
    if (profile.stallAfter() >= 0 && !stalled && tokensSent >= profile.stallAfter()) {
      stalled = true;
      gap += profile.stallNanos();
    }
    dueNanos += gap;
    schedule();
  }

  private void sendTokens(int n) {
    TokenText text = TokenText.get();
    String escaped;
    String raw;
    if (n == 1) {
      escaped = text.jsonToken(textPosition);
      raw = text.token(textPosition);
    } else {
      StringBuilder e = new StringBuilder();
      StringBuilder r = new StringBuilder();
      for (int i = 0; i < n; i++) {
        e.append(text.jsonToken(textPosition + i));
        r.append(text.token(textPosition + i));
      }
      escaped = e.toString();
      raw = r.toString();
    }
    OutputPlan.Part part = plan.partAt(tokensSent);
    textPosition += n;
    tokensSent += n;
    format.tokens(this, part, escaped, raw, n);
    flushOrHold();
    metrics.tokens.inc(n);
    metrics.events.inc();
  }

  private void finish() {
    format.finish(this);
    end(State.FINISHED);
    metrics.completed.inc();
    endBody();
  }

  /** The terminating chunk: the response is complete as HTTP (whether its stream was is the events' matter). */
  private void endBody() {
    if (keepAlive) {
      ctx.write(LastHttpContent.EMPTY_LAST_CONTENT);
      flushOrHold();
    } else {
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
    }
    onEnd.run();
  }

  /**
   * Injected fault ({@code error_after}): the model fails mid-stream, as real servers report it: an in-band
   * error event in the API's shape instead of the rest, then the terminating chunk (no [DONE], no
   * message_stop, no response.completed).
   */
  private void inBandError() {
    end(State.ERRORED);
    metrics.erroredInBand.inc();
    writeError(ApiError.server(io.netty.handler.codec.http.HttpResponseStatus.INTERNAL_SERVER_ERROR,
        "Injected fault: the simulated model failed after " + tokensSent + " tokens", "injected_fault"));
    endBody();
  }

  /** The API's in-band error event, stamped like every other event. */
  private void writeError(ApiError error) {
    String event = request.api().dialect.inBandError(error);
    // The stamp goes last, so the event still begins "event: error\ndata: " as the API's own do.
    String stamped = event.substring(0, event.length() - 1) + "id: " + stamp() + "\n\n";
    ctx.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), stamped)));
    metrics.recordPending(ctx.channel());
  }

  @Override
  public void onWritable() {
    if (paused && !isOver()) {
      paused = false;
      // The pause was the client's: the next event is due now, not a catch-up burst of missed ones.
      dueNanos = Math.max(dueNanos, System.nanoTime());
      schedule();
    }
  }

  @Override
  public void shutdown() {
    if (isOver()) {
      return;
    }
    end(State.SHUT_DOWN);
    metrics.shutDown.inc();
    writeError(SimHttpHandler.shuttingDown());
    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
    onEnd.run();
  }

  /** Injected fault: cut the connection without a terminator, as a crashed server would. */
  private void drop() {
    end(State.DROPPED);
    metrics.dropped.inc();
    ctx.flush();
    ctx.channel().close();
  }

  @Override
  public void onClientGone() {
    if (isOver()) {
      return;
    }
    end(State.CANCELLED);
    metrics.cancelled.inc();
  }

  private void end(State terminal) {
    state = terminal;
    metrics.active.dec();
  }

  private boolean isOver() {
    return state != State.WAITING_FIRST_TOKEN && state != State.STREAMING;
  }

  private String stamp() {
    return new EmissionStamp(eventSeq++, EmissionStamp.nowMicros()).toId();
  }

  /** One event of the format, stamped and written (flushed by the caller, once per firing). */
  @Override
  public void event(String name, String data) {
    String event = SseEncoder.event(name, stamp(), data);
    ctx.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), event)));
    metrics.recordPending(ctx.channel());
  }

  private void flushOrHold() {
    if (profile.groupCommit()) {
      GroupCommit.hold(ctx.channel(), profile.groupCommitNanos());
    } else {
      ctx.flush();
    }
  }
}
