package dev.tokenpipe.sim;

import dev.tokenpipe.http.PrometheusText;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Recorder;

/**
 * The simulated model's counters, one registry per server so several servers in one JVM (tests,
 * the gateway's embedded model) keep separate books.
 */
public final class SimMetrics {
  private final PrometheusRegistry registry = new PrometheusRegistry();
  final Counter started = counter("tokenpipe_sim_streams_started", "Streams that began sending a response.");
  final Counter completed = counter("tokenpipe_sim_streams_completed", "Streams that sent their terminator.");
  final Counter cancelled = counter("tokenpipe_sim_streams_cancelled", "Streams whose client went away mid-stream.");
  /**
   * Streams the sim failed on purpose mid-stream, by {@code fault}: {@code drop} (cut without a terminator) or
   * {@code error_after} (the API's in-band error, then a clean end). One name, since both are injected stream
   * failures; a label, since a client meets them differently. Both series exist from the start (at 0).
   */
  final Counter failed = Counter.builder()
      .name("tokenpipe_sim_streams_failed")
      .help("Streams ended by an injected fault, by fault: drop (cut) or error_after (in-band error event).")
      .labelNames("fault")
      .withoutExemplars()
      .register(registry);
  final CounterDataPoint dropped = failed.labelValues("drop");
  final CounterDataPoint erroredInBand = failed.labelValues("error_after");
  final Counter shutDown = counter("tokenpipe_sim_streams_shut_down",
      "Streams ended with an in-band error event because the drain period ran out.");
  final Counter idleClosed = counter("tokenpipe_sim_idle_connections_closed",
      "Keep-alive connections closed after --idle-timeout without a request.");
  final Counter errors = Counter.builder()
      .name("tokenpipe_sim_error_responses")
      .help("Requests answered with an HTTP error, by status.")
      .labelNames("status")
      .withoutExemplars()
      .register(registry);
  final Counter tokens = counter("tokenpipe_sim_tokens_sent", "Generated tokens written to clients.");
  final Counter events = counter("tokenpipe_sim_events_sent", "SSE events carrying tokens written to clients.");
  final Gauge active = Gauge.builder()
      .name("tokenpipe_sim_active_streams")
      .help("Streams currently open.")
      .withoutExemplars()
      .register(registry);
  final Histogram pacingError = Histogram.builder()
      .name("tokenpipe_sim_pacing_error_seconds")
      .help("How far from its schedule each event was emitted (early or late).")
      .classicUpperBounds(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
      .withoutExemplars()
      .register(registry);
  final Counter pauses = counter("tokenpipe_sim_backpressure_pauses",
      "Times a response stopped generating because its client was not reading (channel unwritable).");
  final Gauge maxPending = Gauge.builder()
      .name("tokenpipe_sim_max_pending_write_bytes")
      .help("Largest outbound buffer of any connection seen after a write (bytes); backpressure bounds it.")
      .withoutExemplars()
      .register(registry);
  private final AtomicLong maxPendingWriteBytes = new AtomicLong();
  final Gauge maxQueued = Gauge.builder()
      .name("tokenpipe_sim_max_queued_requests")
      .help("Most pipelined requests seen waiting on one connection (bounded: the connection stops reading when its queue is full).")
      .withoutExemplars()
      .register(registry);
  private final AtomicLong maxQueuedRequests = new AtomicLong();
  /** Same samples at microsecond resolution, for the pacing benchmark's exact percentiles. */
  private final Recorder pacingErrorMicros = new Recorder(3);

  // Exemplars are off: sampling them costs on every event and nothing here has trace context.
  private Counter counter(String name, String help) {
    return Counter.builder().name(name).help(help).withoutExemplars().register(registry);
  }

  void recordPacingError(long errorNanos) {
    long nanos = Math.abs(errorNanos);
    pacingError.observe(nanos / 1e9);
    pacingErrorMicros.recordValue(nanos / 1000);
  }

  /** Records a connection's outbound bytes (written, not yet taken by the kernel) after a write. */
  void recordPending(Channel channel) {
    ChannelOutboundBuffer out = channel.unsafe().outboundBuffer();
    if (out != null) {
      long bytes = out.totalPendingWriteBytes();
      if (bytes > maxPendingWriteBytes.get()) {
        maxPending.set(maxPendingWriteBytes.accumulateAndGet(bytes, Math::max));
      }
    }
  }

  void recordQueued(int requests) {
    if (requests > maxQueuedRequests.get()) {
      maxQueued.set(maxQueuedRequests.accumulateAndGet(requests, Math::max));
    }
  }

  /** Most pipelined requests seen waiting on one connection. */
  public long maxQueuedRequests() {
    return maxQueuedRequests.get();
  }

  /** Largest outbound buffer of any connection seen after a write, in bytes. */
  public long maxPendingWriteBytes() {
    return maxPendingWriteBytes.get();
  }

  /** Pacing error since the previous call (an interval histogram, in microseconds). */
  public org.HdrHistogram.Histogram pacingErrorMicrosInterval() {
    return pacingErrorMicros.getIntervalHistogram();
  }

  public long activeStreams() {
    return (long) active.get();
  }

  public long count(String which) {
    return switch (which) {
      case "started" -> (long) started.get();
      case "completed" -> (long) completed.get();
      case "cancelled" -> (long) cancelled.get();
      case "failed" -> (long) (dropped.get() + erroredInBand.get());
      case "tokens" -> (long) tokens.get();
      case "pauses" -> (long) pauses.get();
      case "shut_down" -> (long) shutDown.get();
      case "idle_closed" -> (long) idleClosed.get();
      default -> throw new IllegalArgumentException(which);
    };
  }

  public String scrape() {
    return PrometheusText.format(registry);
  }
}
