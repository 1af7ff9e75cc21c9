package dev.tokenpipe.gateway;

import dev.tokenpipe.http.PrometheusText;
import dev.tokenpipe.log.BatchingAppender;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Recorder;

/**
 * The gateway's numbers, one registry per gateway (tests run several in one JVM). Names follow the
 * OpenTelemetry GenAI semantic conventions where one exists (as Prometheus translates them: dots become
 * underscores), {@code tokenpipe_gateway_*} otherwise. All times in seconds, measured with
 * {@code System.nanoTime()}.
 *
 * <ul>
 *   <li>{@code gen_ai_server_time_to_first_token_seconds}: request received from the client → first
 *       content event flushed to it (the TTFT the client sees, heartbeats and role chunks excluded);
 *   <li>{@code tokenpipe_gateway_upstream_ttft_seconds}: request written to the upstream → first content
 *       event read from it (what the model took);
 *   <li>{@code tokenpipe_gateway_itl_seconds}: gap between consecutive content events as read from the
 *       upstream, one sample per gap;
 *   <li>{@code gen_ai_server_time_per_output_token_seconds}: (E2E − TTFT) / (tokens − 1) per stream;
 *   <li>{@code gen_ai_server_request_duration_seconds}: request received → response ended (E2E);
 *   <li>{@code tokenpipe_gateway_added_latency_seconds}: the gateway's own cost per forwarded chunk,
 *       upstream socket read → write to the client socket completed (the write future), which is the
 *       number a zero-buffer gateway must keep in microseconds.
 * </ul>
 */
public final class GatewayMetrics {
  private static final double[] LATENCY_BOUNDS = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  private static final double[] GAP_BOUNDS = {
      0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5};
  private static final double[] ADDED_BOUNDS = {
      0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.04, 0.1};

  private final PrometheusRegistry registry = new PrometheusRegistry();

  final Histogram deliveredTtft = Histogram.builder().name("gen_ai_server_time_to_first_token_seconds")
      .help("Request received to first generated event (content, reasoning or tool call) flushed to the client, by the client's API.")
      .labelNames("api").classicOnly().classicUpperBounds(LATENCY_BOUNDS).withoutExemplars().register(registry);
  final Histogram contentTtft = histogram("tokenpipe_gateway_content_ttft_seconds",
      "Request received to first visible-text event read (after any reasoning).", LATENCY_BOUNDS);
  final Histogram upstreamTtft = histogram("tokenpipe_gateway_upstream_ttft_seconds",
      "Request written to the upstream to first generated event read from it.", LATENCY_BOUNDS);
  final Histogram itl = histogram("tokenpipe_gateway_itl_seconds",
      "Gap between consecutive generated events read from the upstream.", GAP_BOUNDS);
  final Histogram tpot = histogram("gen_ai_server_time_per_output_token_seconds",
      "(E2E - TTFT) / (output tokens - 1), per stream.", GAP_BOUNDS);
  final Histogram e2e = histogram("gen_ai_server_request_duration_seconds",
      "Request received to response ended.", LATENCY_BOUNDS);
  final Histogram added = histogram("tokenpipe_gateway_added_latency_seconds",
      "Upstream read to client write completed, per forwarded chunk.", ADDED_BOUNDS);
  final Gauge active = Gauge.builder().name("tokenpipe_gateway_active_streams")
      .help("Proxied requests in progress.").register(registry);
  final Counter requests = Counter.builder().name("tokenpipe_gateway_requests")
      .help("Proxied requests by the client's API and outcome (done, cancelled, error).").labelNames("api", "outcome")
      .register(registry);
  final Counter errors = Counter.builder().name("tokenpipe_gateway_errors")
      .help("Proxied requests that ended in an error, by kind.").labelNames("kind").register(registry);
  final Counter rejected = Counter.builder().name("tokenpipe_gateway_rejected")
      .help("Requests answered by the gateway itself with an error status.").labelNames("status").register(registry);
  final Counter heartbeats = counter("tokenpipe_gateway_heartbeats", "SSE comment heartbeats sent.");
  final Counter cancels = counter("tokenpipe_gateway_cancels", "Streams whose client went away; the upstream was closed.");
  final Counter slowClients = counter("tokenpipe_gateway_slow_clients_dropped", "Clients dropped after staying unwritable too long.");
  final Counter pauses = counter("tokenpipe_gateway_upstream_pauses", "Times an upstream was paused because its client was not writable.");
  final Counter earlyHeads = counter("tokenpipe_gateway_early_heads",
      "Streams whose upstream head came later than --head-wait: the gateway sent its own 200 head, errors went in-band.");
  final Counter localConnectFailures = counter("tokenpipe_gateway_local_connect_failures",
      "Upstream connects that failed on our own side (EMFILE, ENFILE, ENOBUFS, EADDRNOTAVAIL, ...); never charged to the upstream.");
  final Counter retries = counter("tokenpipe_gateway_retries", "Attempts repeated on another upstream before anything but comments went out.");
  final Counter hedges = counter("tokenpipe_gateway_hedges",
      "Hedged second attempts started (no generated event by --hedge-after).");
  final Counter hedgeWins = counter("tokenpipe_gateway_hedge_wins",
      "Hedged streams whose second attempt delivered the first generated event and was relayed.");
  final Counter hedgeCancelled = counter("tokenpipe_gateway_hedge_cancelled",
      "Attempts closed because the other attempt of a hedged stream won (the first when the hedge won, else the hedge).");
  final Counter hedgeFailures = counter("tokenpipe_gateway_hedge_failures",
      "Hedged attempts that failed before any generated event while the first attempt went on.");
  final Counter hedgeRefusals = counter("tokenpipe_gateway_hedge_budget_refusals",
      "Hedges not started because --hedge-budget was spent.");
  final Counter tokens = Counter.builder().name("tokenpipe_gateway_tokens")
      .help("Output tokens relayed (usage when sent, else one per generated event), by the client's API.")
      .labelNames("api").withoutExemplars().register(registry);
  final Counter events = counter("tokenpipe_gateway_events", "SSE events / NDJSON lines relayed.");

  {
    CounterWithCallback.builder().name("tokenpipe_gateway_log_lines_dropped")
        .help("Log lines the process dropped because its stderr did not keep up (access lines first).")
        .callback(cb -> cb.call(BatchingAppender.droppedTotal())).register(registry);
  }

  /** Same samples as {@link #added}, at nanosecond resolution for exact percentiles (benchmarks, tests). */
  private final Recorder addedNanos = new Recorder(3);
  /** Largest client-side outbound buffer seen when writing (bytes): bounded by the write-buffer watermark if backpressure works. */
  private final AtomicLong maxPendingWriteBytes = new AtomicLong();

  private Histogram histogram(String name, String help, double[] bounds) {
    // Classic buckets only and no exemplars: the text exposition shows neither, and both allocate per sample.
    return Histogram.builder().name(name).help(help).classicOnly().classicUpperBounds(bounds).withoutExemplars()
        .register(registry);
  }

  private Counter counter(String name, String help) {
    return Counter.builder().name(name).help(help).withoutExemplars().register(registry);
  }

  /**
   * Per-upstream numbers, read from the set at scrape time (label {@code upstream}, the normalized base
   * URL): nothing is counted twice and the request path touches no label map.
   */
  void upstreams(UpstreamSet set) {
    java.util.List<Upstream> all = set.all();
    UpstreamScores scores = set.scores();
    CounterWithCallback.builder().name("tokenpipe_gateway_upstream_picks")
        .help("Attempts sent to the upstream: first tries, retries and hedges.").labelNames("upstream")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(set.picks(i), all.get(i).name());
          }
        }).register(registry);
    GaugeWithCallback.builder().name("tokenpipe_gateway_upstream_in_flight")
        .help("Attempts in progress on the upstream (streams in flight).").labelNames("upstream")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(scores.inFlight(i), all.get(i).name());
          }
        }).register(registry);
    GaugeWithCallback.builder().name("tokenpipe_gateway_upstream_ewma_first_token_seconds")
        .help("The balancer's latency score: decaying peak EWMA of request sent to first generated event.")
        .labelNames("upstream")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(scores.scoreNanos(i) / 1e9, all.get(i).name());
          }
        }).register(registry);
    GaugeWithCallback.builder().name("tokenpipe_gateway_upstream_weight")
        .help("Effective weight: the configured weight times the slow-start factor after a return.")
        .labelNames("upstream")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(scores.effectiveWeight(i), all.get(i).name());
          }
        }).register(registry);
    GaugeWithCallback.builder().name("tokenpipe_gateway_upstream_healthy")
        .help("1 while the upstream is usable (not marked down by traffic, not ejected by checks), else 0.")
        .labelNames("upstream")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(set.isHealthy(i) ? 1 : 0, all.get(i).name());
          }
        }).register(registry);
    CounterWithCallback.builder().name("tokenpipe_gateway_upstream_ejections")
        .help("Times the upstream was taken out: by failures of real traffic (passive) or by health checks (active).")
        .labelNames("upstream", "by")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(set.passiveEjections(i), all.get(i).name(), "passive");
            cb.call(set.activeEjections(i), all.get(i).name(), "active");
          }
        }).register(registry);
    CounterWithCallback.builder().name("tokenpipe_gateway_upstream_health_checks")
        .help("Active health checks by result (pass, fail).").labelNames("upstream", "result")
        .callback(cb -> {
          for (int i = 0; i < all.size(); i++) {
            cb.call(set.checksPassed(i), all.get(i).name(), "pass");
            cb.call(set.checksFailed(i), all.get(i).name(), "fail");
          }
        }).register(registry);
  }

  void recordAdded(long nanos) {
    long n = Math.max(0, nanos);
    added.observe(n / 1e9);
    addedNanos.recordValue(n);
  }

  void recordPending(long bytes) {
    if (bytes > maxPendingWriteBytes.get()) { // a plain read per event; the CAS only when a new maximum is set
      maxPendingWriteBytes.accumulateAndGet(bytes, Math::max);
    }
  }

  /** Added latency since the previous call, in nanoseconds. */
  public org.HdrHistogram.Histogram addedLatencyNanosInterval() {
    return addedNanos.getIntervalHistogram();
  }

  public long maxPendingWriteBytes() {
    return maxPendingWriteBytes.get();
  }

  public long activeStreams() {
    return (long) active.get();
  }

  /** Counter value by short name, for tests and the command's summary. */
  public long count(String which) {
    return (long) switch (which) {
      case "heartbeats" -> heartbeats.get();
      case "cancels" -> cancels.get();
      case "slow_clients" -> slowClients.get();
      case "pauses" -> pauses.get();
      case "retries" -> retries.get();
      case "local_connect_failures" -> localConnectFailures.get();
      case "tokens" -> tokens.collect().getDataPoints().stream().mapToDouble(d -> d.getValue()).sum();
      case "hedges" -> hedges.get();
      case "hedge_wins" -> hedgeWins.get();
      case "hedge_cancelled" -> hedgeCancelled.get();
      case "hedge_failures" -> hedgeFailures.get();
      case "hedge_refusals" -> hedgeRefusals.get();
      case "events" -> events.get();
      default -> throw new IllegalArgumentException(which);
    };
  }

  public long errors(String kind) {
    return (long) errors.labelValues(kind).get();
  }

  public String scrape() {
    return PrometheusText.format(registry);
  }
}
