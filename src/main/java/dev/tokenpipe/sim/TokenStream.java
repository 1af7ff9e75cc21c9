package dev.tokenpipe.sim;

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
 * the client goes away, {@code DROPPED} when a fault cuts the connection, {@code SHUT_DOWN} when the
 * server's drain period ran out (in-band error event, then the terminating chunk).
 *
 * <p>Backpressure, as a real server's: when its connection is not writable (the client does not read
 * and the outbound buffer passed the high-water mark) the stream generates nothing and leaves the
 * scheduler; it resumes when the connection drains below the low-water mark, with the next event due
 * at once and the intervals measured from there. So a stream holds at most the high-water mark plus
 * one event in memory, however slowly its client reads.
 *
 * <p>Shape: the chat API first sends the assistant-role chunk at once (so the first byte comes
 * before the first token, as with real servers); the first token follows after the TTFT; then
 * every {@code burst} intervals one event with {@code burst} tokens.
 */
final class TokenStream implements PacingScheduler.Paced, SimResponse {
  enum State { WAITING_FIRST_TOKEN, STREAMING, FINISHED, CANCELLED, DROPPED, SHUT_DOWN }

  private final ChannelHandlerContext ctx;
  private final SimRequest request;
  private final StreamProfile profile;
  private final ChunkFormat format;
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
    this.format = new ChunkFormat(request, System.currentTimeMillis() / 1000);
    this.metrics = metrics;
    this.random = random;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
    this.totalTokens = request.outputTokens();
    this.textPosition = random.nextInt(TokenText.get().size());
  }

  State state() {
    return state;
  }

  void start() {
    metrics.started.inc();
    metrics.active.inc();
    ctx.channel().closeFuture().addListener(f -> ctx.executor().execute(this::onClientGone));
    // Like vLLM and FastAPI: content type only. Anti-buffering headers are the gateway's job,
    // and their absence here is what doctor and the demo show.
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    HttpUtil.setTransferEncodingChunked(head, true);
    HttpUtil.setKeepAlive(head, keepAlive);
    ctx.write(head);
    if (request.api() == SimApi.CHAT) {
      writeEvent(format.roleChunk());
    }
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
    n = Math.min(n, totalTokens - tokensSent);
    if (profile.dropAfter() >= 0) {
      n = Math.min(n, profile.dropAfter() - tokensSent);
      if (n <= 0) {
        drop();
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
    int nextEventTokens = Math.min(profile.burst(), totalTokens - tokensSent);
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
    textPosition += n;
    tokensSent += n;
    writeEvent(format.contentChunk(escaped, raw));
    flushOrHold();
    metrics.tokens.inc(n);
    metrics.events.inc();
  }

  private void finish() {
    String finishChunk = format.finishChunk();
    if (finishChunk != null) {
      writeEvent(finishChunk);
    }
    if (request.includeUsage() && request.api() != SimApi.TOKENS) {
      writeEvent(format.usageChunk(tokensSent));
    }
    writeEvent(SseEncoder.DONE);
    end(State.FINISHED);
    metrics.completed.inc();
    if (keepAlive) {
      ctx.write(LastHttpContent.EMPTY_LAST_CONTENT);
      flushOrHold();
    } else {
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
    }
    onEnd.run();
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
    String error = "{\"error\":{\"message\":\"The simulated model is shutting down.\",\"type\":\"server_error\","
        + "\"param\":null,\"code\":\"sim_shutdown\"}}";
    ctx.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), SseEncoder.event("error", null, error))));
    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
    onEnd.run();
  }

  /** Injected fault: cut the connection without a terminator, as a crashed server would. */
  private void drop() {
    end(State.DROPPED);
    metrics.failed.inc();
    ctx.flush();
    ctx.channel().close();
  }

  private void onClientGone() {
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
    return state == State.FINISHED || state == State.CANCELLED || state == State.DROPPED || state == State.SHUT_DOWN;
  }

  private void writeEvent(String data) {
    String id = new EmissionStamp(eventSeq++, EmissionStamp.nowMicros()).toId();
    String event = SseEncoder.event(null, id, data);
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
