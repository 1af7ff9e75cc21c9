package dev.tokenpipe.sim;

import dev.tokenpipe.http.HttpResponses;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;

/**
 * A non-streaming generation: the whole completion is sent once the model would have finished
 * (TTFT plus one interval per further token), the way {@code stream: false} behaves on real
 * servers. A client that leaves early cancels the timer. The body is built whole when it is sent
 * (about 6 bytes per token); the connection's next response waits until this one has drained (see
 * {@link SimHttpHandler}), so a client that does not read holds at most one body.
 */
final class CompleteResponse implements SimResponse {
  private final ChannelHandlerContext ctx;
  private final SimRequest request;
  private final SimMetrics metrics;
  private final boolean keepAlive;
  private final Runnable onEnd;
  private ScheduledFuture<?> timer;
  private boolean done;

  private CompleteResponse(ChannelHandlerContext ctx, SimRequest request, SimMetrics metrics, boolean keepAlive, Runnable onEnd) {
    this.ctx = ctx;
    this.request = request;
    this.metrics = metrics;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
  }

  static CompleteResponse schedule(ChannelHandlerContext ctx, SimRequest request, SimMetrics metrics, RandomGenerator random,
      boolean keepAlive, Runnable onEnd) {
    CompleteResponse r = new CompleteResponse(ctx, request, metrics, keepAlive, onEnd);
    StreamProfile profile = request.profile();
    int tokens = request.outputTokens();
    long delay = profile.ttft().sampleNanos(random);
    for (int i = 1; i < tokens; i++) {
      delay += profile.itl().sampleNanos(random);
    }
    if (profile.stallAfter() >= 0 && profile.stallAfter() < tokens) {
      delay += profile.stallNanos();
    }
    OutputPlan plan = request.plan(random.nextInt(TokenText.get().size()));
    r.timer = ctx.executor().schedule(() -> r.send(plan), delay, TimeUnit.NANOSECONDS);
    return r;
  }

  private void send(OutputPlan plan) {
    if (done || !ctx.channel().isActive()) {
      return;
    }
    done = true;
    String body = request.api().format(request, plan, System.currentTimeMillis() / 1000).completeBody();
    metrics.tokens.inc(plan.total());
    HttpResponses.send(ctx, HttpResponses.json(ctx, HttpResponseStatus.OK, body), keepAlive);
    metrics.recordPending(ctx.channel());
    onEnd.run();
  }

  @Override
  public void onWritable() {
    // One write, made whole: nothing to resume.
  }

  @Override
  public void onClientGone() {
    timer.cancel(false);
  }

  @Override
  public void shutdown() {
    if (done) {
      return;
    }
    done = true;
    timer.cancel(false);
    metrics.errors.labelValues("503").inc();
    HttpResponses.send(ctx, SimHttpHandler.errorResponse(ctx, SimHttpHandler.shuttingDown(), request.api().dialect), false);
    onEnd.run();
  }
}
