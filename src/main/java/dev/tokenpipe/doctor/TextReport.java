package dev.tokenpipe.doctor;

import dev.tokenpipe.doctor.KnowledgeBase.Fix;
import java.util.Locale;

/**
 * The human report: first line what was measured on which path, then the numbers, where the holding is, the
 * verdict, and findings by severity with evidence and fix snippets.
 */
final class TextReport {
  private TextReport() {}

  static String render(Checkup c) {
    Trace trace = c.primary();
    Diagnosis d = c.diagnosis();
    StringBuilder out = new StringBuilder();
    out.append(c.measured()).append('\n');
    out.append("tokenpipe doctor ").append(trace.target()).append('\n');
    if (trace.probeMode()) {
      out.append(String.format(Locale.ROOT, "  probe     %s  (tokenpipe known pacing) x%d streams%n",
          trace.probeUrl(), trace.responses().size()));
    } else {
      out.append(String.format(Locale.ROOT, "  requests  %s x%d streams%n", c.measurement().plan().describe(),
          trace.responses().size()));
    }
    Diagnosis.Stats s = d.stats();
    if (!trace.responses().isEmpty() && trace.responses().getFirst().status() > 0) {
      out.append(String.format(Locale.ROOT, "  response  %s %d  %s%s%n", s.httpVersion(), trace.responses().getFirst().status(),
          s.contentType(), s.contentEncoding().isEmpty() ? "" : "  Content-Encoding: " + s.contentEncoding()));
    }
    if (!d.layers().isEmpty()) {
      out.append("  layers    ");
      d.layers().forEach(l -> out.append(l.layer().displayName()).append(" (").append(l.evidence()).append(")  "));
      out.append('\n');
    }
    if (s.ttfbMillis() >= 0) {
      // The slowest stream's TTFT too when it is well above the median: with two streams the median is the faster.
      String slowest = s.ttftMaxMillis() > 1.5 * s.ttftMillis() && s.ttftMaxMillis() - s.ttftMillis() >= 10
          ? " (slowest " + millis(s.ttftMaxMillis()) + ")" : "";
      out.append(String.format(Locale.ROOT, "  timing    TTFB %s  TTFT %s%s  events/stream %d  events per read %.1f%n",
          millis(s.ttfbMillis()), millis(s.ttftMillis()), slowest, s.eventsPerStream(), s.eventsPerRead()));
    }
    if (s.holdP50Millis() >= 0) {
      String delay = pathDelay(s);
      out.append(String.format(Locale.ROOT, "  hold      p50 %s  p90 %s  p99 %s  max %s  (arrival - emission, per event%s)%n",
          millis(s.holdP50Millis()), millis(s.holdP90Millis()), millis(s.holdP99Millis()), millis(s.holdMaxMillis()),
          delay.isEmpty() ? "" : ", " + delay));
    }
    if (c.probe() != null) {
      Diagnosis.Stats p = c.probe().stats();
      String delay = pathDelay(p);
      out.append(String.format(Locale.ROOT, "  probe     %s x%d: hold p50 %s  p90 %s%s  events per read %.1f  -> %s%n",
          c.measurement().probe().probeUrl(), c.measurement().probe().responses().size(), millis(p.holdP50Millis()),
          millis(p.holdP90Millis()), delay.isEmpty() ? "" : " (" + delay + ")", p.eventsPerRead(),
          c.probe().verdict() == Diagnosis.Verdict.BUFFERED ? "held" : "clean"));
    }
    if (!c.localization().isEmpty()) {
      out.append("  where     ").append(c.localization()).append('\n');
    }
    out.append('\n').append("verdict: ").append(d.verdict().name()).append(" - ").append(d.reason()).append('\n');
    for (Finding f : d.findings()) {
      out.append('\n').append('[').append(f.severity().name()).append("] ").append(f.problem().title())
          .append("  (").append(f.problem().id()).append(")\n");
      out.append("  ").append(f.summary()).append('\n');
      for (String e : f.evidence()) {
        out.append("    - ").append(e).append('\n');
      }
      out.append("  layer: ").append(f.layer().displayName()).append(" - ").append(f.layerBasis()).append('\n');
      boolean firstFix = true;
      for (Fix fix : f.fixes()) {
        out.append(firstFix ? "  fix " : "  or, at ").append(firstFix ? "(" + fix.layer().displayName() + ")" : fix.layer().displayName())
            .append(": ").append(fix.advice()).append(fix.source() == KnowledgeBase.Source.MEASURED ? "  [reproduced by tokenpipe]" : "").append('\n');
        for (String line : fix.snippet().split("\n")) {
          out.append("      ").append(line).append('\n');
        }
        firstFix = false;
      }
    }
    return out.toString();
  }

  /**
   * What {@link PathDelay} took out of the holds, worded for the hold lines: a server clock ahead of doctor's (an
   * event read before it was emitted, so the clock leads by that much at least), the path's own delay, or, when half
   * the quickest round trip to the server bounded it, that much and what every hold keeps beyond it, which the stamps
   * cannot tell from a server clock behind doctor's; with nothing taken out, what every event took at least, when
   * that is more than noise; else "".
   */
  private static String pathDelay(Diagnosis.Stats s) {
    double d = s.pathDelayMillis();
    if (d == 0) {
      // Nothing taken out (too few events, or a round trip too quick to bound a link), yet no event came sooner: on a
      // LAN, a server clock 100 ms behind reads as every event held 100 ms, and the line must not leave that unsaid.
      return s.fastestEventMillis() * 1e3 < PathDelay.NOISE_MICROS ? ""
          : "none taken out, though every event took at least " + millis(s.fastestEventMillis()) + ": held, or the"
              + " link's delay or the server's clock behind this one's, which the stamps cannot tell apart";
    }
    if (d < 0) {
      return "plus " + millis(-d) + ": the server's clock read at least that far ahead of this one's";
    }
    if (d < s.fastestEventMillis()) {
      return "less " + millis(d) + ", half the quickest round trip to the server (the link's way back); the fastest"
          + " event took " + millis(s.fastestEventMillis()) + ": the rest of it is in every hold, held, or the server's"
          + " clock behind this one's";
    }
    return "less the " + millis(d) + " the fastest event took: the link's delay and the clocks' offset";
  }

  private static String millis(double ms) {
    if (ms < 0) {
      return "-";
    }
    return Analyzer.ms(Math.round(ms * 1e6));
  }
}
