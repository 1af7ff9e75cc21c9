package dev.tokenpipe.gateway;

import dev.tokenpipe.sim.StreamProfile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * Everything {@code tokenpipe serve} can be told, in one immutable value. The command builds it from
 * flags; tests build it with {@link #defaults()} and the {@code with...} copies they need.
 *
 * @param host address to listen on
 * @param port port; 0 picks a free one
 * @param upstreams base URLs to proxy to; empty = start the simulated model in-process
 * @param simProfile behaviour of the embedded simulated model (only used without upstreams)
 * @param model model id used when translating {@code /v1/stream} to a chat completion; null = the
 *     client's {@code model} field, else the embedded model's id
 * @param threads event loops shared by clients, upstream connections and the embedded model; 0 = one per core
 * @param heartbeat idle time after which a {@code : ping} comment is sent between events; zero disables
 * @param initialComment send a comment (and so the response head) as soon as a streaming request is
 *     accepted, before the upstream answers
 * @param connectTimeout upstream TCP connect limit
 * @param firstTokenTimeout request accepted to first upstream event; zero disables
 * @param upstreamIdleTimeout longest silence from the upstream once a request was sent; zero disables
 * @param slowClientTimeout how long a client may stay unwritable before it is dropped; zero disables
 * @param requestReadTimeout limit to receive a whole request (head and body) once it began; also
 *     closes idle keep-alive connections after this long
 * @param drainTimeout on shutdown, how long running streams may continue before they are ended
 * @param maxBodyBytes largest request body; larger gets 413
 * @param maxStreams concurrent proxied requests; more get 429; 0 = unlimited
 * @param maxAttempts upstream attempts per request (retries go to another healthy upstream)
 * @param unhealthyFor how long an upstream that refused or failed is skipped by round-robin
 * @param apiKeys bearer keys accepted from clients; empty = no client authentication
 * @param upstreamKey bearer credential injected toward the upstream; null = pass the client's through
 *     (only when client authentication is off). Never logged.
 * @param upstreamCa PEM file of certificates trusted for {@code https://} upstreams in addition to the
 *     JDK's default trust store; null = the JDK's only
 * @param probe serve {@code GET /tokenpipe/probe} (see {@link ProbeRoute}); false = 404
 */
public record GatewayConfig(
    String host,
    int port,
    List<String> upstreams,
    StreamProfile simProfile,
    String model,
    int threads,
    Duration heartbeat,
    boolean initialComment,
    Duration connectTimeout,
    Duration firstTokenTimeout,
    Duration upstreamIdleTimeout,
    Duration slowClientTimeout,
    Duration requestReadTimeout,
    Duration drainTimeout,
    int maxBodyBytes,
    int maxStreams,
    int maxAttempts,
    Duration unhealthyFor,
    Set<String> apiKeys,
    String upstreamKey,
    Path upstreamCa,
    boolean probe) {

  public GatewayConfig {
    upstreams = List.copyOf(upstreams);
    apiKeys = Set.copyOf(apiKeys);
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("max attempts must be >= 1");
    }
  }

  /** The defaults of {@code tokenpipe serve}. */
  public static GatewayConfig defaults() {
    return new GatewayConfig("127.0.0.1", 8080, List.of(),
        dev.tokenpipe.sim.SimConfig.defaults().defaultProfile(), null, 0,
        Duration.ofSeconds(15), true, Duration.ofSeconds(5), Duration.ofSeconds(120), Duration.ofSeconds(60),
        Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(30),
        1 << 20, 10_000, 2, Duration.ofSeconds(5), Set.of(), null, null, true);
  }

  public GatewayConfig withPort(int port) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withUpstreams(List<String> upstreams) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withHeartbeat(Duration heartbeat, boolean initialComment) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withTimeouts(Duration firstToken, Duration upstreamIdle, Duration slowClient, Duration requestRead) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstToken, upstreamIdle, slowClient, requestRead, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withLimits(int maxBodyBytes, int maxStreams) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withAuth(Set<String> apiKeys, String upstreamKey) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withThreads(int threads) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withDrainTimeout(Duration drainTimeout) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withConnectTimeout(Duration connectTimeout) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withUpstreamCa(Path upstreamCa) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  public GatewayConfig withProbe(boolean probe) {
    return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, initialComment,
        connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout,
        maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, apiKeys, upstreamKey, upstreamCa, probe);
  }

  /** Hides the upstream credential from logs and exception messages. */
  @Override
  public String toString() {
    return "GatewayConfig[" + host + ":" + port + " upstreams=" + upstreams + " heartbeat=" + heartbeat
        + " apiKeys=" + apiKeys.size() + " upstreamKey=" + (upstreamKey == null ? "none" : "***") + "]";
  }
}
