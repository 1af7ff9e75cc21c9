package dev.tokenpipe.bench;

import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.Connection;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.StreamingClient;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Drives the load: {@code concurrency} slots, each one keep-alive connection pinned to one event loop,
 * spread round-robin over the client's loops.
 *
 * <p><b>Closed loop</b> (no rate): every slot sends its next request as soon as the previous one ended, so the
 * target's speed sets the pace; latencies start when the request is written.
 *
 * <p><b>Open loop</b> ({@code --rate}): an arrival thread creates requests on a schedule fixed in advance
 * (Poisson, gamma or constant gaps, see {@link Arrivals}), independent of how fast the target answers. An arrival that finds no idle
 * slot waits in a queue. Every latency is measured from the arrival's <i>intended</i> time, so time spent
 * waiting because the target (or the generator) is slow shows up in TTFT and E2E instead of silently
 * disappearing: the coordinated-omission correction wrk2 applies to whole responses. The wait itself is
 * reported as dispatch lag.
 *
 * <p>Connections are opened through a gate of {@code connectBatch} connects in flight, so 10,000 streams ramp
 * up without overflowing the target's accept backlog (somaxconn).
 */
final class LoadEngine {
  private final BenchConfig config;
  private final Metrics metrics;
  private final StreamingClient client;
  private final List<ClientRequest> requests;
  private final List<Slot> slots = new ArrayList<>();

  private final Object lock = new Object();
  private final ArrayDeque<Slot> idle = new ArrayDeque<>();
  private final ArrayDeque<Job> pending = new ArrayDeque<>();

  /**
   * Open loop: the most arrivals that may wait for a free stream (a few MB). Beyond it the run stops
   * ({@link #overloaded()}): the target ends far fewer requests a second than {@code --rate} with {@code -c} streams,
   * every further arrival would only wait longer, and the queue had no bound: at a rate the target could not
   * follow it grew for the whole run (99 million arrivals, 5 GB of heap, in 36 s).
   */
  static final int MAX_PENDING = 100_000;
  private final ArrayDeque<Runnable> connectQueue = new ArrayDeque<>();
  private int connectsInFlight;
  private long issued;
  private long completed;
  private long measuredIssued;
  private boolean exhausted;
  private final CountDownLatch done = new CountDownLatch(1);

  private volatile boolean aborted;
  private final FailFast failFast = new FailFast();
  private volatile String refused;
  private volatile String unreachable;
  private volatile String overloaded;
  /** When {@link #start()} ran: the never-connected grace counts from here, connection ramp included. */
  private long launchNanos;
  private long startNanos;
  private volatile long measureStartNanos;
  private final AtomicLong lastEndNanos = new AtomicLong();
  /** Open loop: when sending stopped (the end of -z, or the first arrival past -n); 0 while sending. */
  private volatile long sendEndNanos;
  private Thread arrivals;

  LoadEngine(BenchConfig config, Metrics metrics, StreamingClient client, List<ClientRequest> requests) {
    this.config = config;
    this.metrics = metrics;
    this.client = client;
    this.requests = requests;
  }

  /** Starts the run; returns at once. */
  void start() {
    startNanos = System.nanoTime();
    launchNanos = startNanos;
    measureStartNanos = config.warmupNanos() > 0 || config.warmupRequests() == 0 ? startNanos + config.warmupNanos() : 0;
    for (int i = 0; i < config.concurrency(); i++) {
      slots.add(new Slot(client.group().next()));
    }
    if (!config.openLoop()) {
      for (Slot s : slots) {
        s.loop.execute(s::next);
      }
      return;
    }
    // Open loop: connect every slot first (ramp), then start the arrival clock.
    CountDownLatch warmed = new CountDownLatch(slots.size());
    for (Slot s : slots) {
      s.loop.execute(() -> s.warm(warmed));
    }
    arrivals = new Thread(() -> {
      try {
        warmed.await();
      } catch (InterruptedException e) {
        return;
      }
      runArrivals();
    }, "tokenpipe-arrivals");
    arrivals.setDaemon(true);
    arrivals.start();
  }

  /** Waits for the end of the run; true when it ended, false on timeout. */
  boolean await(long timeout, TimeUnit unit) throws InterruptedException {
    return done.await(timeout, unit);
  }

  /** Ctrl-C: stop issuing, cancel streams in flight (they count as cancelled, not as errors). */
  void abort() {
    aborted = true;
    synchronized (lock) {
      exhausted = true;
      completed += pending.size();
      pending.clear();
      checkDone();
    }
    if (arrivals != null) {
      arrivals.interrupt();
    }
    for (Slot s : slots) {
      s.loop.execute(() -> {
        if (s.conn != null) {
          s.conn.close();
        }
      });
    }
  }

  boolean aborted() {
    return aborted;
  }

  /**
   * A request ended (counted already): a run whose first requests are all refused alike stops here, as
   * Ctrl-C would stop it ({@link FailFast}).
   */
  void ended(ExchangeOutcome outcome, boolean measured) {
    if (!aborted && failFast.stop(outcome, measured)) {
      // The refusals are the run's result, warm-up or not: those counted as warm-up become errors.
      int warmups = failFast.warmupRefusals();
      metrics.warmup.add(-warmups);
      for (int i = 0; i < warmups; i++) {
        metrics.error(outcome.errorKey(), failFast.message());
      }
      refused = failFast.reason();
      abort();
    }
  }

  /** Why the run stopped before its end because its requests were refused, one line; null when it did not. */
  String refused() {
    return refused;
  }

  /**
   * A connect failed: a run that has never connected stops here once its grace has passed ({@link FailFast}).
   * Failed connects of the warm-up become the run's errors then, as refusals do.
   */
  private void connectFailed(String message, boolean measured) {
    if (!aborted && failFast.unreachable(message, measured, System.nanoTime() - launchNanos)) {
      int warmups = failFast.warmupConnectFailures();
      metrics.warmup.add(-warmups);
      for (int i = 0; i < warmups; i++) {
        metrics.error("connect", message);
      }
      unreachable = failFast.unreachableReason();
      abort();
    }
  }

  /** Why the run stopped before its end because it never connected, one line; null when it did not. */
  String unreachable() {
    return unreachable;
  }

  /** Why an open-loop run stopped before its end with {@link #MAX_PENDING} arrivals queued, one line; else null. */
  String overloaded() {
    return overloaded;
  }

  /** True when the run stopped itself before its end: refused, never connected, or its queue of arrivals full. */
  boolean stoppedEarly() {
    return refused != null || unreachable != null || overloaded != null;
  }

  /** Milliseconds from the start of measurement to {@code nanos}. */
  double offsetMillis(long nanos) {
    long base = measureStartNanos == 0 ? startNanos : measureStartNanos;
    return (nanos - base) / 1e6;
  }

  void measuredEnd(long nanos) {
    lastEndNanos.accumulateAndGet(nanos, Math::max);
  }

  /** Measured wall time: start of measurement to the end of the last measured request, in nanoseconds. */
  long measuredNanos() {
    long start = measureStartNanos == 0 ? startNanos : measureStartNanos;
    long end = lastEndNanos.get();
    return end > start ? end - start : Math.max(0, System.nanoTime() - start);
  }

  /**
   * Open loop: the sending window, start of measurement to the end of sending (the end of {@code -z}, or with
   * {@code -n} the intended time of the first arrival not sent), in nanoseconds; 0 in closed loop or before the
   * arrivals ended. Requests sent over this window are the offered rate: the completed throughput is over
   * {@link #measuredNanos()}, which adds the drain of the requests still streaming when sending stopped.
   */
  long sendWindowNanos() {
    long end = sendEndNanos;
    long start = measureStartNanos == 0 ? startNanos : measureStartNanos;
    return end > start ? end - start : 0;
  }

  /** Measured (not warm-up) requests sent, or, when the connect failed, attempted. */
  long measuredSent() {
    synchronized (lock) {
      return measuredIssued;
    }
  }

  long elapsedNanos() {
    return System.nanoTime() - startNanos;
  }

  /** Requests issued so far (warm-up included) and the total planned (-1 when open-ended). */
  long issued() {
    synchronized (lock) {
      return issued;
    }
  }

  long inFlight() {
    synchronized (lock) {
      return issued - completed;
    }
  }

  /** True once the first measured (not warm-up) request has been issued. */
  boolean measuredStarted() {
    synchronized (lock) {
      return measuredIssued > 0;
    }
  }

  long planned() {
    return config.requests() > 0 ? config.requests() : -1;
  }

  // ---- closed loop -------------------------------------------------------------------------------------

  /** The next job for a free slot, or null when the run is over (or, open loop, when nothing is pending). */
  private Job take(Slot slot) {
    synchronized (lock) {
      if (config.openLoop()) {
        Job j = pending.poll();
        if (j == null && !exhausted) {
          idle.push(slot);
        }
        return j;
      }
      if (exhausted) {
        return null;
      }
      long now = System.nanoTime();
      if (config.durationNanos() > 0 && now - startNanos >= config.warmupNanos() + config.durationNanos()) {
        exhausted = true;
        checkDone();
        return null;
      }
      Job j = newJob(now);
      if (j == null) {
        exhausted = true;
        checkDone();
      }
      return j;
    }
  }

  /** Under lock: a job intended at {@code intended}, or null when the request budget is spent. */
  private Job newJob(long intended) {
    boolean measured = issued >= config.warmupRequests() && intended - startNanos >= config.warmupNanos();
    if (measured) {
      if (config.requests() > 0 && measuredIssued >= config.requests()) {
        return null;
      }
      if (measuredIssued++ == 0 && measureStartNanos == 0) {
        measureStartNanos = intended;
      }
    }
    return new Job(issued++, intended, measured);
  }

  private void finished() {
    synchronized (lock) {
      completed++;
      checkDone();
    }
  }

  private void checkDone() {
    if (exhausted && completed >= issued) {
      done.countDown();
    }
  }

  // ---- open loop ---------------------------------------------------------------------------------------

  private void runArrivals() {
    SplittableRandom random = new SplittableRandom();
    double meanGapNanos = 1e9 / config.ratePerSecond();
    long next = System.nanoTime();
    long deadline = next + config.warmupNanos() + config.durationNanos();
    synchronized (lock) {
      // The warm-up clock starts with the first arrival, not with the connection ramp.
      startNanos = next;
      if (measureStartNanos != 0) {
        measureStartNanos = next + config.warmupNanos();
      }
    }
    long sendEnd = 0;
    while (!aborted) {
      if (config.durationNanos() > 0 && next >= deadline) {
        sendEnd = deadline;
        break;
      }
      long wait;
      while ((wait = next - System.nanoTime()) > 0 && !aborted) {
        LockSupport.parkNanos(wait);
      }
      Slot slot;
      Job job;
      synchronized (lock) {
        if (aborted) {
          break;
        }
        job = newJob(next);
        if (job == null) {
          sendEnd = next; // the first arrival not sent: -n ends the sending window here
          break;
        }
        slot = idle.poll();
        if (slot == null) {
          pending.add(job);
          if (pending.size() >= MAX_PENDING) {
            overloaded = String.format(java.util.Locale.ROOT, "%d arrivals waiting for a free stream (-c %d): the target"
                + " ends far fewer requests a second than --rate %s; lower --rate or raise -c", pending.size(),
                config.concurrency(), config.ratePerSecond());
          }
        }
      }
      if (overloaded != null) {
        sendEnd = next;
        abort();
        break;
      }
      if (slot != null) {
        Slot s = slot;
        s.loop.execute(() -> s.execute(job));
      }
      double gap = config.arrivals().nextGap(meanGapNanos, random);
      next += Math.max(1, (long) gap);
    }
    sendEndNanos = sendEnd != 0 ? sendEnd : System.nanoTime(); // aborted: sending stopped now
    synchronized (lock) {
      exhausted = true;
      checkDone();
    }
  }

  // ---- connections -------------------------------------------------------------------------------------

  /** Runs {@code connect} when fewer than {@code connectBatch} connects are in flight, else queues it. */
  private void gatedConnect(Runnable connect) {
    synchronized (lock) {
      if (connectsInFlight >= config.connectBatch()) {
        connectQueue.add(connect);
        return;
      }
      connectsInFlight++;
    }
    connect.run();
  }

  private void connectDone() {
    Runnable next;
    synchronized (lock) {
      next = connectQueue.poll();
      if (next == null) {
        connectsInFlight--;
      }
    }
    if (next != null) {
      next.run();
    }
  }

  /** One virtual user: a connection on one event loop, one request at a time. All methods run on {@link #loop}. */
  private final class Slot {
    final EventLoop loop;
    Connection conn;

    Slot(EventLoop loop) {
      this.loop = loop;
    }

    void next() {
      Job j = take(this);
      if (j != null) {
        execute(j);
      }
    }

    void warm(CountDownLatch warmed) {
      gatedConnect(() -> client.connect(config.target(), loop).addListener((Future<Connection> f) -> {
        connectDone();
        if (f.isSuccess()) {
          failFast.connected();
          conn = f.getNow();
          metrics.recordNanosAsMicros(Metric.CONNECT, conn.connectNanos());
        }
        synchronized (lock) {
          idle.push(this);
        }
        warmed.countDown();
      }));
    }

    void execute(Job job) {
      if (aborted) {
        metrics.cancelled.increment();
        finished();
        return;
      }
      if (conn != null && conn.reusable()) {
        send(job);
        return;
      }
      if (conn != null) {
        conn.close();
        conn = null;
      }
      gatedConnect(() -> client.connect(config.target(), loop).addListener((Future<Connection> f) -> {
        connectDone();
        if (f.isSuccess()) {
          failFast.connected();
        }
        if (f.isSuccess() && aborted) {
          // Stopped while connecting (Ctrl-C, or refusals): no request goes out on the new connection.
          f.getNow().close();
          metrics.cancelled.increment();
          finished();
        } else if (f.isSuccess()) {
          conn = f.getNow();
          metrics.recordNanosAsMicros(Metric.CONNECT, conn.connectNanos());
          send(job);
        } else {
          connectFailed(job, f.cause().getMessage());
        }
      }));
    }

    private void connectFailed(Job job, String message) {
      if (aborted) {
        metrics.cancelled.increment();
      } else if (job.measured()) {
        metrics.error("connect", message);
        metrics.row(new Metrics.RequestRow(offsetMillis(job.intendedNanos()), -1, -1, -1, -1, 0, 0, "connect"));
      } else {
        metrics.warmup.increment();
      }
      LoadEngine.this.connectFailed(message, job.measured());
      finished();
      // Back off a little so an unreachable target does not turn the generator into a connect spinner.
      loop.schedule(this::next, config.openLoop() ? 0 : 20, TimeUnit.MILLISECONDS);
    }

    private void send(Job job) {
      metrics.started.increment();
      ClientRequest req = requests.get((int) (job.index() % requests.size()));
      conn.send(req, new RequestProbe(job, config, metrics, LoadEngine.this, () -> {
        finished();
        next();
      }), config.timeoutNanos());
    }
  }
}
