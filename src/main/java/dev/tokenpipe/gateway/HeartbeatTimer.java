package dev.tokenpipe.gateway;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Sends a heartbeat after {@code periodNanos} without any write to the client, also while the first
 * token is awaited. It keeps idle-cutting middleboxes (ALB 60 s, Cloudflare 100 s, NAT ~60 s) from
 * closing a quiet stream.
 *
 * <p>Instead of cancelling and re-arming a timer for every event (two heap operations per token), the
 * timer fires at most once per period and looks at the time of the last write, as Netty's
 * {@code IdleStateHandler} does. Times are the loop's {@link LoopClock} ({@code System.nanoTime()}'s scale on a real loop, advanced by a
 * test on an embedded one), the clock the stream's writes report. Runs on the stream's event loop; not thread-safe.
 */
final class HeartbeatTimer {
  private final EventExecutor loop;
  private final LoopClock clock;
  private final long periodNanos;
  /** Sends one heartbeat if the stream is at an event boundary; returns false if it could not. */
  private final BooleanSupplier sendIfPossible;
  private long lastWriteNanos;
  private ScheduledFuture<?> timer;
  private boolean stopped;

  HeartbeatTimer(EventExecutor loop, long periodNanos, BooleanSupplier sendIfPossible) {
    this.loop = loop;
    this.clock = LoopClock.of(loop);
    this.periodNanos = periodNanos;
    this.sendIfPossible = sendIfPossible;
  }

  /** Starts counting from now. A period of 0 disables heartbeats. */
  void start() {
    if (periodNanos <= 0 || stopped || timer != null) {
      return;
    }
    lastWriteNanos = clock.nanoTime();
    schedule(periodNanos);
  }

  /** Something was written to the client: the next heartbeat is due a full period from now. */
  void written(long nowNanos) {
    lastWriteNanos = nowNanos;
  }

  void stop() {
    stopped = true;
    if (timer != null) {
      timer.cancel(false);
    }
  }

  private void schedule(long delayNanos) {
    timer = loop.schedule(this::fire, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void fire() {
    if (stopped) {
      return;
    }
    long now = clock.nanoTime();
    long idle = now - lastWriteNanos;
    if (idle < periodNanos) {
      schedule(periodNanos - idle);
      return;
    }
    if (sendIfPossible.getAsBoolean()) {
      lastWriteNanos = now;
      schedule(periodNanos);
    } else {
      // Mid-event (or client not writable): try again soon rather than a whole period later.
      schedule(Math.max(periodNanos / 10, TimeUnit.MILLISECONDS.toNanos(10)));
    }
  }
}
