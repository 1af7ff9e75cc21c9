package dev.tokenpipe.cli;

import dev.tokenpipe.log.Logs;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Keeps a server command running until SIGTERM or SIGINT, then drains it and lets the command
 * return, so the process exits 0 after a clean drain.
 *
 * <p>Why not only a shutdown hook: when the JVM itself handles SIGTERM it runs the hooks and then
 * exits with 143 (128 + 15) whatever they did, so an orchestrator could not tell a clean drain from
 * a crash. Here the signal only wakes the command's thread; the drain runs there, and the command's
 * return value is the exit code. A second signal during the drain, at least a second after the first,
 * stops at once (exit 128 + signal); one sooner is the same request repeated (GNU {@code timeout} signals
 * the process and then its process group) and is ignored.
 * A shutdown hook remains for every other way the JVM may end (SIGHUP, a signal that could not be
 * taken over), and closes the server if the drain did not run.
 */
public final class ShutdownSignal {
  private static final Logger log = LoggerFactory.getLogger(ShutdownSignal.class);

  /** A second signal sooner than this after the first is taken as the same one. */
  private static final long REPEAT_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);

  private final CountDownLatch signalled = new CountDownLatch(1);
  private final java.util.concurrent.atomic.AtomicLong firstSignalNanos = new java.util.concurrent.atomic.AtomicLong();

  private ShutdownSignal() {}

  /**
   * Takes over SIGTERM and SIGINT now, before the server starts: a signal during start-up (the warm-up runs
   * while the port already accepts) is kept and honoured once the server runs, never the JVM's exit 143.
   */
  public static ShutdownSignal install() {
    ShutdownSignal s = new ShutdownSignal();
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        Signal.handle(new Signal(name), s::onSignal);
      } catch (IllegalArgumentException e) {
        // The signal is not ours to take (e.g. the JVM runs with -Xrs): the shutdown hook still closes.
        log.debug("cannot handle SIG{}: {}", name, e.toString());
      }
    }
    return s;
  }

  private void onSignal(Signal sig) {
    // A repeat within a second is the same request to stop, not an impatient second one: GNU timeout
    // (without --foreground) and some supervisors signal the process and then its group.
    long now = System.nanoTime();
    if (signalled.getCount() == 0 && now - firstSignalNanos.get() < REPEAT_NANOS) {
      return;
    }
    firstSignalNanos.compareAndSet(0, now);
    if (signalled.getCount() == 0) {
      log.warn("second SIG{}: stopping without waiting for the drain", sig.getName());
      Logs.flush(); // a halt runs no hook: the warning would stay queued
      Runtime.getRuntime().halt(128 + sig.getNumber());
    }
    signalled.countDown();
  }

  /**
   * Runs {@code announce} (the "listening" line), blocks until a termination signal (perhaps one that came
   * during start-up), then closes (drains) {@code server} and returns. A shutdown hook closes it on any other
   * way the JVM ends.
   */
  public void closeOnSignal(AutoCloseable server, Runnable announce) throws InterruptedException {
    AtomicBoolean closing = new AtomicBoolean();
    Runnable close = () -> {
      try {
        server.close();
      } catch (Exception e) {
        log.warn("error while shutting down: {}", e.toString());
      }
    };
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (closing.compareAndSet(false, true)) {
        close.run();
        Logs.flush(); // the JVM ends without dev.tokenpipe.Main's flush when it ends this way
      }
    }, "tokenpipe-shutdown"));
    announce.run();
    signalled.await();
    if (closing.compareAndSet(false, true)) {
      close.run();
    }
  }
}
