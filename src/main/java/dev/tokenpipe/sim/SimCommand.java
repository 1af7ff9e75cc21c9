package dev.tokenpipe.sim;

import dev.tokenpipe.cli.ByteSizes;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.cli.NonEmpty;
import dev.tokenpipe.cli.Ports;
import dev.tokenpipe.cli.ShutdownSignal;
import dev.tokenpipe.net.Sockets;
import dev.tokenpipe.net.Transport;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tokenpipe sim}: the simulated model server on its own. */
@Command(
    name = "sim",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Simulated model server with controllable timing and faults: OpenAI chat, completions and",
      "Responses, Anthropic Messages and a plain token API.",
      "Every event carries its emission time in the SSE id field (tp.<seq>.<epoch-micros>).",
      "Any timing flag can be overridden per request with the header",
      "  X-Tokenpipe-Sim: ttft=500ms/2s itl=30ms tokens=100 burst=8",
      "or the same string in the request body field \"tokenpipe_sim\"."
    })
public final class SimCommand implements Callable<Integer> {
  @Option(names = "--host", defaultValue = "127.0.0.1", converter = NonEmpty.class, description = "Address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for all).")
  String host;

  @Option(names = {"-p", "--port"}, defaultValue = "8000", converter = Ports.class, description = "Port (default: ${DEFAULT-VALUE}, like vLLM).")
  int port;

  @Option(names = "--model", defaultValue = SimConfig.DEFAULT_MODEL, split = ",", converter = NonEmpty.class, description = "Model id(s) served (default: ${DEFAULT-VALUE}).")
  List<String> models;

  @Option(names = "--ttft", defaultValue = "200ms", converter = LatencyFlag.class, description = "Time to first token: fixed (200ms) or p50/p99 (200ms/2s). Default: ${DEFAULT-VALUE}.")
  LatencyDistribution ttft;

  @Option(names = "--itl", defaultValue = "20ms", converter = LatencyFlag.class, description = "Interval between tokens: fixed or p50/p99. Default: ${DEFAULT-VALUE}.")
  LatencyDistribution itl;

  @Option(names = "--tokens", defaultValue = "64", description = "Output length in tokens (capped by max_tokens). Default: ${DEFAULT-VALUE}.")
  int tokens;

  @Option(names = "--burst", defaultValue = "1", description = "Tokens per event after the first, sent every <burst> intervals (a scheduler's stream interval). Default: ${DEFAULT-VALUE}.")
  int burst;

  @Option(names = "--group-commit", defaultValue = "0", converter = Durations.class, description = "Hold all streams' writes and flush them together every period (0 = off). Default: ${DEFAULT-VALUE}.")
  Duration groupCommit;

  @Option(names = "--error-rate", defaultValue = "0", description = "Fraction of requests answered with --error-status. Default: ${DEFAULT-VALUE}.")
  double errorRate;

  @Option(names = "--error-status", defaultValue = "503", description = "Status of injected errors: 429 or 5xx. Default: ${DEFAULT-VALUE}.")
  int errorStatus;

  @Option(names = "--drop-after", defaultValue = "-1", description = "Cut the connection after N tokens (-1 = never).")
  int dropAfter;

  @Option(names = "--stall-after", defaultValue = "-1", description = "Pause after N tokens (-1 = never), for --stall.")
  int stallAfter;

  @Option(names = "--stall", defaultValue = "0", converter = Durations.class, description = "Length of the pause set by --stall-after.")
  Duration stall;

  @Option(names = "--max-body", defaultValue = "1MiB", converter = ByteSizes.class, description = "Largest request body (at least 1 byte); larger gets 413. Default: ${DEFAULT-VALUE}.")
  int maxBody;

  @Option(names = "--request-timeout", defaultValue = "30s", converter = Durations.class, description = "Limit to receive a request's head and body, from its first byte; 408 and close after it (0 = none). Default: ${DEFAULT-VALUE}.")
  Duration requestTimeout;

  @Option(names = "--idle-timeout", defaultValue = "75s", converter = Durations.class, description = "Close a keep-alive connection after this long without a request (0 = never). Default: ${DEFAULT-VALUE}.")
  Duration idleTimeout;

  @Option(names = "--drain-timeout", defaultValue = "30s", converter = Durations.class, description = "On SIGTERM, how long running streams may finish before they end with an in-band error. Default: ${DEFAULT-VALUE}.")
  Duration drainTimeout;

  @Option(names = "--threads", defaultValue = "0", description = "Event-loop threads (0 = one per core).")
  int threads;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML file of option defaults (keys are long option names); also TOKENPIPE_CONFIG. Every option can also be set as TOKENPIPE_<NAME>.")
  java.nio.file.Path config;

  @Option(names = "--capacity", defaultValue = "0", paramLabel = "N",
      description = "Streams generated at once; more wait in a FIFO queue before their first token, like a full batch (0 = unlimited). Default: ${DEFAULT-VALUE}.")
  int capacity;

  @Option(names = "--seed", description = "Random seed for reproducible token text and sampled latencies.")
  Long seed;

  public int port() {
    return port;
  }

  /** @throws IllegalArgumentException with a one-line message naming the flag whose value is out of range */
  public SimConfig config() {
    if (capacity < 0) {
      throw new IllegalArgumentException("--capacity must be >= 0 (0 = unlimited)");
    }
    StreamProfile profile;
    try {
      profile = new StreamProfile(ttft, itl, tokens, burst, groupCommit.toNanos(), errorRate, errorStatus, dropAfter,
          stallAfter, stall.toNanos());
    } catch (StreamProfile.BadValue e) {
      // The profile names its keys as a request's override does (error_status); here they came from flags.
      throw new IllegalArgumentException("--" + e.key().replace('_', '-') + " " + e.rule());
    }
    return new SimConfig(models, maxBody, profile, seed, threads, requestTimeout, idleTimeout, drainTimeout);
  }

  @Override
  public Integer call() throws Exception {
    SimConfig config = Cli.fromOptions(this::config);
    SimServer sim;
    ShutdownSignal signals = ShutdownSignal.install();
    try {
      sim = SimServer.start(config, host, port);
      sim.slots().capacity(capacity);
    } catch (IllegalStateException e) {
      throw new CommandFailedException(e.getMessage());
    }
    SimServer s = sim;
    signals.closeOnSignal(sim, () -> System.err.println(listeningLine(s.port(), config)));
    return 0;
  }

  /**
   * What the sim prints when it listens: where, and every setting that shapes what a client gets. The timing
   * always; group commit, faults and capacity when set, so that a sim without them keeps its short line and one
   * with them says so (an --error-rate that answered 5% of requests with 429 used to be invisible here).
   */
  String listeningLine(int boundPort, SimConfig config) {
    StreamProfile p = config.defaultProfile();
    StringBuilder b = new StringBuilder("tokenpipe sim listening on http://").append(Sockets.authority(host, boundPort))
        .append(" (").append(Transport.get().name()).append(") model=").append(String.join(",", config.models()))
        .append(" ttft=").append(p.ttft()).append(" itl=").append(p.itl()).append(" tokens=").append(p.tokens())
        .append(" burst=").append(p.burst());
    if (p.groupCommit()) {
      b.append(" group-commit=").append(Durations.format(Duration.ofNanos(p.groupCommitNanos())));
    }
    if (p.errorRate() != 0) {
      b.append(" error-rate=").append(java.math.BigDecimal.valueOf(p.errorRate()).stripTrailingZeros().toPlainString());
    }
    if (p.errorStatus() != SimConfig.defaults().defaultProfile().errorStatus()) {
      b.append(" error-status=").append(p.errorStatus());
    }
    if (p.dropAfter() >= 0) {
      b.append(" drop-after=").append(p.dropAfter());
    }
    if (p.stallAfter() >= 0) {
      b.append(" stall-after=").append(p.stallAfter());
    }
    if (p.stallNanos() > 0) {
      b.append(" stall=").append(Durations.format(Duration.ofNanos(p.stallNanos())));
    }
    if (capacity > 0) {
      b.append(" capacity=").append(capacity);
    }
    return b.toString();
  }

  /** {@code --ttft} and {@code --itl}: a bad value is a parse error naming its flag, like every duration flag's. */
  static final class LatencyFlag implements CommandLine.ITypeConverter<LatencyDistribution> {
    @Override
    public LatencyDistribution convert(String value) {
      try {
        return LatencyDistribution.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }
}
