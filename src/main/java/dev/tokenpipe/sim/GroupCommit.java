package dev.tokenpipe.sim;

import io.netty.channel.Channel;
import io.netty.util.concurrent.FastThreadLocal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Emulates a runtime that group-commits writes: streams write without flushing and register
 * here; every period, at the same wall-clock instants on every event loop, all registered
 * channels are flushed together. This is the "flush every ready socket every X ms" loop that
 * turns a few milliseconds of batching into seconds of tail latency under load.
 */
final class GroupCommit {
  private static final FastThreadLocal<Map<Long, GroupCommit>> PER_LOOP = new FastThreadLocal<>() {
    @Override
    protected Map<Long, GroupCommit> initialValue() {
      return new HashMap<>();
    }
  };

  private final long periodNanos;
  private final List<Channel> pending = new ArrayList<>();
  private boolean tickScheduled;

  private GroupCommit(long periodNanos) {
    this.periodNanos = periodNanos;
  }

  /** Holds the channel's written data until the next commit. Must run on the channel's loop. */
  static void hold(Channel channel, long periodNanos) {
    GroupCommit gc = PER_LOOP.get().computeIfAbsent(periodNanos, GroupCommit::new);
    gc.add(channel);
  }

  private void add(Channel channel) {
    if (!pending.contains(channel)) {
      pending.add(channel);
    }
    if (!tickScheduled) {
      tickScheduled = true;
      Instant now = Instant.now();
      long nowNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
      long delay = periodNanos - Math.floorMod(nowNanos, periodNanos);
      channel.eventLoop().schedule(this::commit, delay, TimeUnit.NANOSECONDS);
    }
  }

  private void commit() {
    tickScheduled = false;
    for (Channel ch : pending) {
      ch.flush();
    }
    pending.clear();
  }
}
