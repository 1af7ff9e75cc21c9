package dev.tokenpipe.gateway;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Ticker;

/**
 * An event loop's clock as instants comparable with {@code System.nanoTime()}: Netty's {@link Ticker} counts
 * from its own start ({@code nanoTime()} is {@code System.nanoTime() - initialNanoTime()} on a real loop), so
 * its raw values must never meet a {@code System.nanoTime()} one (the books' start of a request). A test's
 * embedded loop moves this clock with {@code advanceTimeBy}, so timers and the times they compare agree.
 */
record LoopClock(Ticker ticker) {
  static LoopClock of(EventExecutor loop) {
    return new LoopClock(loop.ticker());
  }

  /** Now, in nanoseconds on {@code System.nanoTime()}'s scale. */
  long nanoTime() {
    return ticker.initialNanoTime() + ticker.nanoTime();
  }
}
