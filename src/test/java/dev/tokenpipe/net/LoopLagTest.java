package dev.tokenpipe.net;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A loop that is busy for 150 ms shows it in its timer's lateness; a closed watch records nothing more. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LoopLagTest {
  @Test
  void aBlockedLoopIsLateByAboutAsLongAsItWasBlocked() throws Exception {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    List<Long> late = new CopyOnWriteArrayList<>();
    try (LoopLag lag = LoopLag.start(group, TimeUnit.MILLISECONDS.toNanos(5), late::add)) {
      Thread.sleep(100);
      group.next().execute(() -> {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(150);
        while (System.nanoTime() < until) {
          Thread.onSpinWait(); // the loop is busy: its timers wait
        }
      });
      Thread.sleep(400);
      assertThat(late).as("ticks").hasSizeGreaterThan(20);
      assertThat(late.stream().mapToLong(Long::longValue).max().orElseThrow()).as("the largest lateness, ns")
          .isGreaterThan(TimeUnit.MILLISECONDS.toNanos(100));
      assertThat(late.stream().filter(n -> n > TimeUnit.MILLISECONDS.toNanos(100)).count())
          .as("the missed ticks are one sample, not caught up one by one").isEqualTo(1);
    }
    int closedAt = late.size();
    Thread.sleep(100);
    assertThat(late).as("nothing after close").hasSize(closedAt);
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }
}
