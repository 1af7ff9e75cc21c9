package dev.tokenpipe.log;

import ch.qos.logback.classic.LoggerContext;
import org.slf4j.LoggerFactory;

/** The process's log as a whole. */
public final class Logs {
  private Logs() {}

  /**
   * Writes what the log still holds and stops it; anything logged afterwards is dropped. Call once, when the
   * process is about to end: after a command returned, after a signal's drain, before a halt. Waits at most
   * {@link BatchingAppender#STOP_FLUSH_MILLIS} for a stuck stderr. Not logback's own shutdown hook: the JVM runs
   * its hooks at the same time, so that one stopped the log while the gateway's hook was still draining and
   * logging.
   */
  public static void flush() {
    if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
      context.stop();
    }
  }
}
