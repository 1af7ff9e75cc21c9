package dev.tokenpipe.net;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops event loops without ever waiting on them for good. A loop wedged in a task (a blocking call, a loop
 * that does not end) never confirms its shutdown, so {@code shutdownGracefully().sync()} would wait for ever:
 * the process would outlive its SIGTERM with its port still bound. Here the wait is bounded, the stuck loop is
 * named in a warning, and the caller goes on (a command then ends the JVM with {@code System.exit}, which
 * does not wait for it).
 */
public final class Loops {
  private static final Logger log = LoggerFactory.getLogger(Loops.class);

  /** Netty's grace for tasks still queued, then our bound on the whole stop. */
  private static final long GRACE_MS = 1_000;
  static final long STOP_WAIT_MS = 5_000;

  /** The most event loops a {@code --threads} may ask for: past a few per core they only cost memory. */
  public static final int MAX_THREADS = 1024;

  private Loops() {}

  /**
   * Checks a {@code --threads} value (serve, sim, bench): 0..{@link #MAX_THREADS}, 0 meaning one per core.
   * 100,000 used to fail late, inside Netty, without naming the flag.
   *
   * @throws IllegalArgumentException naming the flag, for a one-line usage error
   */
  public static void checkThreads(int threads) {
    if (threads < 0 || threads > MAX_THREADS) {
      throw new IllegalArgumentException("--threads must be 0.." + MAX_THREADS + " (0 = one per core), not " + threads);
    }
  }

  /** The event loops a checked {@code --threads} value stands for: itself, or one per core for 0. */
  public static int count(int threads) {
    return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
  }

  /**
   * Asks {@code loops} to stop (no quiet period, up to one second for queued tasks) and waits at most
   * {@link #STOP_WAIT_MS} for them.
   *
   * @param what names the loops in the warning, e.g. "gateway"
   * @return true when every loop stopped in time
   */
  public static boolean shutdown(EventLoopGroup loops, String what) {
    Future<?> stopped = loops.shutdownGracefully(0, GRACE_MS, TimeUnit.MILLISECONDS);
    return awaitOrWarn(stopped, what + " event loops did not stop");
  }

  /**
   * Waits at most {@link #STOP_WAIT_MS} for {@code future} (say, a channel's close, which runs on its loop).
   *
   * @return true when it completed in time; otherwise a warning saying {@code what} is logged
   */
  public static boolean awaitOrWarn(Future<?> future, String what) {
    if (future.awaitUninterruptibly(STOP_WAIT_MS)) {
      return true;
    }
    log.warn("{} within {} ms (a task on an event loop is stuck); not waiting any longer", what, STOP_WAIT_MS);
    return false;
  }

  /**
   * Waits until {@code work} (a concurrent collection the event loops empty: running streams, open connections)
   * is empty or {@code deadlineNanos} ({@link System#nanoTime()}) has passed, polling every 5 ms. An interrupt
   * ends the wait early and stays set.
   *
   * @return true when {@code work} is empty
   */
  public static boolean awaitEmpty(Collection<?> work, long deadlineNanos) {
    while (!work.isEmpty() && System.nanoTime() - deadlineNanos < 0) {
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return work.isEmpty();
  }
}
