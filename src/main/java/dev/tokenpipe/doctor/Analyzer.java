package dev.tokenpipe.doctor;

import dev.tokenpipe.doctor.Deliveries.Delivery;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a {@link Trace} into a {@link Diagnosis}: no sockets, no clocks, so every rule is tested byte by byte
 * with synthetic traces. Each {@code detect*} method looks for one timing or header signature and documents its
 * thresholds; they are loose on purpose, because real streams cross noisy machines.
 */
public final class Analyzer {
  /** Page sizes that output buffers flush at (Go 4 KB, NGINX 4/8 KB pages, servlet 8-32 KB). */
  static final long[] PAGE_BYTES = {2048, 4096, 8192, 16384, 32768, 65536};

  /** Report order: findings that held tokens first (they decide the verdict), then by severity. */
  static final Comparator<Finding> ORDER = Comparator.comparing((Finding f) -> !f.holdsTokens())
      .thenComparing(Finding::severity).thenComparing(Finding::problem);

  private Analyzer() {}

  /**
   * What a detector saw, before attribution names a layer.
   *
   * @param curedBy  the problem whose fixes cure this signature: the problem itself, but a stream held one event
   *                 behind by its compressor is cured by the compressor's fix, not by the holding one
   * @param suspects layers measured to leave this very signature, ahead of the problem's usual suspects (empty: none)
   */
  record Signal(Problem problem, Severity severity, String summary, List<String> evidence, Map<String, Double> numbers,
      String signature, Layer prefer, Problem curedBy, List<Layer> suspects) {
    Signal(Problem problem, Severity severity, String summary, List<String> evidence, Map<String, Double> numbers,
        String signature, Layer prefer) {
      this(problem, severity, summary, evidence, numbers, signature, prefer, problem, List.of());
    }

    Signal withEvidence(List<String> more) {
      return new Signal(problem, severity, summary, more, numbers, signature, prefer, curedBy, suspects);
    }
  }

  public static Diagnosis analyze(Trace trace) {
    return analyze(trace, -1);
  }

  /**
   * @param heartbeatNanos the heartbeat interval the server advertises ({@code X-Tokenpipe-Heartbeat}): -1 unknown,
   *                       0 the server sends none; used to judge the idle test
   */
  public static Diagnosis analyze(Trace trace, long heartbeatNanos) {
    PathDelay pathDelay = PathDelay.of(trace);
    trace = pathDelay.removedFrom(trace);
    List<Trace.Response> usable = trace.responses().stream().filter(Analyzer::usable).toList();
    List<Trace.Header> headers = trace.responses().isEmpty() ? List.of() : trace.responses().getFirst().headers();
    List<Attribution.Detected> layers = Attribution.detect(headers);
    Diagnosis.Stats stats = stats(trace, pathDelay);
    if (usable.isEmpty()) {
      Trace.Response first = trace.responses().isEmpty() ? null : trace.responses().getFirst();
      String why = first == null ? "no response" : first.errorMessage();
      return new Diagnosis(Diagnosis.Verdict.FAILED, why, List.of(), layers, stats);
    }

    // Per-stream signatures, merged: the first stream's numbers, with how many streams showed it.
    Map<Problem, Signal> first = new EnumMap<>(Problem.class);
    Map<Problem, Integer> seen = new EnumMap<>(Problem.class);
    for (Trace.Response r : usable) {
      for (Signal s : perStream(trace, r)) {
        first.putIfAbsent(s.problem(), s);
        seen.merge(s.problem(), 1, Integer::sum);
      }
    }
    List<Signal> signals = new ArrayList<>();
    for (Signal s : first.values()) {
      if (s.problem() == Problem.EVENTS_HELD && 2 * seen.get(s.problem()) <= usable.size()) {
        continue; // patternless holding in a minority of streams is a busy machine's scheduling noise, not a layer
      }
      if (usable.size() > 1) {
        List<String> ev = new ArrayList<>(s.evidence());
        ev.add("seen in " + seen.get(s.problem()) + " of " + usable.size() + " concurrent streams");
        s = s.withEvidence(ev);
      }
      signals.add(s);
    }
    Signal groupCommit = detectGroupCommit(usable);
    if (groupCommit != null) {
      // The per-stream clock is explained by the shared flush: report the cause once.
      signals.removeIf(s -> s.problem() == Problem.CLOCK_BURSTS || s.problem() == Problem.EVENTS_HELD);
      signals.add(groupCommit);
    }
    if (trace.idle() != null) {
      Signal idle = detectIdle(trace.idle(), trace.idleNanos(), heartbeatNanos);
      if (idle != null) {
        signals.add(idle);
      }
    }

    List<Finding> findings = new ArrayList<>();
    for (Signal s : signals) {
      Attribution.Blame blame = Attribution.blame(s.curedBy(), s.suspects(), layers, s.signature(), s.prefer());
      findings.add(new Finding(s.problem(), s.severity(), s.summary(), s.evidence(), s.numbers(),
          blame.layer(), blame.basis(), blame.fixes()));
    }
    findings.sort(Analyzer.ORDER);
    boolean buffered = findings.stream().anyMatch(Finding::holdsTokens);
    if (!buffered && usable.stream().allMatch(Analyzer::nothingToTime)) {
      Trace.Response r = usable.getFirst();
      int n = r.contentEvents().size();
      String what = n == 1
          ? String.format(Locale.ROOT, "each answer had one content event (%s after the request)", ms(r.ttftNanos()))
          : String.format(Locale.ROOT, "each answer's events arrived in one read (%d events, %s after the request)", n,
              ms(r.ttftNanos()));
      return new Diagnosis(Diagnosis.Verdict.FAILED, what + ": with no stamps and no time between events, doctor cannot"
          + " tell a layer that held " + (n == 1 ? "it from a model that took that long" : "them from a model that made"
          + " them at once") + "; ask for a longer answer (--max-tokens, or -d with a prompt that needs one)",
          findings, layers, stats);
    }
    String reason = buffered
        ? findings.stream().filter(Finding::holdsTokens).findFirst().orElseThrow().summary()
        : "no buffering found: " + cleanDetail(stats);
    return new Diagnosis(buffered ? Diagnosis.Verdict.BUFFERED : Diagnosis.Verdict.CLEAN, reason, findings, layers, stats);
  }

  /**
   * A response that streamed something we can time: a 2xx stream head and at least one content event. A stream
   * that was cut or timed out after that is still timed; a body that is not a stream is not.
   */
  static boolean usable(Trace.Response r) {
    boolean notStream = "not_stream".equals(r.error()) || "invalid_sse".equals(r.error());
    return r.status() >= 200 && r.status() < 300 && !notStream && !r.contentEvents().isEmpty();
  }

  /** What a CLEAN verdict saw: one event per read, or how many when no pattern of holding explains more. */
  static String cleanDetail(Diagnosis.Stats stats) {
    return stats.eventsPerRead() <= 1.05 ? "events arrived one per read as they were sent"
        : String.format(Locale.ROOT, "%.1f events per read, in no pattern of holding", stats.eventsPerRead());
  }

  /**
   * The content events, one or many, all arrived in one delivery and none is stamped: no gap between events and no
   * hold to measure, so nothing says whether they were made at once (or that late) or held (held-until-end needs
   * four). The least a stream needs to be judged is a stamped content event (its hold) or, without stamps, two
   * content events read apart (a time between them).
   */
  private static boolean nothingToTime(Trace.Response r) {
    List<Trace.Arrival> events = r.contentEvents();
    return Deliveries.of(r).size() == 1 && events.stream().noneMatch(a -> a.emitMicros() >= 0);
  }

  private static List<Signal> perStream(Trace trace, Trace.Response r) {
    List<Signal> out = new ArrayList<>();
    List<Delivery> deliveries = Deliveries.of(r);
    Signal held = detectHeldUntilEnd(trace, r, deliveries);
    add(out, held);
    double[] behind = oneBehind(r);
    add(out, detectCompression(r, held != null || behind != null, behind != null));
    if (held == null) {
      Signal nagle = detectNagle(r);
      add(out, nagle);
      Signal bursts = detectBursts(trace, r, deliveries);
      add(out, bursts);
      if (nagle == null && bursts == null) {
        add(out, detectHeld(trace, r, behind));
      }
    }
    if (!trace.probeMode()) {
      add(out, detectTokenGroups(r));
      add(out, detectHeadersMissing(r));
      add(out, detectFirstToken(r, held != null));
    }
    return out;
  }

  private static void add(List<Signal> out, Signal s) {
    if (s != null) {
      out.add(s);
    }
  }

  // ---------------------------------------------------------------------------------------------------------

  /**
   * Whole response held: at least 4 content events, a response of at least 250 ms, and at least 80% of the events
   * read within the last max(20 ms, 5%) of it. With emission stamps, also requires that the server emitted them
   * spread out (otherwise the source itself was late, not the path).
   */
  static Signal detectHeldUntilEnd(Trace trace, Trace.Response r, List<Delivery> deliveries) {
    List<Trace.Arrival> events = r.contentEvents();
    int n = events.size();
    long total = r.endNanos() - r.writtenNanos();
    if (n < 4 || total < 250_000_000L) {
      return null;
    }
    long last = events.getLast().readNanos();
    long window = Math.max(20_000_000L, total / 20);
    long late = events.stream().filter(a -> last - a.readNanos() <= window).count();
    if (late < 0.8 * n) {
      return null;
    }
    long firstEmit = events.getFirst().emitMicros();
    long lastEmit = events.getLast().emitMicros();
    Map<String, Double> nums = new LinkedHashMap<>();
    List<String> ev = new ArrayList<>();
    long lateSpan = last - events.get((int) (n - late)).readNanos();
    ev.add(late + " of " + n + " events arrived " + (lateSpan < 1_000_000 ? "together at the very end" : "in the last " + ms(lateSpan))
        + " of a " + ms(total) + " response (" + deliveries.size() + (deliveries.size() == 1 ? " delivery)" : " deliveries)"));
    if (firstEmit >= 0 && lastEmit >= 0) {
      long emitSpanMicros = lastEmit - firstEmit;
      long[] holds = Deliveries.holdsMicros(r);
      if (emitSpanMicros < 0.3 * (total / 1000.0) || Deliveries.median(holds) < 0.25 * emitSpanMicros) {
        return null; // the source was late, or only the tail was held (other detectors report that)
      }
      long firstHold = events.getFirst().readWallMicros() - firstEmit;
      ev.add("the server emitted them over " + ms(emitSpanMicros * 1000) + "; the first was held " + ms(firstHold * 1000));
      nums.put("first_event_hold_ms", firstHold / 1000.0);
    } else {
      ev.add("first content event read " + ms(r.ttftNanos()) + " after the request (or the server produced everything at the end)");
    }
    nums.put("events", (double) n);
    nums.put("late_events", (double) late);
    nums.put("response_ms", total / 1e6);
    nums.put("late_span_ms", lateSpan / 1e6);
    if (!r.contentEncoding().isEmpty()) {
      ev.add("Content-Encoding: " + r.contentEncoding() + " (the compressor held the stream)");
    }
    return new Signal(Problem.HELD_UNTIL_END, Severity.HIGH,
        "The whole response was held until the end: " + late + " of " + n + " events arrived in its last moments ("
            + ms(total) + " response)",
        ev, nums, r.contentEncoding().isEmpty() ? "everything arriving at the end" : "a compressed stream arriving at the end",
        null);
  }

  /**
   * Any {@code Content-Encoding} on an event stream: a risk, reported with its fix, not holding by itself (the
   * timing detectors say whether the compressor held events). HIGH when the stream was held, MEDIUM otherwise.
   * {@code oneBehind}: each event was held until the next one ({@link #oneBehind}), a compressor's signature that
   * names its layer ({@link KnowledgeBase#oneBehindCompressors}) where no header does.
   */
  static Signal detectCompression(Trace.Response r, boolean held, boolean oneBehind) {
    String enc = r.contentEncoding();
    if (enc.isEmpty()) {
      return null;
    }
    long wire = r.reads().stream().mapToLong(Trace.Read::bytes).sum();
    long data = r.events().stream().mapToLong(Trace.Arrival::dataBytes).sum();
    int events = r.contentEvents().size();
    int deliveries = Deliveries.of(r).size();
    double perRead = deliveries == 0 ? 0 : events / (double) deliveries;
    List<String> ev = new ArrayList<>();
    ev.add("Content-Encoding: " + enc + " on " + r.header("content-type"));
    ev.add(bytes(wire) + " read from the socket for " + bytes(data) + " of event data");
    if (!held) {
      ev.add(String.format(Locale.ROOT, "%.1f events per read: this compressor flushes per event here, but one that "
          + "waits for its buffer to fill (a CDN, another proxy, a changed setting) would hold the stream", perRead));
    }
    return new Signal(Problem.COMPRESSED_STREAM, held ? Severity.HIGH : Severity.MEDIUM,
        "The event stream is compressed (Content-Encoding: " + enc + ")"
            + (held ? "; the compressor held it" : String.format(Locale.ROOT,
                ", yet arrived %.1f events per read: not held now, a risk", perRead)),
        ev, Map.of("wire_bytes", (double) wire, "event_data_bytes", (double) data, "events_per_read", perRead),
        oneBehind ? "a compressor writing each event out only when the next comes in" : "compression of text/event-stream",
        null, Problem.COMPRESSED_STREAM, oneBehind ? KnowledgeBase.oneBehindCompressors() : List.of());
  }

  /**
   * Nagle + delayed ACK: reads that end inside an event, followed 25-600 ms later by a read completing at most
   * two events. Needs at least 3 such stalls covering 20% of the events.
   */
  static Signal detectNagle(Trace.Response r) {
    List<Trace.Read> reads = r.reads();
    List<Long> stalls = new ArrayList<>();
    for (int i = 1; i < reads.size(); i++) {
      Trace.Read prev = reads.get(i - 1);
      Trace.Read cur = reads.get(i);
      long gap = cur.nanos() - prev.nanos();
      if (prev.midEvent() && gap >= 25_000_000L && gap <= 600_000_000L && eventsCompletedAt(r, cur.nanos()) <= 2) {
        stalls.add(gap);
      }
    }
    int n = r.contentEvents().size();
    if (stalls.size() < 3 || stalls.size() < 0.2 * n) {
      return null;
    }
    long[] s = stalls.stream().mapToLong(Long::longValue).toArray();
    long median = Deliveries.median(s);
    String cause = median <= 90_000_000L ? "~40 ms is Linux's minimum delayed-ACK timeout"
        : median >= 150_000_000L && median <= 260_000_000L ? "~200 ms is the delayed-ACK timeout of other systems (or TCP_CORK)"
        : "a write waited for the ACK of the previous one";
    return new Signal(Problem.NAGLE_STALLS, Severity.MEDIUM,
        stalls.size() + " of " + n + " events arrived split in two reads with a " + ms(median) + " stall (Nagle + delayed ACK)",
        List.of(stalls.size() + " reads ended inside an event; the rest followed after p50 " + ms(median) + ", max "
            + ms(Deliveries.percentile(s, 100)), cause + ": the sender writes each event in pieces with TCP_NODELAY off"),
        Map.of("stalls", (double) stalls.size(), "stall_p50_ms", median / 1e6, "events", (double) n),
        "events split across reads with ~" + ms(median) + " stalls", Layer.TCP);
  }

  private static int eventsCompletedAt(Trace.Response r, long readNanos) {
    int n = 0;
    for (Trace.Arrival a : r.events()) {
      if (a.readNanos() == readNanos) {
        n++;
      }
    }
    return n;
  }

  /**
   * Bursts: at least 3 deliveries of 2+ events holding half the events (with stamps: only deliveries whose
   * events were held at least 10 ms count, so events the server emitted together are not blamed on the path).
   * Classified as size-triggered when the bytes per burst sit within 8% of a buffer page, clock-triggered when
   * the gaps between bursts are regular (60% within 25% of their median), otherwise generic holding.
   */
  static Signal detectBursts(Trace trace, Trace.Response r, List<Delivery> deliveries) {
    int n = r.contentEvents().size();
    List<Delivery> bursts = deliveries.stream()
        .filter(d -> d.events() >= 2 && (d.maxHoldMicros() < 0 || d.maxHoldMicros() >= 10_000)).toList();
    int inBursts = bursts.stream().mapToInt(Delivery::events).sum();
    if (bursts.size() < 3 || inBursts < 0.5 * n) {
      return null;
    }
    long[] sizes = bursts.subList(0, bursts.size() - 1).stream().mapToLong(Delivery::bytes).toArray();
    long[] gaps = new long[bursts.size() - 1];
    for (int i = 1; i < bursts.size(); i++) {
      gaps[i - 1] = bursts.get(i).startNanos() - bursts.get(i - 1).startNanos();
    }
    long medianSize = Deliveries.median(sizes);
    long medianGap = Deliveries.median(gaps);
    long perBurst = Math.round(inBursts / (double) bursts.size());
    long[] holds = Deliveries.holdsMicros(r);
    List<String> ev = new ArrayList<>();
    ev.add(inBursts + " of " + n + " events arrived in " + bursts.size() + " bursts of ~" + perBurst + " events");
    Map<String, Double> nums = new LinkedHashMap<>();
    nums.put("events", (double) n);
    nums.put("burst_events", (double) inBursts);
    nums.put("bursts", (double) bursts.size());
    nums.put("burst_bytes_p50", (double) medianSize);
    nums.put("burst_gap_p50_ms", medianGap / 1e6);
    if (holds.length > 0) {
      ev.add("hold per event p50 " + ms(Deliveries.median(holds) * 1000) + ", p90 " + ms(Deliveries.percentile(holds, 90) * 1000)
          + ", max " + ms(Deliveries.percentile(holds, 100) * 1000));
      nums.put("hold_p90_ms", Deliveries.percentile(holds, 90) / 1000.0);
    }
    Severity sev = medianGap >= 1_000_000_000L || (holds.length > 0 && Deliveries.percentile(holds, 90) >= 1_000_000)
        ? Severity.HIGH : Severity.MEDIUM;
    for (long page : PAGE_BYTES) {
      if (sizes.length >= 2 && Math.abs(medianSize - page) <= 0.08 * page && Deliveries.shareNear(sizes, page, 0.1) >= 0.6) {
        ev.add(0, "bursts carry " + bytes(medianSize) + " (p50) on the wire: a " + bytes(page) + " buffer flushed when full");
        nums.put("page_bytes", (double) page);
        return new Signal(Problem.SIZE_BURSTS, sev,
            "Events released in " + bytes(page) + " bursts: a buffer holds them until it is full", ev, nums,
            "bursts of " + bytes(page), null);
      }
    }
    boolean slowerThanSource = trace.pacing() == null || medianGap >= 1.5 * trace.pacing().intervalNanos();
    if (gaps.length >= 2 && slowerThanSource && Deliveries.shareNear(gaps, medianGap, 0.25) >= 0.6) {
      ev.add(0, "bursts every ~" + ms(medianGap) + " (" + Math.round(100 * Deliveries.shareNear(gaps, medianGap, 0.25))
          + "% of gaps within 25%), " + bytes(medianSize) + " each: a timer, not a size, releases them");
      return new Signal(Problem.CLOCK_BURSTS, sev,
          "Events released in bursts every ~" + ms(medianGap) + " (~" + perBurst + " events each)", ev, nums,
          "bursts on a ~" + ms(medianGap) + " clock", null);
    }
    return new Signal(Problem.EVENTS_HELD, sev,
        "Events arrive in irregular bursts (~" + perBurst + " events each)", ev, nums, "irregular bursts", null);
  }

  /** The number that marks an events-held finding as one behind ({@link #oneBehind}): the share of pairs that were. */
  static final String ONE_BEHIND_SHARE = "one_behind_share";

  /**
   * How soon after the next event's emission an event held one behind arrives, at most (microseconds): a quarter
   * of the interval between the two, and at least this. Three milliseconds flat missed HAProxy's hold of one
   * 20 ms interval when doctor's reads ran 0-6 ms late on a loaded machine; a reader late by about an interval
   * finds the next event in the same read, which the mark excludes.
   */
  static final long ONE_BEHIND_SLACK_MICROS = 3_000;

  static long oneBehindSlackMicros(long gapMicros) {
    return Math.max(ONE_BEHIND_SLACK_MICROS, gapMicros / 4);
  }

  /**
   * Each event written out only when the next one comes in (HAProxy 2.6's gzip with {@code http-no-delay}): the
   * hold is one interval between events, under {@link #detectHeld}'s bar with a fast model (20 ms), so that path
   * was CLEAN, though a model with 150 ms between tokens got every token 150 ms late through it. The mark is when
   * an event arrives, not how long: in a read of its own (the next event not in it yet), within
   * {@link #oneBehindSlackMicros} after the next event's emission, with events at least 5 ms apart (so a
   * hold of one interval is not a fast path's noise). A late reader cannot make it: reading after the next
   * emission, it finds the next event in the same read. Needs 8 such pairs and 60 % of the stamped pairs (a loaded
   * machine blurred a third of one stream's pairs through HAProxy: some out a little early, some sharing a read).
   *
   * @return {matched, pairs}, or null when the stream does not show it
   */
  static double[] oneBehind(Trace.Response r) {
    List<Trace.Arrival> events = r.contentEvents().stream().filter(a -> a.emitMicros() >= 0).toList();
    int pairs = 0;
    int matched = 0;
    for (int i = 0; i + 1 < events.size(); i++) {
      Trace.Arrival a = events.get(i);
      Trace.Arrival next = events.get(i + 1);
      long gap = next.emitMicros() - a.emitMicros();
      if (gap < 5_000) {
        continue;
      }
      pairs++;
      long afterNext = a.readWallMicros() - next.emitMicros();
      boolean ownRead = next.readNanos() - a.readNanos() >= gap * 1000 / 2;
      if (afterNext >= -500 && afterNext <= oneBehindSlackMicros(gap) && ownRead) {
        matched++;
      }
    }
    return matched >= 8 && matched >= 0.6 * pairs ? new double[] {matched, pairs} : null;
  }

  /** Fewer stamped content events than this is a short answer for {@link #detectHeld}. */
  static final int SHORT_ANSWER_EVENTS = 4;
  /** The hold a short answer's longest hold must reach to be a finding (microseconds). */
  static final long SHORT_ANSWER_HOLD_MICROS = 200_000;

  /**
   * Generic holding, only with emission stamps and when no pattern matched: hold p90 of at least max(50 ms, half
   * the probe interval), and for an answer of fewer than {@value #SHORT_ANSWER_EVENTS} stamped events its longest
   * hold at least {@value #SHORT_ANSWER_HOLD_MICROS} us; reported only when a majority of the concurrent streams
   * show it. Under that bar, the stream's {@link #oneBehind} mark ({@code behind}, null without it) is the finding.
   */
  static Signal detectHeld(Trace trace, Trace.Response r, double[] behind) {
    long[] holds = Deliveries.holdsMicros(r);
    if (holds.length == 0) {
      return null;
    }
    long p90 = Deliveries.percentile(holds, 90);
    // 50 ms: a busy 2-core machine delays single events by tens of ms (measured: probe p90 28-51 ms through
    // per-event paths at load 18); every holding layer measured here held for hundreds of ms or more.
    long limit = Math.max(50_000, trace.pacing() == null ? 0 : trace.pacing().intervalNanos() / 2000);
    if (holds.length < SHORT_ANSWER_EVENTS) {
      // An answer too short for the patterns (held-until-end wants four events): its p90 is its longest hold, which
      // one event late on a busy machine would set, so the bar is one no machine noise reached here. NGINX's gzip
      // held a 3-token answer at 300 ms per token to its end (holds 610, 310, 10 ms): it said CLEAN.
      limit = Math.max(limit, SHORT_ANSWER_HOLD_MICROS);
    }
    long p50 = Deliveries.median(holds);
    if (p90 < limit) {
      if (behind == null) {
        return null;
      }
      boolean compressed = !r.contentEncoding().isEmpty();
      return new Signal(Problem.EVENTS_HELD, Severity.MEDIUM,
          "Each event held until the next one was sent: one event behind, hold p50 " + ms(p50 * 1000)
              + " (the time between events; a slower model's tokens are held as long)",
          List.of(Math.round(behind[0]) + " of " + Math.round(behind[1]) + " events arrived in a read of their own within a"
              + " quarter interval (at least " + ms(ONE_BEHIND_SLACK_MICROS * 1000) + ") after the next event's emission: a layer writes an event out only"
              + " when the next one comes in", "hold per event p50 " + ms(p50 * 1000) + ", p90 " + ms(p90 * 1000)),
          Map.of("hold_p50_ms", p50 / 1000.0, "hold_p90_ms", p90 / 1000.0, ONE_BEHIND_SHARE, behind[0] / behind[1]),
          // On a compressed stream the compressor is what holds each event (HAProxy's gzip: without it, the same
          // path with http-no-delay is clean), so its fix leads; 'proxy_buffering off' or 'http-no-delay' do not cure it.
          compressed ? "a compressor writing each event out only when the next comes in" : "each event held until the next",
          null, compressed ? Problem.COMPRESSED_STREAM : Problem.EVENTS_HELD,
          compressed ? KnowledgeBase.oneBehindCompressors() : List.of());
    }
    return new Signal(Problem.EVENTS_HELD, p90 >= 1_000_000 ? Severity.HIGH : Severity.MEDIUM,
        holds.length < SHORT_ANSWER_EVENTS
            ? "Events held in transit: up to " + ms(p90 * 1000) + " between emission and arrival (an answer of "
                + holds.length + (holds.length == 1 ? " event)" : " events)")
            : "Events held in transit: p90 " + ms(p90 * 1000) + " between emission and arrival",
        List.of("hold per event p50 " + ms(p50 * 1000) + ", p90 " + ms(p90 * 1000) + ", max " + ms(Deliveries.percentile(holds, 100) * 1000)),
        Map.of("hold_p50_ms", p50 / 1000.0, "hold_p90_ms", p90 / 1000.0), "events held without a pattern", null);
  }

  /**
   * Scheduler token groups: at least 5 content events (first and last excluded), median tokens per event at
   * least 3, and 70% of events within -25%/+34% of it.
   */
  static Signal detectTokenGroups(Trace.Response r) {
    List<Trace.Arrival> events = r.contentEvents();
    if (events.size() < 7) {
      return null;
    }
    List<Trace.Arrival> middle = events.subList(1, events.size() - 1);
    long[] tokens = middle.stream().mapToLong(Trace.Arrival::tokens).toArray();
    long k = Deliveries.median(tokens);
    if (k < 3) {
      return null;
    }
    long near = middle.stream().filter(a -> a.tokens() >= 0.75 * k && a.tokens() <= 1.34 * k).count();
    if (near < 0.7 * middle.size()) {
      return null;
    }
    long[] gaps = new long[middle.size() - 1];
    for (int i = 1; i < middle.size(); i++) {
      gaps[i - 1] = middle.get(i).readNanos() - middle.get(i - 1).readNanos();
    }
    long gap = Deliveries.median(gaps);
    return new Signal(Problem.TOKEN_GROUPS, Severity.MEDIUM,
        "Tokens arrive in groups of ~" + k + " per event, one event every ~" + ms(gap),
        List.of(near + " of " + middle.size() + " events carry " + k + " tokens (p50, counted with cl100k), one event every "
            + ms(gap) + " (p50): the model server hands out tokens " + k + " at a time"),
        Map.of("tokens_per_event_p50", (double) k, "event_gap_p50_ms", gap / 1e6),
        "a fixed number of tokens per event at a fixed cadence", null);
  }

  /** No {@code X-Accel-Buffering: no} and no {@code no-transform}: proxies are free to buffer and compress. */
  static Signal detectHeadersMissing(Trace.Response r) {
    boolean accel = r.header("x-accel-buffering").trim().equalsIgnoreCase("no");
    boolean noTransform = r.header("cache-control").toLowerCase(Locale.ROOT).contains("no-transform");
    if (accel || noTransform) {
      return null;
    }
    List<String> ev = new ArrayList<>();
    ev.add("the response has neither 'X-Accel-Buffering: no' nor 'Cache-Control: no-transform'"
        + (r.header("cache-control").isEmpty() ? "" : " (Cache-Control: " + r.header("cache-control") + ")"));
    if (r.header("server").toLowerCase(Locale.ROOT).startsWith("nginx")) {
      ev.add("NGINX consumes X-Accel-Buffering from the upstream, so its absence here does not prove the app omits it");
    }
    return new Signal(Problem.HEADERS_MISSING, Severity.LOW, "Anti-buffering headers missing", ev, Map.of(),
        "missing stream headers", Layer.APP);
  }

  /** TTFB against TTFT, when one of them is slow (> 1 s) and the stream was not simply held. */
  static Signal detectFirstToken(Trace.Response r, boolean held) {
    long ttfb = r.ttfbNanos();
    long ttft = r.ttftNanos();
    if (held || ttfb < 0 || ttft < 0) {
      return null;
    }
    Map<String, Double> nums = Map.of("ttfb_ms", ttfb / 1e6, "ttft_ms", ttft / 1e6);
    if (ttft >= 2_000_000_000L && ttfb < ttft / 2) {
      return new Signal(Problem.SLOW_FIRST_TOKEN, Severity.INFO,
          "First byte after " + ms(ttfb) + ", first token after " + ms(ttft) + ": the wait is before the model's first token (queue, prefill), not in the plumbing",
          List.of("TTFB " + ms(ttfb) + ", TTFT " + ms(ttft)), nums, "slow first token", Layer.MODEL_SERVER);
    }
    if (ttfb >= 1_000_000_000L && ttfb >= 0.9 * ttft) {
      return new Signal(Problem.SLOW_FIRST_BYTE, Severity.INFO,
          "No byte for " + ms(ttfb) + ": headers are only sent with the first token, so clients and proxies see a silent connection",
          List.of("TTFB " + ms(ttfb) + ", TTFT " + ms(ttft)), nums, "late response headers", Layer.APP);
    }
    return null;
  }

  /**
   * Group commit: with 2+ streams started at staggered times, the deliveries of different streams that land within
   * {@link #SYNC_WINDOW_NANOS} of each other. If 60% of the events arrive in instants shared by at least half the streams (and at least
   * two), and the streams burst (2+ events per delivery on average), one loop is flushing them all together. With
   * emission stamps, only when the events were held (hold p90 at least 25 ms).
   */
  /**
   * Deliveries of different streams this close together count as one instant: wide enough for a
   * busy client reading several sockets, well under the 11 ms by which doctor staggers stream
   * starts, so streams that merely share a pace do not line up.
   */
  static final long SYNC_WINDOW_NANOS = 5_000_000L;

  static Signal detectGroupCommit(List<Trace.Response> streams) {
    if (streams.size() < 2) {
      return null;
    }
    record Mark(long nanos, int stream, int events) {}
    List<Mark> marks = new ArrayList<>();
    int totalEvents = 0;
    int totalDeliveries = 0;
    for (int s = 0; s < streams.size(); s++) {
      for (Delivery d : Deliveries.of(streams.get(s))) {
        marks.add(new Mark(d.startNanos(), s, d.events()));
        totalEvents += d.events();
        totalDeliveries++;
      }
    }
    if (totalEvents < 8 || totalEvents < 1.8 * totalDeliveries) {
      return null;
    }
    long[] holds = streams.stream().flatMapToLong(r -> java.util.Arrays.stream(Deliveries.holdsMicros(r))).toArray();
    if (holds.length >= 8 && Deliveries.percentile(holds, 90) < 25_000) {
      // Stamped events that were hardly held were emitted together by the source (a batch decode step, a late
      // timer catching up): that is its pace, not a layer holding them.
      return null;
    }
    marks.sort(Comparator.comparingLong(Mark::nanos));
    int need = Math.max(2, (streams.size() + 1) / 2);
    int synced = 0;
    List<Long> instants = new ArrayList<>();
    int i = 0;
    while (i < marks.size()) {
      int j = i;
      while (j + 1 < marks.size() && marks.get(j + 1).nanos() - marks.get(j).nanos() <= SYNC_WINDOW_NANOS) {
        j++;
      }
      long distinct = marks.subList(i, j + 1).stream().mapToInt(Mark::stream).distinct().count();
      if (distinct >= need) {
        synced += marks.subList(i, j + 1).stream().mapToInt(Mark::events).sum();
        instants.add(marks.get(i).nanos());
      }
      i = j + 1;
    }
    double share = synced / (double) totalEvents;
    if (share < 0.6 || instants.size() < 3) {
      return null;
    }
    long[] gaps = new long[instants.size() - 1];
    for (int k = 1; k < instants.size(); k++) {
      gaps[k - 1] = instants.get(k) - instants.get(k - 1);
    }
    long period = Deliveries.median(gaps);
    double perDelivery = totalEvents / (double) totalDeliveries;
    return new Signal(Problem.GROUP_COMMIT, Severity.HIGH,
        streams.size() + " connections receive their events in the same instants, every ~" + ms(period) + ": one loop flushes them all together",
        List.of(Math.round(share * 100) + "% of " + totalEvents + " events arrived in " + instants.size()
                + " instants shared by " + need + "+ of " + streams.size() + " streams (within " + ms(SYNC_WINDOW_NANOS) + "), though the streams were started at staggered times",
            String.format(Locale.ROOT, "%.1f events per delivery; shared flushes every ~%s (p50)", perDelivery, ms(period))),
        Map.of("synced_share", share, "flush_period_p50_ms", period / 1e6, "events_per_delivery", perDelivery,
            "streams", (double) streams.size()),
        "many connections flushed in the same instants", Layer.APP);
  }

  /**
   * The quiet stream of {@code --idle-test}: cut (error, or closed before its end) is IDLE_CUT. A stream that
   * survived without a heartbeat comment is judged against the heartbeat the server advertises: quiet for no
   * longer than that interval, the test could not see one (IDLE_NOT_TESTED, with the length that would); longer,
   * and none arrived, something on the path held or dropped them (NO_HEARTBEATS); a server that sends none, or
   * does not say, gets the advice to send them (NO_HEARTBEATS).
   *
   * @param heartbeatNanos advertised heartbeat interval, -1 unknown, 0 none
   */
  static Signal detectIdle(Trace.Response r, long idleNanos, long heartbeatNanos) {
    long lastData = r.events().isEmpty() ? r.headNanos() : r.events().getFirst().readNanos();
    boolean sawEnd = r.events().stream().anyMatch(Trace.Arrival::done);
    int heartbeats = r.commentNanos().size();
    if (!r.ok() || !sawEnd) {
      long quiet = r.endNanos() - (lastData > 0 ? lastData : r.writtenNanos());
      return new Signal(Problem.IDLE_CUT, Severity.HIGH,
          "The stream was cut after " + ms(quiet) + " without data (" + r.errorMessage() + ")",
          List.of("the probe stayed quiet for " + ms(idleNanos) + " on purpose; the path ended it after " + ms(quiet)
              + (r.status() >= 400 ? " with HTTP " + r.status() : ""), heartbeats + " heartbeat comments arrived before the cut"),
          Map.of("cut_after_ms", quiet / 1e6, "idle_test_ms", idleNanos / 1e6, "heartbeats", (double) heartbeats),
          "a quiet stream cut after " + ms(quiet), null);
    }
    if (heartbeats > 0) {
      return null;
    }
    if (heartbeatNanos > 0 && idleNanos <= heartbeatNanos) {
      return new Signal(Problem.IDLE_NOT_TESTED, Severity.INFO,
          "Heartbeats not tested: the server sends one after " + ms(heartbeatNanos) + " of silence, the idle test was "
              + ms(idleNanos) + " (run --idle-test " + ms(heartbeatNanos * 2) + " to see them)",
          List.of("X-Tokenpipe-Heartbeat: " + ms(heartbeatNanos) + " advertised by the probe route"),
          Map.of("idle_test_ms", idleNanos / 1e6, "heartbeat_ms", heartbeatNanos / 1e6), "idle test too short", Layer.TOKENPIPE);
    }
    if (heartbeatNanos > 0) {
      return new Signal(Problem.NO_HEARTBEATS, Severity.LOW,
          "The server sent heartbeats every " + ms(heartbeatNanos) + " but none arrived in " + ms(idleNanos)
              + " of silence: a layer on the path held or dropped them",
          List.of("X-Tokenpipe-Heartbeat: " + ms(heartbeatNanos) + " advertised; 0 SSE comments arrived in " + ms(idleNanos)),
          Map.of("idle_test_ms", idleNanos / 1e6, "heartbeats", 0.0, "heartbeat_ms", heartbeatNanos / 1e6),
          "heartbeats that never arrive", null);
    }
    return new Signal(Problem.NO_HEARTBEATS, Severity.LOW,
        "The stream survived " + ms(idleNanos) + " of silence here, but nothing kept it warm: no heartbeat comments",
        List.of("0 SSE comments in " + ms(idleNanos) + " without events" + (heartbeatNanos == 0 ? " (the server advertises none)" : "")
            + "; idle timeouts further out (AWS ALB 60 s, Cloudflare 100 s, NGINX proxy_read_timeout 60 s) cut such streams"),
        Map.of("idle_test_ms", idleNanos / 1e6, "heartbeats", 0.0), "no heartbeats", Layer.APP);
  }

  // ---------------------------------------------------------------------------------------------------------

  /** {@code pathDelay}: what was taken out of {@code trace}'s stamps. */
  static Diagnosis.Stats stats(Trace trace, PathDelay pathDelay) {
    List<Trace.Response> rs = trace.responses();
    List<Trace.Response> ok = rs.stream().filter(Analyzer::usable).toList();
    long[] events = ok.stream().mapToLong(r -> r.contentEvents().size()).toArray();
    long deliveries = ok.stream().mapToLong(r -> Deliveries.of(r).size()).sum();
    long contentEvents = ok.stream().mapToLong(r -> r.contentEvents().size()).sum();
    long[] ttfb = ok.stream().mapToLong(Trace.Response::ttfbNanos).filter(v -> v >= 0).toArray();
    long[] ttft = ok.stream().mapToLong(Trace.Response::ttftNanos).filter(v -> v >= 0).toArray();
    long[] holds = ok.stream().flatMapToLong(r -> java.util.Arrays.stream(Deliveries.holdsMicros(r))).toArray();
    Trace.Response first = rs.isEmpty() ? null : rs.getFirst();
    return new Diagnosis.Stats(rs.size(), (int) rs.stream().filter(Trace.Response::ok).count(),
        (int) Deliveries.median(events), deliveries == 0 ? 0 : contentEvents / (double) deliveries,
        ttfb.length == 0 ? -1 : Deliveries.median(ttfb) / 1e6, ttft.length == 0 ? -1 : Deliveries.median(ttft) / 1e6,
        ttft.length == 0 ? -1 : Deliveries.percentile(ttft, 100) / 1e6,
        holds.length == 0 ? -1 : Deliveries.median(holds) / 1e3, holds.length == 0 ? -1 : Deliveries.percentile(holds, 90) / 1e3,
        holds.length == 0 ? -1 : Deliveries.percentile(holds, 99) / 1e3, holds.length == 0 ? -1 : Deliveries.percentile(holds, 100) / 1e3,
        first == null ? "" : first.httpVersion(), first == null ? "" : first.header("content-type"),
        first == null ? "" : first.contentEncoding(), pathDelay.micros() / 1e3,
        holds.length == 0 ? -1 : pathDelay.fastestMicros() / 1e3);
  }

  /** Milliseconds for humans: 850us, 41ms, 2.05s. */
  static String ms(long nanos) {
    return dev.tokenpipe.cli.Durations.format(java.time.Duration.ofNanos(Math.max(0, nanos)));
  }

  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    return n % 1024 == 0 ? (n / 1024) + " KB" : String.format(Locale.ROOT, "%.1f KB", n / 1024.0);
  }
}
