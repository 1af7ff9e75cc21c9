package dev.tokenpipe.gateway;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.slf4j.LoggerFactory;

/**
 * Captures the gateway's access log lines (logger {@code tokenpipe.access}, see {@link AccessLog}) in
 * memory, as key=value maps, while it is open.
 */
final class AccessLogCapture implements AutoCloseable {
  private final Logger logger = (Logger) LoggerFactory.getLogger("tokenpipe.access");
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  AccessLogCapture() {
    appender.start();
    logger.addAppender(appender);
  }

  /** The first line with {@code path=<path>} whose fields match, waiting up to {@code timeout} for it. */
  Map<String, String> await(String path, Predicate<Map<String, String>> match, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (Map<String, String> line : lines()) {
        if (path.equals(line.get("path")) && match.test(line)) {
          return line;
        }
      }
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("no access log line for " + path + " within " + timeout + "; lines: " + lines());
      }
      Thread.sleep(20);
    }
  }

  Map<String, String> await(String path, Duration timeout) throws InterruptedException {
    return await(path, l -> true, timeout);
  }

  List<Map<String, String>> lines() {
    synchronized (appender) { // AppenderBase.doAppend holds this lock while it adds
      return appender.list.stream().map(e -> parse(e.getFormattedMessage())).toList();
    }
  }

  static Map<String, String> parse(String line) {
    Map<String, String> m = new HashMap<>();
    for (String kv : line.split(" ")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        m.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
    }
    return m;
  }

  @Override
  public void close() {
    logger.detachAppender(appender);
    appender.stop();
  }
}
