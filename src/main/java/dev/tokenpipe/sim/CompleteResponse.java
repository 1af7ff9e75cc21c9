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
 * servers. A client that leaves early cancels the timer.
 */
final class CompleteResponse {
  private CompleteResponse() {}

  static void schedule(ChannelHandlerContext ctx, SimRequest request, SimMetrics metrics, RandomGenerator random,
      boolean keepAlive, Runnable onEnd) {
    StreamProfile profile = request.profile();
    int tokens = request.outputTokens();
    long delay = profile.ttft().sampleNanos(random);
    for (int i = 1; i < tokens; i++) {
      delay += profile.itl().sampleNanos(random);
    }
    if (profile.stallAfter() >= 0 && profile.stallAfter() < tokens) {
      delay += profile.stallNanos();
    }
    long start = random.nextInt(TokenText.get().size());
    ScheduledFuture<?> timer = ctx.executor().schedule(() -> {
      if (!ctx.channel().isActive()) {
        return;
      }
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < tokens; i++) {
        text.append(TokenText.get().token(start + i));
      }
      String body = new ChunkFormat(request, System.currentTimeMillis() / 1000).completeResponse(text.toString(), tokens);
      metrics.tokens.inc(tokens);
      HttpResponses.send(ctx, HttpResponses.json(ctx, HttpResponseStatus.OK, body), keepAlive);
      onEnd.run();
    }, delay, TimeUnit.NANOSECONDS);
    ctx.channel().closeFuture().addListener(f -> timer.cancel(false));
  }
}
