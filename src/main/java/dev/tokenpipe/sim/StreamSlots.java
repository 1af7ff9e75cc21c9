package dev.tokenpipe.sim;

import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GenericFutureListener;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * A model with a known capacity ({@code sim --capacity N}): at most N streams generate at once; more wait in
 * one FIFO queue and their time to first token starts only when a slot frees, as in a server whose batch is
 * full. 0 = unlimited (the default, and then nothing here runs). Bench's sweep test uses it as the load whose
 * breaking point is known. Memory: one small entry per waiting request, released when it starts or its
 * connection closes.
 */
public final class StreamSlots {
  private volatile int capacity;
  private int busy;
  private final ArrayDeque<Entry> waiting = new ArrayDeque<>();

  /** Streams allowed to generate at once; 0 = unlimited. */
  public void capacity(int streams) {
    if (streams < 0) {
      throw new IllegalArgumentException("--capacity must be >= 0");
    }
    capacity = streams;
  }

  public int capacity() {
    return capacity;
  }

  /**
   * Runs {@code stream} (on the channel's event loop) now or once a slot is free, passing the action that frees
   * the slot; that action also runs when the connection closes, and only the first call counts.
   */
  void run(ChannelHandlerContext ctx, Consumer<Runnable> stream) {
    if (capacity <= 0) {
      stream.accept(() -> {});
      return;
    }
    Entry e = new Entry(ctx, stream);
    ctx.channel().closeFuture().addListener(e);
    boolean now;
    synchronized (this) {
      now = busy < capacity;
      if (now) {
        busy++;
        e.started = true;
      } else {
        waiting.add(e);
      }
    }
    if (now) {
      e.go();
    }
  }

  private void release(Entry e) {
    Entry next = null;
    synchronized (this) {
      if (e.released) {
        return;
      }
      e.released = true;
      if (!e.started) {
        waiting.remove(e);
      } else {
        busy--;
        next = waiting.poll();
        if (next != null) {
          busy++;
          next.started = true;
        }
      }
    }
    e.ctx.channel().closeFuture().removeListener(e);
    if (next != null) {
      next.go();
    }
  }

  private final class Entry implements GenericFutureListener<Future<? super Void>> {
    final ChannelHandlerContext ctx;
    final Consumer<Runnable> stream;
    boolean started;
    boolean released;

    Entry(ChannelHandlerContext ctx, Consumer<Runnable> stream) {
      this.ctx = ctx;
      this.stream = stream;
    }

    void go() {
      ctx.executor().execute(() -> {
        if (ctx.channel().isActive()) {
          stream.accept(() -> release(this));
        } else {
          release(this);
        }
      });
    }

    @Override
    public void operationComplete(Future<? super Void> f) {
      release(this);
    }
  }
}
