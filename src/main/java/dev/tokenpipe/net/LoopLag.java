package dev.tokenpipe.net;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * How late each event loop of a group runs what is due: a timer every {@code periodNanos} on each loop reports
 * its lateness (nanoseconds) to a sink, on that loop's thread. A loop that is late by L runs every read it owns
 * late by L too, so a measuring tool's timestamps are only as good as its loop lag: {@code bench} judges its
 * own results by it, {@code doctor} refuses a holding verdict when it is as large as the holds.
 *
 * <p>Missed ticks are skipped, not caught up: one late tick is one sample. Close it to stop (from any thread).
 */
public final class LoopLag implements AutoCloseable {
  private final long periodNanos;
  private final LongConsumer lateNanos;
  private final List<ScheduledFuture<?>> timers = new ArrayList<>();
  private volatile boolean stopped;

  private LoopLag(long periodNanos, LongConsumer lateNanos) {
    this.periodNanos = periodNanos;
    this.lateNanos = lateNanos;
  }

  /** Starts a timer on every loop of {@code group}; {@code lateNanos} gets each tick's lateness on its loop. */
  public static LoopLag start(EventLoopGroup group, long periodNanos, LongConsumer lateNanos) {
    if (periodNanos <= 0) {
      throw new IllegalArgumentException("period must be > 0: " + periodNanos);
    }
    LoopLag lag = new LoopLag(periodNanos, lateNanos);
    for (EventExecutor loop : group) {
      lag.tick(loop, System.nanoTime() + periodNanos);
    }
    return lag;
  }

  private void tick(EventExecutor loop, long due) {
    if (stopped) {
      return;
    }
    long delay = Math.max(0, due - System.nanoTime());
    synchronized (timers) {
      timers.add(loop.schedule(() -> {
        long now = System.nanoTime();
        lateNanos.accept(now - due);
        long next = due + periodNanos;
        while (next <= now) {
          next += periodNanos;
        }
        tick(loop, next);
      }, delay, TimeUnit.NANOSECONDS));
      if (timers.size() > 1024) {
        timers.removeIf(ScheduledFuture::isDone);
      }
    }
  }

  @Override
  public void close() {
    stopped = true;
    synchronized (timers) {
      timers.forEach(t -> t.cancel(false));
      timers.clear();
    }
  }
}
