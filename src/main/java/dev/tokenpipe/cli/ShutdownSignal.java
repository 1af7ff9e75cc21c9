package dev.tokenpipe.cli;

import java.util.concurrent.CountDownLatch;
import org.slf4j.LoggerFactory;

/** Keeps a server command running until SIGINT/SIGTERM, then closes its server inside the JVM's shutdown. */
public final class ShutdownSignal {
  private ShutdownSignal() {}

  /** Blocks until a termination signal has closed {@code server}. */
  public static void closeOnSignal(AutoCloseable server) throws InterruptedException {
    CountDownLatch closed = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.close();
      } catch (Exception e) {
        LoggerFactory.getLogger(ShutdownSignal.class).warn("error while shutting down: {}", e.toString());
      } finally {
        closed.countDown();
      }
    }, "tokenpipe-shutdown"));
    closed.await();
  }
}
