package dev.tokenpipe.log;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import ch.qos.logback.core.spi.AppenderAttachable;
import ch.qos.logback.core.spi.AppenderAttachableImpl;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Hands log events to the appender attached to it (stderr's) from a thread of its own, in batches, so that a
 * thread that logs, an event loop above all, never waits on the log's output and never wakes another thread.
 *
 * <p>Why not logback's {@code AsyncAppender}: its writer thread waits on its queue, so each line wakes it, and on
 * a gateway pinned to one core the woken writer preempts the event loop that logged. With one access-log line
 * per request, 2-token streams through {@code serve} relayed 17% fewer events (docs/benchmarks.md, "The log off
 * the event loop"). Here the writer sleeps {@link #setIntervalMillis interval} between batches and nothing
 * signals it: logging is one offer to a bounded queue, and a line reaches stderr at most an interval later.
 *
 * <p>Bounded: at most {@link #setQueueSize queueSize} events wait. From 80% full on, events of level INFO and
 * below are dropped (the access log) and warnings still queue; when it is full, every new event is dropped. The
 * number dropped is itself logged, as a warning, once the writer has room again. On {@link #stop} the writer
 * writes what is queued, for up to one second (stderr may be the very thing that is stuck).
 *
 * <p>Configured in {@code logback.xml} like {@code AsyncAppender}: one {@code <appender-ref>} inside it.
 */
public final class BatchingAppender extends UnsynchronizedAppenderBase<ILoggingEvent>
    implements AppenderAttachable<ILoggingEvent> {
  static final long STOP_FLUSH_MILLIS = 1_000;

  private final AppenderAttachableImpl<ILoggingEvent> appenders = new AppenderAttachableImpl<>();
  private final AtomicLong dropped = new AtomicLong();
  private int queueSize = 8_192;
  private int intervalMillis = 10;
  private ArrayBlockingQueue<ILoggingEvent> queue;
  private volatile boolean running;
  private Thread writer;

  /** Events that may wait at most (default 8,192; a few hundred bytes each). */
  public void setQueueSize(int queueSize) {
    this.queueSize = queueSize;
  }

  /** Milliseconds the writer sleeps between batches (default 10): how late a line may reach stderr. */
  public void setIntervalMillis(int intervalMillis) {
    this.intervalMillis = intervalMillis;
  }

  @Override
  public void start() {
    if (isStarted()) {
      return;
    }
    if (queueSize < 1 || intervalMillis < 1) {
      addError("queueSize and intervalMillis must be at least 1");
      return;
    }
    if (!appenders.iteratorForAppenders().hasNext()) {
      addError("no appender attached to " + name);
      return;
    }
    queue = new ArrayBlockingQueue<>(queueSize);
    running = true;
    writer = new Thread(this::write, "tokenpipe-log");
    writer.setDaemon(true); // a writer stuck on a full pipe must not keep the JVM alive
    writer.start();
    super.start();
  }

  @Override
  protected void append(ILoggingEvent event) {
    if (event.getLevel().toInt() <= Level.INFO_INT && queue.remainingCapacity() < queueSize / 5) {
      dropped.incrementAndGet();
      return;
    }
    event.prepareForDeferredProcessing(); // the message formatted and the MDC copied now, on the logging thread
    // No thread waits on this queue (the writer polls it), so the offer's signal finds no one to wake.
    if (!queue.offer(event)) {
      dropped.incrementAndGet();
    }
  }

  private void write() {
    List<ILoggingEvent> batch = new ArrayList<>();
    while (running) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(intervalMillis));
      writeQueued(batch);
    }
    writeQueued(batch);
  }

  private void writeQueued(List<ILoggingEvent> batch) {
    // Counted before the drain: those drops came after every line now queued, so the notice follows them.
    long lost = dropped.getAndSet(0);
    queue.drainTo(batch);
    for (ILoggingEvent e : batch) {
      appenders.appendLoopOnAppenders(e);
    }
    batch.clear();
    if (lost > 0) {
      appenders.appendLoopOnAppenders(droppedNotice(lost));
    }
  }

  private ILoggingEvent droppedNotice(long lost) {
    LoggingEvent e = new LoggingEvent(BatchingAppender.class.getName(),
        ((LoggerContext) getContext()).getLogger("tokenpipe.log"), Level.WARN,
        "{} log line(s) dropped: the log's output did not keep up", null, new Object[] {lost});
    e.prepareForDeferredProcessing();
    return e;
  }

  @Override
  public void stop() {
    if (!isStarted()) {
      return;
    }
    super.stop();
    running = false;
    LockSupport.unpark(writer);
    try {
      writer.join(STOP_FLUSH_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (writer.isAlive()) {
      addWarn("the log's output did not take the last " + queue.size() + " event(s) within " + STOP_FLUSH_MILLIS + " ms");
      return;
    }
    appenders.detachAndStopAllAppenders();
  }

  @Override
  public void addAppender(Appender<ILoggingEvent> appender) {
    appenders.addAppender(appender);
  }

  @Override
  public Iterator<Appender<ILoggingEvent>> iteratorForAppenders() {
    return appenders.iteratorForAppenders();
  }

  @Override
  public Appender<ILoggingEvent> getAppender(String name) {
    return appenders.getAppender(name);
  }

  @Override
  public boolean isAttached(Appender<ILoggingEvent> appender) {
    return appenders.isAttached(appender);
  }

  @Override
  public void detachAndStopAllAppenders() {
    appenders.detachAndStopAllAppenders();
  }

  @Override
  public boolean detachAppender(Appender<ILoggingEvent> appender) {
    return appenders.detachAppender(appender);
  }

  @Override
  public boolean detachAppender(String name) {
    return appenders.detachAppender(name);
  }
}
