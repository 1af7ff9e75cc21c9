package dev.tokenpipe.sim;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.PriorityQueue;
import java.util.concurrent.TimeUnit;

/**
 * One timer per event loop for all of its streams. Ten thousand streams at 20 tokens/s are 200,000
 * deadlines a second; arming a Netty timer for each would wake the loop (and re-arm its timerfd)
 * once per event. Here the loop wakes at the earliest deadline and fires every stream due within
 * {@link #SLACK_NANOS} of it in one pass, so one wake-up serves many streams and no event fires
 * more than the slack early. Each stream still writes and flushes its own event: this batches
 * timer wake-ups, never writes.
 *
 * <p>Confined to its event loop; streams that ended are dropped lazily when they come due.
 */
final class PacingScheduler {
  /** How early a deadline may fire to share a wake-up: 0.5 ms. */
  static final long SLACK_NANOS = 500_000;

  /** Something with a deadline on {@link System#nanoTime()}'s clock. */
  interface Paced {
    long dueNanos();

    /** False once ended; the scheduler then forgets it. */
    boolean isLive();

    /** Runs on the loop at (or up to the slack before) the deadline; may call {@link #add} again. */
    void fire();
  }

  private static final FastThreadLocal<PacingScheduler> PER_LOOP = new FastThreadLocal<>();

  private final EventExecutor loop;
  private final PriorityQueue<Paced> queue = new PriorityQueue<>((a, b) -> Long.compare(a.dueNanos(), b.dueNanos()));
  private ScheduledFuture<?> wakeUp;
  private long wakeUpAtNanos = Long.MAX_VALUE;

  private PacingScheduler(EventExecutor loop) {
    this.loop = loop;
  }

  /** The scheduler of the calling event loop. */
  static PacingScheduler of(EventExecutor loop) {
    assert loop.inEventLoop();
    PacingScheduler s = PER_LOOP.get();
    if (s == null) {
      s = new PacingScheduler(loop);
      PER_LOOP.set(s);
    }
    return s;
  }

  void add(Paced paced) {
    queue.add(paced);
    arm();
  }

  private void arm() {
    Paced first = queue.peek();
    if (first == null) {
      return;
    }
    long at = first.dueNanos();
    if (wakeUp != null && wakeUpAtNanos <= at) {
      return;
    }
    if (wakeUp != null) {
      wakeUp.cancel(false);
    }
    wakeUpAtNanos = at;
    wakeUp = loop.schedule(this::tick, Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  private void tick() {
    wakeUp = null;
    wakeUpAtNanos = Long.MAX_VALUE;
    long horizon = System.nanoTime() + SLACK_NANOS;
    Paced next;
    while ((next = queue.peek()) != null && next.dueNanos() <= horizon) {
      queue.poll();
      if (next.isLive()) {
        next.fire();
      }
    }
    arm();
  }
}
