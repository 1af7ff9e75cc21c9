package dev.tokenpipe.demo;

import org.slf4j.LoggerFactory;

/**
 * Raises one logger to WARN while the demo runs and puts its level back on {@link #close}: the gateway's access log
 * line per request would bury the demo's own output. Logback is only a runtime dependency, hence reflection; with
 * another SLF4J binding this does nothing.
 */
final class QuietLog implements AutoCloseable {
  private final Object logger;
  private final Object previous;
  private final boolean changed;

  private QuietLog(Object logger, Object previous, boolean changed) {
    this.logger = logger;
    this.previous = previous;
    this.changed = changed;
  }

  static QuietLog warnOnly(String name) {
    Object logger = LoggerFactory.getLogger(name);
    try {
      if (!logger.getClass().getName().equals("ch.qos.logback.classic.Logger")) {
        return new QuietLog(logger, null, false);
      }
      Class<?> level = Class.forName("ch.qos.logback.classic.Level", false, logger.getClass().getClassLoader());
      Object previous = logger.getClass().getMethod("getLevel").invoke(logger);
      logger.getClass().getMethod("setLevel", level).invoke(logger, level.getField("WARN").get(null));
      return new QuietLog(logger, previous, true);
    } catch (ReflectiveOperationException | LinkageError e) {
      return new QuietLog(logger, null, false);
    }
  }

  @Override
  public void close() {
    if (!changed) {
      return;
    }
    try {
      Class<?> level = Class.forName("ch.qos.logback.classic.Level", false, logger.getClass().getClassLoader());
      logger.getClass().getMethod("setLevel", level).invoke(logger, previous);
    } catch (ReflectiveOperationException | LinkageError ignored) {
      // best effort
    }
  }
}
