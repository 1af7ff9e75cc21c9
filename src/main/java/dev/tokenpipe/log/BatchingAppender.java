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
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 * signals it: logging is one lock-free offer to a bounded queue, and a line reaches stderr at most an interval
 * later.
 *
 * <p>Bounded: at most {@link #setQueueSize queueSize} events wait, and a writer stuck on stderr holds one more
 * batch of at most as many. From 80% full on, events of level INFO and below are dropped (the access log) and
 * warnings still queue; when it is full, every new event is dropped. The number dropped is itself logged, as a
 * warning, after the lines queued before the drops. On {@link #stop} the writer writes what is queued, for up to
 * one second (stderr may be the very thing that is stuck); {@link Logs#flush} stops it when a command ends.
 *
 * <p>Configured in {@code logback.xml} like {@code AsyncAppender}: one {@code <appender-ref>} inside it.
 */
public final class BatchingAppender extends UnsynchronizedAppenderBase<ILoggingEvent>
    implements AppenderAttachable<ILoggingEvent> {
  static final long STOP_FLUSH_MILLIS = 1_000;
  static final int DEFAULT_QUEUE_SIZE = 8_192;
  static final int DEFAULT_INTERVAL_MILLIS = 10;

  private final AppenderAttachableImpl<ILoggingEvent> appenders = new AppenderAttachableImpl<>();
  /** Every event any instance dropped since the process started: the gateway's metric. */
  private static final AtomicLong DROPPED_TOTAL = new AtomicLong();

  private final AtomicLong dropped = new AtomicLong();
  private int queueSize = DEFAULT_QUEUE_SIZE;
  private int intervalMillis = DEFAULT_INTERVAL_MILLIS;
  /** The current writer's queue; each writer drains only its own, so a writer left stuck by stop never races. */
  private volatile Queue queue;
  private volatile Thread writer;

  /** A bounded, lock-free queue: a thread that logs never waits on a lock the writer holds. */
  private static final class Queue {
    final ConcurrentLinkedQueue<ILoggingEvent> events = new ConcurrentLinkedQueue<>();
    final AtomicInteger size = new AtomicInteger();
  }

  /** Events dropped by every instance since the process started (a counter; the gateway's metrics read it). */
  public static long droppedTotal() {
    return DROPPED_TOTAL.get();
  }

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
    // A bad bound in a system property must not silence the log: the default instead, said in logback's status.
    if (queueSize < 1) {
      addWarn("queueSize " + queueSize + " is below 1; using " + DEFAULT_QUEUE_SIZE);
      queueSize = DEFAULT_QUEUE_SIZE;
    }
    if (intervalMillis < 1) {
      addWarn("intervalMillis " + intervalMillis + " is below 1; using " + DEFAULT_INTERVAL_MILLIS);
      intervalMillis = DEFAULT_INTERVAL_MILLIS;
    }
    if (!appenders.iteratorForAppenders().hasNext()) {
      addError("no appender attached to " + name);
      return;
    }
    Queue q = new Queue();
    queue = q;
    Thread t = new Thread(() -> write(q), "tokenpipe-log");
    t.setDaemon(true); // a writer stuck on a full pipe must not keep the JVM alive
    writer = t;
    t.start();
    super.start();
  }

  @Override
  protected void append(ILoggingEvent event) {
    Queue q = queue;
    // Info and below keep a fifth of the queue free for warnings.
    int bound = event.getLevel().toInt() <= Level.INFO_INT ? queueSize - queueSize / 5 : queueSize;
    if (q.size.incrementAndGet() > bound) {
      q.size.decrementAndGet();
      dropped.incrementAndGet();
      DROPPED_TOTAL.incrementAndGet();
      return;
    }
    event.prepareForDeferredProcessing(); // the message formatted and the MDC copied now, on the logging thread
    q.events.offer(event); // nobody waits on it: the writer polls
  }

  private void write(Queue q) {
    List<ILoggingEvent> batch = new ArrayList<>();
    while (writer == Thread.currentThread()) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(intervalMillis));
      writeQueued(q, batch);
    }
    writeQueued(q, batch);
  }

  private void writeQueued(Queue q, List<ILoggingEvent> batch) {
    // Counted before the drain: those drops came after every line now queued, so the notice follows them.
    long lost = dropped.getAndSet(0);
    for (ILoggingEvent e; (e = q.events.poll()) != null; ) {
      q.size.decrementAndGet();
      batch.add(e);
    }
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
    Thread w = writer;
    writer = null; // the writer's loop ends; it writes what is queued once more
    LockSupport.unpark(w);
    try {
      w.join(STOP_FLUSH_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (w.isAlive()) {
      addWarn("the log's output did not take the last " + queue.size.get() + " event(s) within " + STOP_FLUSH_MILLIS + " ms");
      return;
    }
    writeQueued(queue, new ArrayList<>()); // an event offered while the writer made its last pass
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
