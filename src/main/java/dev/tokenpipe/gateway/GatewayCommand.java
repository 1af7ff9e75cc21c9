package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.ByteSizes;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.cli.NonEmpty;
import dev.tokenpipe.cli.Ports;
import dev.tokenpipe.cli.ShutdownSignal;
import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.net.Transport;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.StreamProfile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tokenpipe serve}: the zero-buffer streaming gateway. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Zero-buffer streaming gateway for OpenAI (chat, completions, Responses), Anthropic Messages and Ollama",
      "streams: a reverse proxy that relays every upstream event",
      "the moment it arrives (one flush per upstream read, no compression, anti-buffering headers),",
      "with heartbeats, cancellation, backpressure and per-hop timing metrics.",
      "Without --upstream it serves the built-in simulated model, so it works out of the box.",
      "Endpoints: /v1/* and /api/* (proxied), POST /v1/stream {\"prompt\":...} (one data: <token> event per token),",
      "/healthz, /readyz, /metrics (Prometheus). Secrets come from the environment, never from flags."
    })
public final class GatewayCommand implements Callable<Integer> {
  static final String UPSTREAM_ENV = "TOKENPIPE_UPSTREAM";
  static final String UPSTREAM_KEY_ENV = "TOKENPIPE_UPSTREAM_KEY";

  @Option(names = "--host", defaultValue = "127.0.0.1", converter = NonEmpty.class, description = "Address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for all).")
  String host;

  @Option(names = {"-p", "--port"}, defaultValue = "8080", converter = Ports.class, description = "Port (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = {"-u", "--upstream"}, paramLabel = "URL[=WEIGHT]", split = ",", converter = NonEmpty.class, description = {
      "Upstream base URL, e.g. http://10.0.0.5:8000 or https://api.openai.com/v1 (repeatable;",
      "balanced over healthy ones, see --balance), optionally with a relative weight 1..100: http://a:8000/v1=3.",
      "https:// verifies the certificate and host name.",
      "Default: env " + UPSTREAM_ENV + " (comma-separated), else the built-in simulated model."})
  List<String> upstreams = new ArrayList<>();

  @Option(names = "--balance", paramLabel = "p2c-ewma|round-robin", defaultValue = "p2c-ewma", description = {
      "How a stream's upstream is chosen: p2c-ewma = the better of two random healthy upstreams, scored by",
      "streams in flight and a decaying average of first-token latency; round-robin = in turn. Default: ${DEFAULT-VALUE}."})
  String balance;

  @Option(names = "--health-check", paramLabel = "PATH", description = {
      "Active health check: GET this path (relative to each upstream's base URL, e.g. /health or /v1/models)",
      "every --health-interval; 3 failures in a row eject the upstream, 2 passes (2xx) bring it back. Default: off."})
  String healthCheck;

  @Option(names = "--health-interval", defaultValue = "5s", converter = Durations.class, description =
      "Time between active checks of one upstream, also each check's time limit. Default: ${DEFAULT-VALUE}.")
  Duration healthInterval;

  @Option(names = "--upstream-ca", paramLabel = "FILE", description = {
      "PEM certificate(s) to trust for https:// upstreams in addition to the JDK's default trust store,",
      "e.g. a private CA. Hostname verification stays on."})
  Path upstreamCa;

  @Option(names = "--upstream-key-env", paramLabel = "NAME", defaultValue = UPSTREAM_KEY_ENV, description =
      "Environment variable holding the upstream's bearer key, sent as Authorization (default: ${DEFAULT-VALUE}).")
  String upstreamKeyEnv;

  @Option(names = "--api-keys-file", paramLabel = "FILE", description = "Accept only clients with one of these bearer keys (one per line); 401 otherwise.")
  Path apiKeysFile;

  @Option(names = "--model", converter = NonEmpty.class, description = "Model id for POST /v1/stream (default: the request's \"model\", else the simulated model's).")
  String model;

  @Option(names = "--heartbeat", defaultValue = "15s", converter = Durations.class, description = "Send ': ping' after this long without an event, between events only (0 = off). Default: ${DEFAULT-VALUE}.")
  Duration heartbeat;

  @Option(names = "--head-wait", defaultValue = "10s", converter = Durations.class, description = {
      "How long a stream's response head waits for the upstream's (status and headers relayed as they are).",
      "After it the gateway sends its own 200 head and ': ok', and errors become in-band (0 = at once). Default: ${DEFAULT-VALUE}."})
  Duration headWait;

  @Option(names = "--first-token-timeout", defaultValue = "120s", converter = Durations.class, description = "End the stream with an error event if no token came this long after the request (0 = off). Default: ${DEFAULT-VALUE}.")
  Duration firstTokenTimeout;

  @Option(names = "--upstream-idle-timeout", defaultValue = "60s", converter = Durations.class, description = "End the stream with an error event after this long without upstream bytes, and a request whose upstream response head is not whole this long after it went up (0 = off). Default: ${DEFAULT-VALUE}.")
  Duration upstreamIdleTimeout;

  @Option(names = "--connect-timeout", defaultValue = "5s", converter = Durations.Limit.class, description = "Upstream connect limit (at least 1ms); 504 after it. Default: ${DEFAULT-VALUE}.")
  Duration connectTimeout;

  @Option(names = "--slow-client-timeout", defaultValue = "30s", converter = Durations.class, description = "Drop a client that stays unwritable this long (0 = never). Default: ${DEFAULT-VALUE}.")
  Duration slowClientTimeout;

  @Option(names = "--request-timeout", defaultValue = "30s", converter = Durations.class, description = "Limit to receive a request's head and body (408 after it); also the keep-alive idle limit. Default: ${DEFAULT-VALUE}.")
  Duration requestTimeout;

  @Option(names = "--drain-timeout", defaultValue = "30s", converter = Durations.class, description = "On SIGTERM, how long running streams may finish before they are ended. Default: ${DEFAULT-VALUE}.")
  Duration drainTimeout;

  @Option(names = "--max-body", defaultValue = "1MiB", converter = ByteSizes.class, description = "Largest request body (at least 1 byte); larger gets 413. Default: ${DEFAULT-VALUE}.")
  int maxBody;

  static final int DEFAULT_MAX_STREAMS = 9000;

  @Option(names = "--max-streams", defaultValue = "" + DEFAULT_MAX_STREAMS, description = "Concurrent proxied requests; more get 429 with Retry-After (0 = unlimited). Default: ${DEFAULT-VALUE}.")
  int maxStreams;

  @Option(names = "--max-attempts", defaultValue = "2", description = "Upstream attempts per request; a retry goes to another healthy upstream, only while nothing but comments went out. Default: ${DEFAULT-VALUE}.")
  int maxAttempts;

  @Option(names = "--hedge-after", paramLabel = "off|DURATION|pNN", defaultValue = "off", description = {
      "Start a second attempt on another upstream when a stream has no generated token this long after the",
      "request: a delay (300ms) or a percentile of this gateway's observed first-token latency (p95; no hedging",
      "until 100 samples in the last 60 s). The first attempt to deliver a token wins, the other is closed.",
      "Default: ${DEFAULT-VALUE}."})
  String hedgeAfter;

  @Option(names = "--hedge-budget", paramLabel = "SHARE", defaultValue = "10%", description =
      "Most hedges as a share of eligible requests (token bucket, 10 banked at most); refusals are counted. Default: ${DEFAULT-VALUE}.")
  String hedgeBudget;

  @Option(names = "--hedge-paths", paramLabel = "LIST", split = ",",
      defaultValue = "/v1/chat/completions,/v1/completions,/v1/messages,/api/chat,/api/generate", description = {
      "Request paths that may be hedged (safe to ask twice). A request with X-Tokenpipe-Hedge: off or an",
      "Idempotency-Key header is never hedged. Default: ${DEFAULT-VALUE}."})
  List<String> hedgePaths;

  @Option(names = "--cors-origins", paramLabel = "LIST", split = ",", description = {
      "Browser origins allowed to call the gateway, e.g. https://app.example.com,http://localhost:3000, or *.",
      "The gateway then answers CORS preflights itself and adds Access-Control-* headers to every response",
      "(streams too). Default: off, the upstream's own CORS headers pass through."})
  List<String> corsOrigins = new ArrayList<>();

  @Option(names = "--probe", paramLabel = "on|off", defaultValue = "on", description = {
      "Serve GET /tokenpipe/probe, the known-pacing stream doctor times the path with (default: ${DEFAULT-VALUE}).",
      "It asks for a key like /v1/* when --api-keys-file is set and is bounded (4 MiB, 5 min, 20 per client); off = 404."})
  String probe;

  @Option(names = "--threads", defaultValue = "0", description = "Event loops shared by clients, upstreams and the built-in model (0 = one per core).")
  int threads;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML file of option defaults (keys are long option names); also TOKENPIPE_CONFIG. Every option can also be set as TOKENPIPE_<NAME>, e.g. TOKENPIPE_MAX_STREAMS.")
  java.nio.file.Path configFile;

  @Option(names = "--sim", paramLabel = "SPEC", description = {
      "Behaviour of the built-in simulated model, as key=value pairs like the sim's flags:",
      "  --sim \"ttft=200ms/2s itl=20ms tokens=64 burst=1 drop_after=-1 stall_after=-1 stall=0 error_rate=0\""})
  String sim;

  /** @throws IllegalArgumentException with a one-line message naming the option whose value is wrong */
  GatewayConfig config() {
    // TOKENPIPE_UPSTREAM reaches --upstream through ConfigDefaults, like every other option (its converter
    // refuses an empty entry: none given means the built-in model, an empty one is a mistake).
    List<String> ups = upstreams.stream().map(String::trim).toList();
    StreamProfile profile;
    try {
      profile = SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides(sim));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--sim: " + e.getMessage(), e);
    }
    String upstreamKey = upstreamKeyEnv == null || upstreamKeyEnv.isBlank() ? null : System.getenv(upstreamKeyEnv);
    if (upstreamKey != null && upstreamKey.isBlank()) {
      upstreamKey = null;
    }
    boolean probeRoute = switch (probe == null ? "on" : probe.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "on" -> true;
      case "off" -> false;
      default -> throw new IllegalArgumentException("--probe must be on or off, not '" + probe + "'");
    };
    Set<String> keys = apiKeysFile == null ? Set.of() : ApiKeys.load(apiKeysFile);
    return new GatewayConfig(host, port, ups, profile, model, threads, heartbeat, headWait, connectTimeout,
        firstTokenTimeout, upstreamIdleTimeout, slowClientTimeout, requestTimeout, drainTimeout, maxBody, maxStreams,
        maxAttempts, Duration.ofSeconds(5), UpstreamPool.KEEPALIVE, keys, upstreamKey, upstreamCa, corsOrigins, probeRoute, balance,
        healthCheck == null || healthCheck.isBlank() ? null : healthCheck.trim(), healthInterval,
        hedgeAfter, hedgeBudget, hedgePaths.stream().map(String::trim).filter(s -> !s.isEmpty()).toList());
  }

  @Override
  public Integer call() throws Exception {
    GatewayConfig config = Cli.fromOptions(this::config);
    ShutdownSignal signals = ShutdownSignal.install();
    GatewayServer gateway;
    try {
      // Start reads what the options name (upstream URLs, the --upstream-ca file): a bad one is a bad value.
      gateway = Cli.fromOptions(() -> GatewayServer.start(config));
    } catch (IllegalStateException e) { // could not listen: a failure of the command, not of its options
      throw new CommandFailedException(e.getMessage());
    }
    GatewayServer g = gateway;
    signals.closeOnSignal(gateway, () -> System.err.printf(
        "tokenpipe serve listening on http://%s (%s) upstream=%s%s%s heartbeat=%s%s%s%n",
        Sockets.authority(host, g.port()), Transport.get().name(), String.join(",", g.upstreamSpecs()),
        g.sim() != null ? " (built-in simulated model)" : "",
        g.upstreamNames().size() > 1 ? " balance=" + config.balance() : "",
        heartbeat.isZero() ? "off" : Durations.format(heartbeat),
        config.apiKeys().isEmpty() ? "" : " auth=" + config.apiKeys().size() + " key(s)",
        policies(config)));
    return 0;
  }

  /**
   * The serving policies set away from their defaults, for the listening line: what a reader of a log needs to
   * know about this gateway's answers (a 429 at 50 streams, hedged streams, active checks) without its command.
   */
  private String policies(GatewayConfig config) {
    StringBuilder b = new StringBuilder();
    if (config.maxStreams() != DEFAULT_MAX_STREAMS) {
      b.append(" max-streams=").append(config.maxStreams() == 0 ? "unlimited" : config.maxStreams());
    }
    if (!"off".equalsIgnoreCase(hedgeAfter.strip())) {
      b.append(" hedge-after=").append(hedgeAfter.strip());
    }
    if (config.healthCheck() != null) {
      b.append(" health-check=").append(config.healthCheck()).append(" every ").append(Durations.format(config.healthInterval()));
    }
    if (!config.corsOrigins().isEmpty()) {
      b.append(" cors=").append(String.join(",", config.corsOrigins()));
    }
    if (!config.probe()) {
      b.append(" probe=off");
    }
    return b.toString();
  }
}
