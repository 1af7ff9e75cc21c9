package dev.tokenpipe.log;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The log's queue in front of stderr: in order, off the caller's thread, never blocking, bounded, counted. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BatchingAppenderTest {
  private final LoggerContext context = new LoggerContext();
  private final Logger logger = context.getLogger("test");
  private final Output output = new Output();
  private final BatchingAppender batching = new BatchingAppender();

  /**
   * Stands in for stderr: records each line and the thread that wrote it; can be stuck, like a full pipe. Not an
   * {@code AppenderBase}, which holds its own monitor while it appends: the test could then not read the lines
   * while the writer is stuck.
   */
  static final class Output extends UnsynchronizedAppenderBase<ILoggingEvent> {
    private final List<String> lines = new ArrayList<>();
    private final List<String> threads = new ArrayList<>();
    volatile CountDownLatch stuck = new CountDownLatch(0);
    /** Counted down as the writer enters this output. */
    final CountDownLatch entered = new CountDownLatch(1);

    @Override
    protected void append(ILoggingEvent e) {
      entered.countDown();
      try {
        stuck.await();
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      synchronized (lines) {
        lines.add(e.getLevel() + " " + e.getFormattedMessage());
        threads.add(Thread.currentThread().getName());
      }
    }

    List<String> lines() {
      synchronized (lines) {
        return List.copyOf(lines);
      }
    }

    List<String> threads() {
      synchronized (lines) {
        return List.copyOf(threads);
      }
    }
  }

  private void start(int queueSize, int intervalMillis) {
    context.setMDCAdapter(new LogbackMDCAdapter()); // as logback's SLF4J provider sets it
    output.setContext(context);
    output.start();
    batching.setContext(context);
    batching.setQueueSize(queueSize);
    batching.setIntervalMillis(intervalMillis);
    batching.addAppender(output);
    batching.start();
    logger.addAppender(batching);
    logger.setAdditive(false);
    logger.setLevel(Level.INFO);
  }

  @AfterEach
  void stop() {
    output.stuck.countDown();
    batching.stop();
    assertThat(context.getStatusManager().getCopyOfStatusList()).as("logback's own errors")
        .noneMatch(s -> s.getLevel() == ch.qos.logback.core.status.Status.ERROR && !s.getMessage().contains("no appender"));
  }

  private List<String> awaitLines(int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (output.lines().size() < n && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    return output.lines();
  }

  @Test
  void everyLineArrivesInOrderFromTheWritersThread() throws Exception {
    start(1_000, 10);
    for (int i = 0; i < 500; i++) {
      logger.info("line {}", i);
    }
    List<String> lines = awaitLines(500);
    assertThat(lines).hasSize(500);
    for (int i = 0; i < 500; i++) {
      assertThat(lines.get(i)).isEqualTo("INFO line " + i);
    }
    assertThat(output.threads()).containsOnly("tokenpipe-log");
  }

  @Test
  void aLineWaitsForTheNextBatchInsteadOfWakingTheWriter() throws Exception {
    start(100, 1_000);
    logger.info("first");
    assertThat(awaitLines(1)).containsExactly("INFO first");
    // The writer has just taken a batch and now sleeps for a second; nothing the caller does wakes it.
    logger.info("second");
    Thread.sleep(200);
    assertThat(output.lines()).containsExactly("INFO first");
    assertThat(awaitLines(2)).containsExactly("INFO first", "INFO second");
  }

  @Test
  void aStuckOutputNeverBlocksTheCallerAndWhatWasDroppedIsCounted() throws Exception {
    start(100, 5);
    output.stuck = new CountDownLatch(1);
    logger.info("taken"); // the writer takes it and is stuck writing it
    assertThat(output.entered.await(10, TimeUnit.SECONDS)).isTrue();
    long t0 = System.nanoTime();
    for (int i = 0; i < 200; i++) {
      logger.info("info {}", i);
    }
    for (int i = 0; i < 50; i++) {
      logger.warn("warn {}", i);
    }
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).as("the caller never waited").isLessThan(5);
    output.stuck.countDown();
    // Info lines queue up to 80% of the queue (80 of them); the warnings take the other 20 places.
    List<String> lines = awaitLines(1 + 80 + 20 + 1);
    assertThat(lines).hasSize(102);
    assertThat(lines.get(0)).isEqualTo("INFO taken");
    assertThat(lines.subList(1, 81)).allMatch(l -> l.startsWith("INFO info "));
    assertThat(lines.get(80)).isEqualTo("INFO info 79");
    assertThat(lines.subList(81, 101)).allMatch(l -> l.startsWith("WARN warn "));
    assertThat(lines.get(101)).isEqualTo("WARN 150 log line(s) dropped: the log's output did not keep up");
  }

  @Test
  void stopWritesWhatIsStillQueued() throws Exception {
    start(1_000, 60_000);
    logger.info("one");
    logger.warn("two");
    Thread.sleep(50);
    batching.stop();
    assertThat(output.lines()).containsExactly("INFO one", "WARN two");
  }

  @Test
  void aBoundBelowOneFallsBackToTheDefaultInsteadOfSilencingTheLog() throws Exception {
    start(0, 0);
    assertThat(batching.isStarted()).isTrue();
    logger.info("still logged");
    assertThat(awaitLines(1)).containsExactly("INFO still logged");
    assertThat(context.getStatusManager().getCopyOfStatusList())
        .anyMatch(s -> s.getMessage().equals("queueSize 0 is below 1; using 8192"));
  }

  @Test
  void withoutAnOutputItDoesNotStart() {
    batching.setContext(context);
    batching.start();
    assertThat(batching.isStarted()).isFalse();
  }
}
