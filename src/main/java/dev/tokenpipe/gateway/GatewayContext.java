package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Loops;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What all connections of one gateway share: configuration, upstreams and their pool, credentials,
 * metrics, and the set of running exchanges (for {@code --max-streams} and draining on shutdown).
 * Everything here is thread-safe; per-stream state lives in {@link ProxyExchange} on its event loop.
 *
 * @param hedging when streams get a hedged second attempt ({@link HedgePolicy}), per gateway
 * @param defaultModel model used by {@code /v1/stream} when neither {@code --model} nor the request names
 *     one (the embedded simulated model's id; null with external upstreams)
 * @param accessLog where this gateway's requests are logged: {@link AccessLog#ON}; {@link AccessLog#OFF} only
 *     for the start-up warm-up's own context ({@link #forWarmup})
 */
record GatewayContext(
    GatewayConfig config,
    UpstreamSet upstreams,
    UpstreamConnections pool,
    ApiKeys apiKeys,
    GatewayMetrics metrics,
    String defaultModel,
    Set<ProxyExchange> running,
    AtomicInteger streams,
    AtomicBoolean drainingFlag,
    AtomicBoolean warmingFlag,
    HedgePolicy hedging,
    AccessLog accessLog) {

  /** @param tls the TLS client for https:// upstreams, or null when there are none */
  GatewayContext(GatewayConfig config, UpstreamSet upstreams, UpstreamTls tls, ApiKeys apiKeys, GatewayMetrics metrics,
      String defaultModel) {
    this(config, upstreams, new UpstreamPool((int) config.connectTimeout().toMillis(), config.upstreamKeepalive(), tls), apiKeys, metrics, defaultModel,
        ConcurrentHashMap.newKeySet(), new AtomicInteger(), new AtomicBoolean(), new AtomicBoolean(), HedgePolicy.of(config),
        AccessLog.ON);
  }

  /**
   * The context of the start-up warm-up's own connections ({@link Warmup}): this gateway's keys and connection
   * pool (so the first client finds a warm upstream connection), but books that nothing reads: metrics no
   * {@code /metrics} scrapes, no access log, its own stream slots (never one of {@code --max-streams}, never
   * drained) and its own upstream set over the same upstreams, so that the warm-up neither moves a balancer
   * score nor marks an upstream down.
   *
   * @param config this gateway's settings as the warm-up needs them ({@link Warmup})
   * @param upstreams a set of its own over this gateway's upstreams
   */
  GatewayContext forWarmup(GatewayConfig config, UpstreamSet upstreams) {
    return new GatewayContext(config, upstreams, pool, apiKeys, new GatewayMetrics(), defaultModel,
        ConcurrentHashMap.newKeySet(), new AtomicInteger(), new AtomicBoolean(), new AtomicBoolean(),
        HedgePolicy.of(config), AccessLog.OFF);
  }

  /** True once shutdown began: {@code /readyz} turns 503 so load balancers stop sending. */
  boolean draining() {
    return drainingFlag.get();
  }

  /** True while {@link Warmup} runs: {@code /readyz} says {@code warming}. */
  boolean warming() {
    return warmingFlag.get();
  }

  /** Claims a stream slot; false when {@code --max-streams} are already running. */
  boolean tryAdmit() {
    int max = config.maxStreams();
    while (true) {
      int n = streams.get();
      if (max > 0 && n >= max) {
        return false;
      }
      if (streams.compareAndSet(n, n + 1)) {
        return true;
      }
    }
  }

  void register(ProxyExchange exchange) {
    running.add(exchange);
    metrics.active.inc();
  }

  void unregister(ProxyExchange exchange) {
    if (running.remove(exchange)) {
      metrics.active.dec();
      streams.decrementAndGet();
    }
  }

  /**
   * Waits until no exchange is running or {@code deadlineNanos} ({@link System#nanoTime()}) has passed
   * ({@link Loops#awaitEmpty}). Used by the drain on shutdown and by the warm-up before ready.
   *
   * @return true when none is running
   */
  boolean awaitNoStreams(long deadlineNanos) {
    return Loops.awaitEmpty(running, deadlineNanos);
  }
}
