package dev.tokenpipe.doctor;

import dev.tokenpipe.doctor.KnowledgeBase.Fix;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One verdict from a run's two measurements (pure, no sockets). The real streaming requests decide the verdict:
 * they are what users experience. The known-pacing probe, when the origin serves it, localizes the layer: a clean
 * probe with held real streams means the path up to the tokenpipe server is clean and the events were held behind
 * it, where tokens are generated, so holding findings are re-attributed to the model side; a held probe means a
 * layer in front holds them. The idle test runs on the probe; its findings join the verdict.
 *
 * @param measurement   what was measured
 * @param primary       the trace that decides: the real requests, or the probe with {@code --probe-only}
 * @param diagnosis     the verdict, reason, findings (re-attributed), layers and stats of {@code primary}
 * @param probe         the probe's own diagnosis when both were measured, else null
 * @param measured      the report's first line: what was measured on which path
 * @param localization  one line: where the holding is, as far as the two measurements tell
 */
record Checkup(Prober.Measurement measurement, Trace primary, Diagnosis diagnosis, Diagnosis probe, String measured,
    String localization) {

  private static final Set<Problem> IDLE = Set.of(Problem.IDLE_CUT, Problem.NO_HEARTBEATS, Problem.IDLE_NOT_TESTED);

  /**
   * Doctor's own loop lag p99 (ms) from which it does not call events held: every read it timed was that late
   * too. Twice the window in which it calls events simultaneous ({@link Analyzer#SYNC_WINDOW_NANOS}), a fifth of
   * the hold it calls held; on a quiet machine the lag is below 1 ms. On a machine with twice as many runnable
   * threads as cores a plain sim directly on loopback was called BUFFERED: "2 connections receive their events in
   * the same instants, every ~13.6ms", and another run "held (p90 146.6ms)". Lag makes events look held, never
   * on time, so a CLEAN verdict stands whatever it is.
   */
  static final double LATE_LOOP_MILLIS = 10;

  static Checkup of(Prober.Measurement m) {
    long heartbeat = m.route() == null ? -1 : m.route().heartbeatNanos();
    Trace primary = m.real() != null ? m.real() : m.probe();
    Diagnosis main = Analyzer.analyze(primary, heartbeat);
    Diagnosis probe = m.real() != null && m.probe() != null ? Analyzer.analyze(m.probe(), heartbeat) : null;
    String measured = measured(m);
    if (main.verdict() == Diagnosis.Verdict.FAILED) {
      return new Checkup(m, primary, main, probe, measured, "");
    }
    List<Finding> findings = new ArrayList<>(main.findings());
    String localization;
    if (probe == null) {
      localization = m.real() == null
          ? "probe only (--probe-only): the path to tokenpipe " + m.route().server() + " was measured, the model path was not"
          : "no probe (" + (m.probeNote() == null ? "not served" : m.probeNote())
              + "): the layer is named from response headers and timing alone";
    } else {
      findings.addAll(probe.findings().stream().filter(f -> IDLE.contains(f.problem())).toList());
      boolean probeHeld = probe.findings().stream().anyMatch(f -> f.holdsTokens() && !IDLE.contains(f.problem()));
      boolean realHeld = main.findings().stream().anyMatch(Finding::holdsTokens);
      String server = "tokenpipe " + m.route().server();
      String probeNumbers = String.format(Locale.ROOT, "probe hold p90 %s, %.1f events per read",
          millis(probe.stats().holdP90Millis()), probe.stats().eventsPerRead());
      if (!probeHeld && realHeld) {
        String basis = "the probe served by " + server + " on this origin arrived clean (" + probeNumbers
            + "): nothing on the path to " + server + " holds events, so they were held behind it, where the tokens are generated";
        findings.replaceAll(f -> f.holdsTokens() ? modelSide(f, m.route().server(), basis) : f);
        localization = "the path to " + server + " is clean (" + probeNumbers + "); the events are held behind it, on the "
            + (m.route().server().equals("serve") ? "upstream model's side" : "model side") + ": "
            + main.findings().stream().filter(Finding::holdsTokens).findFirst().orElseThrow().summary();
      } else if (!probeHeld) {
        localization = "the path to " + server + " is clean (" + probeNumbers + ") and the model path streamed "
            + String.format(Locale.ROOT, "%.1f events per read", main.stats().eventsPerRead());
      } else if (realHeld) {
        localization = "the probe from " + server + " was held too (" + probe.reason() + "): a layer between here and "
            + server + " holds events";
      } else {
        localization = "the probe from " + server + " was held (" + probe.reason() + ") but the real requests were not: "
            + differs(m);
      }
    }
    findings.sort(Analyzer.ORDER);
    Prober.Lateness lag = m.loopLag();
    // Only a hold measured in time can be a late reader's doing; a quiet stream the path cut is a cut, and tokens
    // grouped in events are groups, whatever the lag (on a busy machine, an idle test's cut was "could not judge").
    boolean late = findings.stream().anyMatch(Checkup::timedHold) && lag.p99Millis() >= LATE_LOOP_MILLIS;
    // The holds a late loop could have made: timed, and not outlasting the lag by the stamps or their own numbers.
    List<Finding> unjudged = !late || beyondLag(main, lag) || beyondLag(probe, lag) ? List.of()
        : findings.stream().filter(f -> timedHold(f) && !outlastsLag(f, lag)).toList();
    String lateNote = "";
    if (!unjudged.isEmpty()) {
      String seen = unjudged.getFirst().summary();
      if (findings.stream().noneMatch(f -> f.holdsTokens() && !unjudged.contains(f))) {
        String reason = String.format(Locale.ROOT, "could not judge: doctor's own event loop ran late while it measured "
            + "(p99 %s, max %s), so every read it timed was late too and a late reader looks like a held event; "
            + "run it again when the machine is less busy (what it saw: %s)", millis(lag.p99Millis()),
            millis(lag.maxMillis()), seen);
        return new Checkup(m, primary, new Diagnosis(Diagnosis.Verdict.FAILED, reason, findings, main.layers(), main.stats()),
            probe, measured, localization);
      }
      findings.removeAll(unjudged); // not judged: the verdict stands on the rest
      lateNote = String.format(Locale.ROOT, " (not judged, doctor's own event loop ran late, p99 %s, max %s: %s)",
          millis(lag.p99Millis()), millis(lag.maxMillis()), seen);
    } else if (late) {
      lateNote = String.format(Locale.ROOT, " (doctor's own event loop ran late, p99 %s, max %s: far less than"
          + " these holds)", millis(lag.p99Millis()), millis(lag.maxMillis()));
    }
    boolean held = findings.stream().anyMatch(Finding::holdsTokens);
    String reason = held ? findings.stream().filter(Finding::holdsTokens).findFirst().orElseThrow().summary() + lateNote
        : "no events held: " + Analyzer.cleanDetail(main.stats())
            + (findings.stream().anyMatch(f -> f.severity().compareTo(Severity.LOW) <= 0) ? " (see the warnings below)" : "");
    Diagnosis d = new Diagnosis(held ? Diagnosis.Verdict.BUFFERED : Diagnosis.Verdict.CLEAN, reason, findings,
        main.layers(), main.stats());
    return new Checkup(m, primary, d, probe, measured, localization);
  }

  /**
   * Holds that doctor's own lateness cannot have made: a late loop delays each read by at most its largest
   * lateness, so when the median stamped event (arrival - emission) was held more than twice that, and at least
   * {@link #BEYOND_LAG_MILLIS}, at least half the events were held by the path for real. An NGINX that gzips the
   * stream held each whole response 1.5 s (hold p50 666 ms) while a busy machine made doctor's loop late by p99
   * 12 ms, max 134 ms: "could not judge" was a false refusal. Without emission stamps (no hold measured) the lag
   * cannot be ruled out, and the refusal stands.
   */
  private static boolean beyondLag(Diagnosis d, Prober.Lateness lag) {
    return d != null && d.findings().stream().anyMatch(Checkup::timedHold)
        && d.stats().holdP50Millis() >= Math.max(2 * lag.maxMillis(), BEYOND_LAG_MILLIS);
  }

  /**
   * A timed finding whose own time scale a late reader cannot produce: its events waited at least
   * {@link #impliedHoldMillis} on the path, more than twice the loop's largest lateness and at least
   * {@link #BEYOND_LAG_MILLIS}. A late reader merges into one read only events that came within its lateness of
   * each other; it cannot gather a 3 s response into its last read, or events 200 ms apart into one burst, when
   * it was never more than 69 ms late. Without emission stamps this is the only way to rule the lag out.
   */
  private static boolean outlastsLag(Finding f, Prober.Lateness lag) {
    return impliedHoldMillis(f) >= Math.max(2 * lag.maxMillis(), BEYOND_LAG_MILLIS);
  }

  /**
   * The least time, in ms, that the events a timed finding names waited on the path, from the finding's own
   * numbers; -1 when they give none. A burst of k events released every g ms gathered events spread over about
   * g (k - 1) / k ms, the first of them waiting that long; a response whose events all arrived in its last s ms
   * of t held the first of them about t - s ms; a stall or a measured hold is its own length.
   */
  static double impliedHoldMillis(Finding f) {
    Map<String, Double> n = f.numbers();
    return switch (f.problem()) {
      case HELD_UNTIL_END -> n.containsKey("late_span_ms") ? n.get("response_ms") - n.get("late_span_ms") : -1;
      case SIZE_BURSTS, CLOCK_BURSTS, EVENTS_HELD -> n.containsKey("hold_p50_ms") ? n.get("hold_p50_ms")
          : n.containsKey("burst_gap_p50_ms") ? spread(n.get("burst_gap_p50_ms"), n.get("burst_events") / n.get("bursts")) : -1;
      case GROUP_COMMIT -> spread(n.get("flush_period_p50_ms"), n.get("events_per_delivery"));
      case NAGLE_STALLS -> n.get("stall_p50_ms");
      default -> -1;
    };
  }

  private static double spread(double periodMillis, double eventsPerRelease) {
    return eventsPerRelease <= 1 ? 0 : periodMillis * (eventsPerRelease - 1) / eventsPerRelease;
  }

  /**
   * A holding finding read from arrival times, which a late reader can fake: all but the idle test's cut and token
   * groups, whose tokens per event are counted in each event's text ({@code sim --burst 8} on a busy machine was "could
   * not judge ... a late reader looks like a held event", though no reader puts 8 tokens into one event).
   */
  private static boolean timedHold(Finding f) {
    // Nor an event held one behind: a late reader finds the next event in the same read, and one behind needs each
    // event in a read of its own (HAProxy's gzip on a busy machine, lag p99 12.2 ms, was "could not judge", exit 2).
    return f.holdsTokens() && !IDLE.contains(f.problem()) && f.problem() != Problem.TOKEN_GROUPS
        && !f.numbers().containsKey(Analyzer.ONE_BEHIND_SHARE);
  }

  /** The least median hold that stands against a late loop: twice the 50 ms that events-held calls held. */
  static final double BEYOND_LAG_MILLIS = 100;

  /** A holding finding moved to the model side, with the fixes that apply there. */
  private static Finding modelSide(Finding f, String server, String basis) {
    List<Fix> fixes = new ArrayList<>();
    for (Layer layer : server.equals("sim") ? List.of(Layer.TOKENPIPE, Layer.MODEL_SERVER, Layer.APP)
        : List.of(Layer.MODEL_SERVER, Layer.APP)) {
      Fix fix = KnowledgeBase.fix(layer, f.problem());
      if (fix != null) {
        fixes.add(fix);
      }
    }
    return new Finding(f.problem(), f.severity(), f.summary(), f.evidence(), f.numbers(), Layer.MODEL_SERVER, basis,
        fixes.isEmpty() ? f.fixes() : fixes);
  }

  private static String differs(Prober.Measurement m) {
    Trace.Response real = m.real().responses().getFirst();
    boolean probeSafe = m.probe().probeUrl().contains("headers=safe");
    boolean realSafe = Prober.antiBuffering(real);
    if (probeSafe != realSafe) {
      return "the probe was sent " + (probeSafe ? "with" : "without") + " the anti-buffering headers, the real responses "
          + (realSafe ? "carry them" : "do not") + "; layers that obey them (NGINX X-Accel-Buffering) treat the two differently";
    }
    return "the probe's steady pacing (" + m.probe().pacing().count() + " x " + m.probe().pacing().sizeBytes() + " B) fills "
        + "buffers the shorter real responses did not; longer answers through this path may be held the same way";
  }

  private static String measured(Prober.Measurement m) {
    Prober.Plan plan = m.plan();
    StringBuilder sb = new StringBuilder("measured: ");
    if (m.real() != null) {
      sb.append(m.real().responses().size()).append(" real streaming request").append(m.real().responses().size() == 1 ? "" : "s")
          .append(" on the model path (").append(plan.describe()).append(")");
    }
    if (m.probe() != null) {
      Trace.Pacing p = m.probe().pacing();
      sb.append(m.real() != null ? " and " : "").append(m.probe().responses().size())
          .append(" known-pacing probes from tokenpipe ").append(m.route().server()).append(" (")
          .append(Analyzer.ms(p.intervalNanos())).append(" x ").append(p.count()).append(" x ").append(p.sizeBytes())
          .append(" B, headers=").append(m.probe().probeUrl().contains("headers=safe") ? "safe" : "plain").append(")");
      if (m.probe().idle() != null) {
        sb.append(" + an idle test of ").append(Analyzer.ms(m.probe().idleNanos()));
      }
      if (m.real() == null) {
        sb.append("; the model path was not measured (--probe-only)");
      }
    } else if (m.probeNote() != null) {
      sb.append("; no probe: ").append(m.probeNote());
    }
    return sb.toString();
  }

  private static String millis(double ms) {
    return ms < 0 ? "-" : Analyzer.ms(Math.round(ms * 1e6));
  }
}
