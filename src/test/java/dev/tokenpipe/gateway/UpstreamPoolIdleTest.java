package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The pool's keep-alive bound without sockets: an idle connection is closed when the bound passes, and a reused one
 * is not, its timer cancelled. Without the cancel, every answer left a timer waiting out the bound (60 s): at 1,000
 * answers a second on one loop, 60,000 timers for a few connections.
 */
class UpstreamPoolIdleTest {
  static final Upstream UP = Upstream.parse("http://127.0.0.1:9");

  @Test
  void anIdleConnectionIsClosedAtTheBoundAndAReusedOneIsNot() {
    UpstreamPool pool = new UpstreamPool(1_000, Duration.ofSeconds(60), null);
    EmbeddedChannel idle = new EmbeddedChannel(new UpstreamHandler());
    pool.release(idle, UP);

    idle.advanceTimeBy(59, TimeUnit.SECONDS);
    idle.runScheduledPendingTasks();
    assertThat(idle.isOpen()).as("within the bound").isTrue();
    idle.advanceTimeBy(2, TimeUnit.SECONDS);
    idle.runScheduledPendingTasks();
    assertThat(idle.isOpen()).as("past the bound, with no request to find it").isFalse();

    EmbeddedChannel reused = new EmbeddedChannel(new UpstreamHandler());
    for (int answer = 0; answer < 1_000; answer++) {
      pool.release(reused, UP);
      Channel taken = pool.acquire(reused.eventLoop(), UP).getNow();
      assertThat(taken).isSameAs(reused);
    }
    assertThat(nextTimer(reused)).as("every idle spell's timer cancelled when the connection was taken").isEqualTo(-1);
    reused.advanceTimeBy(61, TimeUnit.SECONDS);
    reused.runScheduledPendingTasks();
    assertThat(reused.isOpen()).as("in use: no earlier idle spell's timer closes it").isTrue();
  }

  /** Nanoseconds to the loop's next timer, -1 when none waits. */
  private static long nextTimer(EmbeddedChannel ch) {
    return ch.runScheduledPendingTasks();
  }
}
