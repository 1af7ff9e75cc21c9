package dev.tokenpipe.bench;

import dev.tokenpipe.cli.Durations;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Latency targets ({@code --slo ttft:p99<=500ms,itl:p99<=50ms,tpot:p90<=40ms,e2e:p99<=10s}) and how one request is
 * judged against them.
 *
 * <p>Per request: TTFT, TPOT and E2E are one value each; ITL is the request's own gaps at the target's
 * percentile (its p99 gap for {@code itl:p99}). A request meets a target when that value is within the limit; a
 * failed request meets none; TPOT and ITL targets are met trivially by a request too short to have them (one
 * token, no gaps). <b>Goodput</b> = measured requests that met every target / measured time (req/s).
 *
 * <p>For the run: a target {@code metric:pXX<=L} holds when at least XX% of the measured requests met it (its
 * <i>attainment</i>), i.e. the run's pXX is within L with failed requests counted as infinitely slow. The SLO
 * holds when every target does. The sweep stops at the first step where it does not.
 *
 * @param targets at most {@value #MAX_TARGETS}, in the order given
 */
record Slo(List<Target> targets) {
  static final int MAX_TARGETS = 8;
  private static final Pattern TARGET = Pattern.compile("(ttft|itl|tpot|e2e):p(\\d+(?:\\.\\d+)?)<=(.+)");

  /** One target: {@code metric} at {@code percentile} (e.g. 99) within {@code limitMicros}. */
  record Target(Metric metric, double percentile, long limitMicros) {
    String text() {
      String p = percentile == Math.rint(percentile) ? String.valueOf((long) percentile) : String.valueOf(percentile);
      return metric.key + ":p" + p + "<=" + Durations.format(java.time.Duration.ofNanos(limitMicros * 1000));
    }
  }

  static final Slo NONE = new Slo(List.of());

  Slo {
    targets = List.copyOf(targets);
  }

  boolean isEmpty() {
    return targets.isEmpty();
  }

  /** @throws IllegalArgumentException with a one-line message naming the bad part */
  static Slo parse(String spec) {
    if (spec == null || spec.isBlank()) {
      return NONE;
    }
    List<Target> out = new ArrayList<>();
    for (String part : spec.split(",")) {
      String p = part.strip().toLowerCase(Locale.ROOT).replace(" ", "");
      Matcher m = TARGET.matcher(p);
      if (!m.matches()) {
        throw new IllegalArgumentException("--slo: '" + part.strip()
            + "' is not METRIC:pNN<=DURATION with METRIC ttft, itl, tpot or e2e (e.g. ttft:p99<=500ms)");
      }
      double pct = Double.parseDouble(m.group(2));
      if (!(pct > 0 && pct <= 100)) {
        throw new IllegalArgumentException("--slo: percentile in '" + part.strip()
            + "' must be above 0 and at most 100 (0 < N <= 100, e.g. p99)");
      }
      long limit;
      try {
        limit = Durations.parse(m.group(3)).toNanos() / 1000;
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--slo: " + e.getMessage());
      }
      if (limit < 1) {
        // Latencies are judged in whole microseconds: below 1us no request can meet the target (it printed as
        // "ttft:p99<=0us ... MISSED"), and 0ms is more likely a typo than a target.
        throw new IllegalArgumentException("--slo: the limit in '" + part.strip()
            + "' must be at least 1us (latencies are measured in microseconds)");
      }
      Metric metric = switch (m.group(1)) {
        case "ttft" -> Metric.TTFT;
        case "itl" -> Metric.ITL;
        case "tpot" -> Metric.TPOT;
        default -> Metric.E2E;
      };
      out.add(new Target(metric, pct, limit));
    }
    if (out.size() > MAX_TARGETS) {
      throw new IllegalArgumentException("--slo: at most " + MAX_TARGETS + " targets");
    }
    return new Slo(out);
  }

  /**
   * Which targets one successful request met, as a bit mask (bit i = target i).
   *
   * @param ttftMicros -1 when the request had no content event (then TTFT targets are missed)
   * @param tpotMicros -1 when the request had fewer than two tokens
   * @param gapsMicros the request's ITL gaps, {@code gaps} of them used
   */
  int check(long ttftMicros, long tpotMicros, long e2eMicros, int[] gapsMicros, int gaps) {
    return mask(judged(ttftMicros, tpotMicros, e2eMicros, gapsMicros, gaps));
  }

  /**
   * Per target, the value one successful request is judged on, in microseconds: its TTFT, TPOT or E2E, or its own
   * gaps at the target's percentile for ITL; 0 for a target met trivially (TPOT with one token, ITL without gaps),
   * {@link #NEVER} for one it cannot meet (TTFT without a content event). The target's observed value is the
   * percentile of these over the run's requests, failed ones counted as {@link #NEVER}.
   */
  long[] judged(long ttftMicros, long tpotMicros, long e2eMicros, int[] gapsMicros, int gaps) {
    long[] out = new long[targets.size()];
    int[] sorted = null;
    for (int i = 0; i < targets.size(); i++) {
      Target t = targets.get(i);
      out[i] = switch (t.metric()) {
        case TTFT -> ttftMicros >= 0 ? ttftMicros : NEVER;
        case TPOT -> Math.max(0, tpotMicros);
        case E2E -> e2eMicros;
        case ITL -> {
          if (gaps == 0) {
            yield 0;
          }
          if (sorted == null) {
            sorted = Arrays.copyOf(gapsMicros, gaps);
            Arrays.sort(sorted);
          }
          yield percentile(sorted, t.percentile());
        }
        default -> 0;
      };
    }
    return out;
  }

  /** Which targets the {@link #judged} values meet, as a bit mask (bit i = target i). */
  int mask(long[] judged) {
    int mask = 0;
    for (int i = 0; i < targets.size(); i++) {
      if (judged[i] <= targets.get(i).limitMicros()) {
        mask |= 1 << i;
      }
    }
    return mask;
  }

  /** A request that cannot meet a target: a failed one, or a success without the value (no content event). */
  static final long NEVER = Long.MAX_VALUE;

  int allMask() {
    return (1 << targets.size()) - 1;
  }

  /** Nearest-rank percentile of sorted values (the same definition HdrHistogram uses). */
  static long percentile(int[] sorted, double pct) {
    int rank = (int) Math.ceil(pct / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  @Override
  public String toString() {
    return String.join(",", targets.stream().map(Target::text).toList());
  }
}
