package dev.tokenpipe.cli;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Keeps a server command running until SIGTERM/SIGINT, then closes (drains) its server and lets the
 * command return normally: exit 0 after a clean drain. The JVM's default for these signals would run
 * shutdown hooks and exit 143/130, which supervisors (systemd, Kubernetes) report as a failure. A second
 * signal during the drain stops at once with 128 + the signal's number. Other ways out (SIGHUP,
 * {@code System.exit}) still close the server through a shutdown hook.
 */
public final class ShutdownSignal {
  private ShutdownSignal() {}

  /** Blocks until a termination signal has closed {@code server}. */
  public static void closeOnSignal(AutoCloseable server) throws InterruptedException {
    CountDownLatch signalled = new CountDownLatch(1);
    AtomicBoolean seen = new AtomicBoolean();
    for (String name : List.of("TERM", "INT")) {
      try {
        Signal.handle(new Signal(name), s -> {
          if (seen.getAndSet(true)) {
            Runtime.getRuntime().halt(128 + s.getNumber());
          }
          signalled.countDown();
        });
      } catch (IllegalArgumentException | UnsupportedOperationException e) {
        // not available here (or -Xrs): the shutdown hook below still closes the server, exit 143
      }
    }
    Thread hook = new Thread(() -> close(server), "tokenpipe-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    signalled.await();
    close(server);
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException alreadyShuttingDown) {
      // the hook runs too; close() is idempotent
    }
  }

  private static void close(AutoCloseable server) {
    try {
      server.close();
    } catch (Exception e) {
      LoggerFactory.getLogger(ShutdownSignal.class).warn("error while shutting down: {}", e.toString());
    }
  }
}
