package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Loops;
import dev.tokenpipe.sim.StreamProfile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * Everything {@code tokenpipe serve} can be told, in one immutable value. The command builds it from
 * flags; tests build it with {@link #defaults()} and the {@code with...} copies they need, all made by
 * one {@link Builder} so that a new setting is added in three places: the component, the builder, the
 * defaults.
 *
 * @param host address to listen on
 * @param port port; 0 picks a free one
 * @param upstreams base URLs to proxy to; empty = start the simulated model in-process
 * @param simProfile behaviour of the embedded simulated model (only used without upstreams)
 * @param model model id used when translating {@code /v1/stream} to a chat completion; null = the
 *     client's {@code model} field, else the embedded model's id
 * @param threads event loops shared by clients, upstream connections and the embedded model; 0 = one per core
 * @param heartbeat idle time after which a {@code : ping} comment is sent between events; zero disables
 * @param headWait how long a streaming request's response head waits for the upstream's head; when it
 *     expires the gateway sends its own 200 head and a {@code : ok} comment, and errors are in-band from
 *     then on. Zero sends the gateway's head at once
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
 * @param unhealthyFor the passive cool-down: how long an upstream marked down by failures of real traffic is
 *     skipped ({@link UpstreamSet})
 * @param upstreamKeepalive the longest a pooled upstream connection may have been idle and still be reused
 *     ({@link UpstreamPool#KEEPALIVE}; no flag: tests set it)
 * @param apiKeys bearer keys accepted from clients; empty = no client authentication
 * @param upstreamKey bearer credential injected toward the upstream; null = pass the client's through
 *     (only when client authentication is off). Never logged.
 * @param upstreamCa PEM file of certificates trusted for {@code https://} upstreams in addition to the
 *     JDK's default trust store; null = the JDK's only
 * @param corsOrigins browser origins allowed to call the gateway ({@code https://host[:port]}, or {@code *});
 *     empty = CORS off, the upstream's CORS headers pass through ({@link CorsPolicy})
 * @param probe serve {@code GET /tokenpipe/probe} (see {@link ProbeRoute}); false = 404
 * @param balance how an upstream is chosen: {@code p2c-ewma} (power of two choices scored by first-token
 *     latency and streams in flight) or {@code round-robin} ({@link Balancer})
 * @param healthCheck path of the active health check ({@code GET}, relative to each upstream's base URL
 *     like client paths, e.g. {@code /health} or {@code /v1/models}); null = no active checks
 * @param healthInterval time between two active checks of one upstream; also each check's time limit
 * @param hedgeAfter when a stream's second, hedged attempt starts: {@code off}, a duration, or {@code pNN}
 *     of the observed first-token latency ({@link HedgePolicy.After})
 * @param hedgeBudget most hedges as a share of eligible requests, {@code 10%} or {@code 0.1}
 * @param hedgePaths request paths that may be hedged (generation endpoints, safe to ask twice)
 */
public record GatewayConfig(
    String host,
    int port,
    List<String> upstreams,
    StreamProfile simProfile,
    String model,
    int threads,
    Duration heartbeat,
    Duration headWait,
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
    Duration upstreamKeepalive,
    Set<String> apiKeys,
    String upstreamKey,
    Path upstreamCa,
    List<String> corsOrigins,
    boolean probe,
    String balance,
    String healthCheck,
    Duration healthInterval,

    String hedgeAfter,
    String hedgeBudget,
    List<String> hedgePaths) {

  public GatewayConfig {
    upstreams = List.copyOf(upstreams);
    corsOrigins = List.copyOf(corsOrigins);
    CorsPolicy.of(corsOrigins); // a malformed origin fails at start, with the option's name
    apiKeys = Set.copyOf(apiKeys);
    hedgePaths = List.copyOf(hedgePaths);
    for (String p : hedgePaths) {
      // Matched against request paths, which always start with /: "foo" would silently never hedge.
      if (!p.startsWith("/")) {
        throw new IllegalArgumentException("--hedge-paths must be paths starting with /, e.g. /v1/chat/completions, not '" + p + "'");
      }
    }
    HedgePolicy.After.parse(hedgeAfter); // a bad value fails at start, with the option's name
    HedgePolicy.parseBudget(hedgeBudget);
    Loops.checkThreads(threads);
    if (maxStreams < 0) {
      throw new IllegalArgumentException("--max-streams must be >= 0 (0 = unlimited)");
    }
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("max attempts must be >= 1");
    }
    balance = Balancer.Mode.parse(balance).label();
    if (healthCheck != null && (healthCheck.isBlank() || !healthCheck.startsWith("/"))) {
      throw new IllegalArgumentException("--health-check must be a path starting with /, e.g. /health, not '" + healthCheck + "'");
    }
    if (healthInterval.isNegative() || healthInterval.isZero()) {
      throw new IllegalArgumentException("--health-interval must be above zero");
    }
  }

  /** The defaults of {@code tokenpipe serve}. */
  public static GatewayConfig defaults() {
    return new GatewayConfig("127.0.0.1", 8080, List.of(),
        dev.tokenpipe.sim.SimConfig.defaults().defaultProfile(), null, 0,
        Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(120),
        Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(30),
        1 << 20, 10_000, 2, Duration.ofSeconds(5), UpstreamPool.KEEPALIVE, Set.of(), null, null, List.of(), true,
        "p2c-ewma", null, Duration.ofSeconds(5), "off", "10%", HedgePolicy.DEFAULT_PATHS);
  }

  public GatewayConfig withPort(int port) {
    return edit(b -> b.port = port);
  }

  public GatewayConfig withSimProfile(StreamProfile simProfile) {
    return edit(b -> b.simProfile = simProfile);
  }

  public GatewayConfig withUpstreams(List<String> upstreams) {
    return edit(b -> b.upstreams = upstreams);
  }

  public GatewayConfig withHeartbeat(Duration heartbeat, Duration headWait) {
    return edit(b -> {
      b.heartbeat = heartbeat;
      b.headWait = headWait;
    });
  }

  public GatewayConfig withTimeouts(Duration firstToken, Duration upstreamIdle, Duration slowClient, Duration requestRead) {
    return edit(b -> {
      b.firstTokenTimeout = firstToken;
      b.upstreamIdleTimeout = upstreamIdle;
      b.slowClientTimeout = slowClient;
      b.requestReadTimeout = requestRead;
    });
  }

  public GatewayConfig withLimits(int maxBodyBytes, int maxStreams) {
    return edit(b -> {
      b.maxBodyBytes = maxBodyBytes;
      b.maxStreams = maxStreams;
    });
  }

  public GatewayConfig withAuth(Set<String> apiKeys, String upstreamKey) {
    return edit(b -> {
      b.apiKeys = apiKeys;
      b.upstreamKey = upstreamKey;
    });
  }

  public GatewayConfig withThreads(int threads) {
    return edit(b -> b.threads = threads);
  }

  public GatewayConfig withDrainTimeout(Duration drainTimeout) {
    return edit(b -> b.drainTimeout = drainTimeout);
  }

  public GatewayConfig withConnectTimeout(Duration connectTimeout) {
    return edit(b -> b.connectTimeout = connectTimeout);
  }

  public GatewayConfig withUpstreamCa(Path upstreamCa) {
    return edit(b -> b.upstreamCa = upstreamCa);
  }

  public GatewayConfig withCorsOrigins(List<String> corsOrigins) {
    return edit(b -> b.corsOrigins = corsOrigins);
  }

  public GatewayConfig withProbe(boolean probe) {
    return edit(b -> b.probe = probe);
  }

  public GatewayConfig withBalance(String balance) {
    return edit(b -> b.balance = balance);
  }

  /** @param path null = active checks off */
  public GatewayConfig withHealthCheck(String path, Duration interval) {
    return edit(b -> {
      b.healthCheck = path;
      b.healthInterval = interval;
    });
  }

  /** The passive cool-down: how long an upstream marked down by traffic is skipped. */
  public GatewayConfig withUnhealthyFor(Duration unhealthyFor) {
    return edit(b -> b.unhealthyFor = unhealthyFor);
  }

  public GatewayConfig withHedging(String after, String budget) {
    return edit(b -> {
      b.hedgeAfter = after;
      b.hedgeBudget = budget;
    });
  }

  /** @param keepalive longest idle time after which a pooled upstream connection is still reused */
  public GatewayConfig withUpstreamKeepalive(Duration keepalive) {
    return edit(b -> b.upstreamKeepalive = keepalive);
  }

  public GatewayConfig withMaxAttempts(int maxAttempts) {
    return edit(b -> b.maxAttempts = maxAttempts);
  }

  private GatewayConfig edit(java.util.function.Consumer<Builder> change) {
    Builder b = new Builder(this);
    change.accept(b);
    return b.build();
  }

  /** A mutable copy, for the {@code with...} methods only. */
  private static final class Builder {
    private String host;
    private int port;
    private List<String> upstreams;
    private StreamProfile simProfile;
    private String model;
    private int threads;
    private Duration heartbeat;
    private Duration headWait;
    private Duration connectTimeout;
    private Duration firstTokenTimeout;
    private Duration upstreamIdleTimeout;
    private Duration slowClientTimeout;
    private Duration requestReadTimeout;
    private Duration drainTimeout;
    private int maxBodyBytes;
    private int maxStreams;
    private int maxAttempts;
    private Duration unhealthyFor;
    private Duration upstreamKeepalive;
    private Set<String> apiKeys;
    private String upstreamKey;
    private Path upstreamCa;
    private List<String> corsOrigins;
    private boolean probe;
    private String balance;
    private String healthCheck;
    private Duration healthInterval;
    private String hedgeAfter;
    private String hedgeBudget;
    private List<String> hedgePaths;

    Builder(GatewayConfig c) {
      this.host = c.host;
      this.port = c.port;
      this.upstreams = c.upstreams;
      this.simProfile = c.simProfile;
      this.model = c.model;
      this.threads = c.threads;
      this.heartbeat = c.heartbeat;
      this.headWait = c.headWait;
      this.connectTimeout = c.connectTimeout;
      this.firstTokenTimeout = c.firstTokenTimeout;
      this.upstreamIdleTimeout = c.upstreamIdleTimeout;
      this.slowClientTimeout = c.slowClientTimeout;
      this.requestReadTimeout = c.requestReadTimeout;
      this.drainTimeout = c.drainTimeout;
      this.maxBodyBytes = c.maxBodyBytes;
      this.maxStreams = c.maxStreams;
      this.maxAttempts = c.maxAttempts;
      this.unhealthyFor = c.unhealthyFor;
      this.upstreamKeepalive = c.upstreamKeepalive;
      this.apiKeys = c.apiKeys;
      this.upstreamKey = c.upstreamKey;
      this.upstreamCa = c.upstreamCa;
      this.corsOrigins = c.corsOrigins;
      this.probe = c.probe;
      this.balance = c.balance;
      this.healthCheck = c.healthCheck;
      this.healthInterval = c.healthInterval;
      this.hedgeAfter = c.hedgeAfter;
      this.hedgeBudget = c.hedgeBudget;
      this.hedgePaths = c.hedgePaths;
    }

    GatewayConfig build() {
      return new GatewayConfig(host, port, upstreams, simProfile, model, threads, heartbeat, headWait, connectTimeout, firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestReadTimeout, drainTimeout, maxBodyBytes, maxStreams, maxAttempts, unhealthyFor, upstreamKeepalive, apiKeys, upstreamKey, upstreamCa, corsOrigins, probe, balance, healthCheck, healthInterval, hedgeAfter, hedgeBudget, hedgePaths);
    }
  }

  /** Hides the upstream credential from logs and exception messages. */
  @Override
  public String toString() {
    return "GatewayConfig[" + host + ":" + port + " upstreams=" + upstreams + " balance=" + balance + " heartbeat=" + heartbeat
        + " apiKeys=" + apiKeys.size() + " upstreamKey=" + (upstreamKey == null ? "none" : "***") + "]";
  }
}
