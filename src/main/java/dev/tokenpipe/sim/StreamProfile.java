package dev.tokenpipe.sim;

import dev.tokenpipe.cli.Durations;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * How the simulated model behaves for one stream: timing, length, scheduler bursts, group commit
 * and faults. The server has a default profile from its flags; a request may override any field
 * with the {@value #HEADER} header or the {@value #BODY_FIELD} body field, both holding the same
 * {@code key=value} list, e.g. {@code ttft=200ms/900ms itl=20ms tokens=40 burst=4}.
 *
 * @param ttft time to first token
 * @param itl interval between tokens (one scheduler step)
 * @param tokens output length in tokens (capped by the request's max_tokens)
 * @param burst tokens per event: N tokens are emitted together every N intervals, like a model
 *     server's stream interval; 1 = one event per token
 * @param groupCommitNanos 0 = flush every event at once; otherwise writes are held and flushed
 *     together with every other group-committing stream at wall-clock multiples of this period
 * @param errorRate probability in [0,1] that a request fails before streaming with errorStatus
 * @param errorStatus HTTP status of injected errors (5xx or 429)
 * @param dropAfter close the connection without a terminator after this many tokens (-1 = never)
 * @param stallAfter pause after this many tokens (-1 = never)
 * @param stallNanos length of that pause
 * @param errorAfter end the stream with an in-band error event in the API's own shape after this many
 *     tokens (-1 = never)
 * @param reasoning how many of the output tokens are reasoning (thinking), sent first; -1 = as the request
 *     asks (half the output when it enables thinking or reasoning, else none)
 * @param toolCall how many of the output tokens are one tool call's arguments, sent last; -1 = as the
 *     request asks (all output after the reasoning when its tool choice requires a tool, else none)
 */
public record StreamProfile(
    LatencyDistribution ttft,
    LatencyDistribution itl,
    int tokens,
    int burst,
    long groupCommitNanos,
    double errorRate,
    int errorStatus,
    int dropAfter,
    int stallAfter,
    long stallNanos,
    int errorAfter,
    int reasoning,
    int toolCall) {

  public static final String HEADER = "X-Tokenpipe-Sim";
  /**
   * The overrides of a start-up warm-up's request ({@link #HEADER}'s value): a short stream at once, every fault
   * and holding of the configured profile off, so no setting can fail, stall or slow it. Used by the sim's own
   * warm-up and by serve's through its built-in model.
   */
  public static final String WARM_UP = "ttft=0ms itl=0ms tokens=8 burst=1 group_commit=0 error_rate=0 drop_after=-1"
      + " stall_after=-1 error_after=-1";
  public static final String BODY_FIELD = "tokenpipe_sim";

  public StreamProfile {
    require(tokens >= 0 && tokens <= 1_000_000, "tokens", "must be between 0 and 1000000");
    require(burst >= 1 && burst <= 1024, "burst", "must be between 1 and 1024");
    require(groupCommitNanos >= 0, "group_commit", "must be >= 0");
    require(errorRate >= 0 && errorRate <= 1, "error_rate", "must be between 0 and 1");
    require(errorStatus == 429 || (errorStatus >= 500 && errorStatus <= 599), "error_status", "must be 429 or 5xx");
    require(dropAfter >= -1, "drop_after", "must be >= -1");
    require(stallAfter >= -1, "stall_after", "must be >= -1");
    require(stallNanos >= 0, "stall", "must be >= 0");
    require(errorAfter >= -1, "error_after", "must be >= -1");
    require(reasoning >= -1, "reasoning", "must be >= 0");
    require(toolCall >= -1, "tool_call", "must be >= 0");
  }

  /** Without the in-band error fault, and reasoning and tool calls as the request asks. */
  public StreamProfile(LatencyDistribution ttft, LatencyDistribution itl, int tokens, int burst, long groupCommitNanos,
      double errorRate, int errorStatus, int dropAfter, int stallAfter, long stallNanos) {
    this(ttft, itl, tokens, burst, groupCommitNanos, errorRate, errorStatus, dropAfter, stallAfter, stallNanos, -1, -1, -1);
  }

  private static void require(boolean ok, String key, String rule) {
    if (!ok) {
      throw new BadValue(key, rule);
    }
  }

  /**
   * A setting out of its range, e.g. "burst must be between 1 and 1024". It keeps the key apart, so that the
   * sim's command line can name the flag the value came from ({@code --burst}) where a request names the key.
   */
  public static final class BadValue extends IllegalArgumentException {
    private final String key;
    private final String rule;

    BadValue(String key, String rule) {
      super(key + " " + rule);
      this.key = key;
      this.rule = rule;
    }

    /** The key as a request's override writes it, e.g. {@code error_status}. */
    public String key() {
      return key;
    }

    /** What the value must be, e.g. "must be 429 or 5xx". */
    public String rule() {
      return rule;
    }
  }

  /** Parses a {@code key=value} list (separated by spaces, commas or semicolons) into a map. */
  public static Map<String, String> parseOverrides(String spec) {
    Map<String, String> out = new LinkedHashMap<>();
    if (spec == null) {
      return out;
    }
    for (String part : spec.trim().split("[\\s,;]+")) {
      if (part.isEmpty()) {
        continue;
      }
      int eq = part.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("expected key=value, got '" + part + "'");
      }
      out.put(part.substring(0, eq).toLowerCase(Locale.ROOT).replace('-', '_'), part.substring(eq + 1));
    }
    return out;
  }

  /**
   * This profile with the given overrides applied.
   *
   * @throws IllegalArgumentException naming the bad key, for a 400 response
   */
  public StreamProfile with(Map<String, String> overrides) {
    LatencyDistribution ttft = this.ttft;
    LatencyDistribution itl = this.itl;
    int tokens = this.tokens;
    int burst = this.burst;
    long groupCommit = this.groupCommitNanos;
    double errorRate = this.errorRate;
    int errorStatus = this.errorStatus;
    int dropAfter = this.dropAfter;
    int stallAfter = this.stallAfter;
    long stall = this.stallNanos;
    int errorAfter = this.errorAfter;
    int reasoning = this.reasoning;
    int toolCall = this.toolCall;
    for (Map.Entry<String, String> e : overrides.entrySet()) {
      switch (e.getKey()) {
        case "ttft" -> ttft = value(e, LatencyDistribution::parse);
        case "itl" -> itl = value(e, LatencyDistribution::parse);
        case "tokens" -> tokens = value(e, Integer::parseInt);
        case "burst" -> burst = value(e, Integer::parseInt);
        case "group_commit" -> groupCommit = value(e, v -> Durations.parse(v).toNanos());
        case "error_rate" -> errorRate = value(e, Double::parseDouble);
        case "error_status" -> errorStatus = value(e, Integer::parseInt);
        case "drop_after" -> dropAfter = value(e, Integer::parseInt);
        case "stall_after" -> stallAfter = value(e, Integer::parseInt);
        case "stall" -> stall = value(e, v -> Durations.parse(v).toNanos());
        case "error_after" -> errorAfter = value(e, Integer::parseInt);
        case "reasoning" -> reasoning = value(e, Integer::parseInt);
        case "tool_call" -> toolCall = value(e, Integer::parseInt);
        default -> throw new IllegalArgumentException(
            "unknown key '" + e.getKey() + "' (known: ttft, itl, tokens, burst, group_commit,"
                + " error_rate, error_status, drop_after, stall_after, stall, error_after, reasoning, tool_call)");
      }
    }
    return new StreamProfile(ttft, itl, tokens, burst, groupCommit, errorRate, errorStatus, dropAfter, stallAfter, stall,
        errorAfter, reasoning, toolCall);
  }

  /**
   * An override's value, parsed. One that does not parse is an error that starts with its key, whatever the
   * parser: a request may set several keys, and a duration's own message ("not a duration: 'banana'") does not
   * say which one it was.
   */
  private static <T> T value(Map.Entry<String, String> override, Function<String, T> parse) {
    try {
      return parse.apply(override.getValue());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(override.getKey() + ": not a number: '" + override.getValue() + "'");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(override.getKey() + ": " + e.getMessage(), e);
    }
  }

  public boolean groupCommit() {
    return groupCommitNanos > 0;
  }
}
