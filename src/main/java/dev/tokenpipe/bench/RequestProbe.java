package dev.tokenpipe.bench;

import dev.tokenpipe.client.ChunkContent;
import dev.tokenpipe.client.ExchangeListener;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.StreamEvent;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.tokens.Tokenizer;
import java.util.Arrays;
import java.util.Optional;

/**
 * Measures one request as its stream arrives, on the connection's event loop, following the definitions in
 * docs/metrics.md. Times come from the client's per-read stamps (when the bytes arrived), never from when
 * this code ran; per-event values (one-way delay, parse delay, tokens per event) are recorded at once, the
 * per-request ones (TTFT, ITL gaps, TPOT, E2E) only when the request succeeds, so a failed stream does not
 * pollute the latency distributions.
 */
final class RequestProbe implements ExchangeListener {
  private final Job job;
  private final BenchConfig config;
  private final Metrics metrics;
  private final LoadEngine engine;
  private final Runnable onDone;

  private long writtenNanos;
  private long writtenWallMicros;
  private long baseNanos;
  private long firstByteNanos;
  private long firstContentNanos;
  private long firstReasoningNanos;
  private long lastContentNanos;
  private long firstEmitMicros = -1;
  private long firstContentEmitMicros = -1;
  private long lastContentEmitMicros = -1;
  private String lastId = "";
  private int contentEvents;
  private int tokenizerTokens;
  private int usageTokens = -1;
  private int[] gapsMicros = new int[16];
  private int[] emittedGapsMicros = new int[16];
  private int gaps;
  private int emittedGaps;

  RequestProbe(Job job, BenchConfig config, Metrics metrics, LoadEngine engine, Runnable onDone) {
    this.job = job;
    this.onDone = onDone;
    this.config = config;
    this.metrics = metrics;
    this.engine = engine;
  }

  @Override
  public void onWritten(long nanos, long wallMicros) {
    writtenNanos = nanos;
    writtenWallMicros = wallMicros;
    // Open loop: every latency starts at the intended send time (coordinated-omission correction).
    baseNanos = config.openLoop() ? job.intendedNanos() : nanos;
    if (job.measured() && config.openLoop()) {
      metrics.recordNanosAsMicros(Metric.DISPATCH_LAG, nanos - job.intendedNanos());
    }
  }

  @Override
  public void onRead(long nanos, long wallMicros, int bytes) {
    if (firstByteNanos == 0) {
      firstByteNanos = nanos;
    }
    metrics.bytesRead.add(bytes);
  }

  @Override
  public void onComment(String text, long nanos) {
    metrics.heartbeats.increment();
  }

  @Override
  public void onEvent(StreamEvent e) {
    if (job.measured()) {
      metrics.recordNanosAsMicros(Metric.PARSE_DELAY, e.parsedNanos() - e.readNanos());
    }
    long emitMicros = emitMicros(e);
    if (firstEmitMicros < 0) {
      firstEmitMicros = emitMicros;
    }
    ChunkContent c;
    if (config.api().raw()) {
      if (e.isTerminator()) {
        return;
      }
      c = ChunkContent.plain(e.data()); // whatever the body is, each event is one unit of output
    } else {
      // Every dialect through the shared definition: a terminator may carry usage (response.completed).
      c = ChunkContent.of(e.event().type(), e.data());
    }
    if (c.completionTokens() >= 0) {
      usageTokens = c.completionTokens();
    }
    if (c.hasReasoning() && firstReasoningNanos == 0) {
      firstReasoningNanos = e.readNanos();
    }
    // A token is generated output of any kind (docs/metrics.md): content, reasoning or a tool call.
    if (!c.isGenerated()) {
      return;
    }
    // Delivery delay is a generated event's: a gateway may hold a role-only chunk until the first token
    // on purpose (failover before generated content), and no user waits on it.
    if (emitMicros >= 0 && job.measured()) {
      metrics.record(Metric.ONE_WAY_DELAY, e.readWallMicros() - emitMicros);
    }
    int tokens = config.countTokens() ? Math.max(1, Tokenizer.cl100k().count(c.content() + c.reasoning() + c.toolCall())) : 1;
    tokenizerTokens += tokens;
    if (job.measured()) {
      metrics.record(Metric.TOKENS_PER_EVENT, tokens);
    }
    if (contentEvents == 0) {
      firstContentNanos = e.readNanos();
      firstContentEmitMicros = emitMicros;
    } else {
      gapsMicros = add(gapsMicros, gaps++, (e.readNanos() - lastContentNanos) / 1000);
      if (emitMicros >= 0 && lastContentEmitMicros >= 0) {
        emittedGapsMicros = add(emittedGapsMicros, emittedGaps++, emitMicros - lastContentEmitMicros);
      }
    }
    lastContentNanos = e.readNanos();
    lastContentEmitMicros = emitMicros;
    contentEvents++;
  }

  /** The emission stamp of this event, -1 if it has none (or repeats the previous event's id). */
  private long emitMicros(StreamEvent e) {
    String id = e.event().lastEventId();
    if (id.isEmpty() || id.equals(lastId)) {
      return -1;
    }
    lastId = id;
    Optional<EmissionStamp> stamp = EmissionStamp.parse(id);
    return stamp.isPresent() ? stamp.get().emitMicros() : -1;
  }

  private static int[] add(int[] a, int i, long v) {
    int[] out = i < a.length ? a : Arrays.copyOf(a, a.length * 2);
    out[i] = (int) Math.max(0, Math.min(Integer.MAX_VALUE, v));
    return out;
  }

  @Override
  public void onEnd(ExchangeOutcome outcome) {
    if (engine.aborted()) {
      metrics.cancelled.increment();
    } else if (!job.measured()) {
      metrics.warmup.increment();
    } else if (!outcome.ok()) {
      metrics.error(outcome.errorKey(), outcome.message());
      metrics.row(new Metrics.RequestRow(engine.offsetMillis(job.intendedNanos()), -1, -1, -1, -1, 0, contentEvents,
          outcome.errorKey()));
    } else {
      recordSuccess(outcome);
    }
    if (job.measured()) {
      engine.measuredEnd(outcome.endNanos());
    }
    engine.ended(outcome, job.measured());
    onDone.run();
  }

  private void recordSuccess(ExchangeOutcome outcome) {
    metrics.ok.increment();
    long e2e = outcome.endNanos() - baseNanos;
    int tokens;
    if (usageTokens >= 0) {
      tokens = usageTokens;
      metrics.tokenSource("usage");
    } else if (config.countTokens()) {
      tokens = tokenizerTokens;
      metrics.tokenSource("tokenizer");
    } else {
      tokens = contentEvents;
      metrics.tokenSource("events");
    }
    metrics.outputTokens.add(tokens);
    metrics.contentEvents.add(contentEvents);
    metrics.record(Metric.OUTPUT_TOKENS, tokens);
    metrics.recordNanosAsMicros(Metric.E2E, e2e);
    if (firstByteNanos > 0) {
      metrics.recordNanosAsMicros(Metric.TTFB, firstByteNanos - baseNanos);
    }
    if (firstReasoningNanos > 0) {
      metrics.recordNanosAsMicros(Metric.TTFT_REASONING, firstReasoningNanos - baseNanos);
    }
    double ttftMs = -1;
    double tpotMs = -1;
    double itlMeanMs = -1;
    // On the wall clock from the same start as TTFT: TTFT - TTFT_EMITTED is the first token's delivery delay.
    long baseWallMicros = writtenWallMicros - (writtenNanos - baseNanos) / 1000;
    if (firstEmitMicros >= 0) {
      metrics.record(Metric.FIRST_EMITTED, firstEmitMicros - baseWallMicros);
    }
    if (contentEvents > 0) {
      long ttft = firstContentNanos - baseNanos;
      ttftMs = ttft / 1e6;
      metrics.recordNanosAsMicros(Metric.TTFT, ttft);
      if (firstContentEmitMicros >= 0) {
        metrics.record(Metric.TTFT_EMITTED, firstContentEmitMicros - baseWallMicros);
      }
      for (int i = 0; i < gaps; i++) {
        metrics.record(Metric.ITL, gapsMicros[i]);
      }
      for (int i = 0; i < emittedGaps; i++) {
        metrics.record(Metric.ITL_EMITTED, emittedGapsMicros[i]);
      }
      if (tokens > 1) {
        long tpot = (e2e - ttft) / (tokens - 1);
        tpotMs = tpot / 1e6;
        metrics.recordNanosAsMicros(Metric.TPOT, tpot);
      }
      if (contentEvents > 1) {
        itlMeanMs = (lastContentNanos - firstContentNanos) / 1e6 / (contentEvents - 1);
      }
    }
    if (tokens > 0) {
      metrics.recordNanosAsMicros(Metric.E2E_PER_TOKEN, e2e / tokens);
    }
    metrics.row(new Metrics.RequestRow(engine.offsetMillis(job.intendedNanos()), ttftMs, e2e / 1e6, tpotMs, itlMeanMs,
        tokens, contentEvents, "ok"));
    if (!config.slo().isEmpty()) {
      // SLO hook: judge this request against each target (see Slo); the values are the ones recorded above.
      metrics.slo(config.slo(), config.slo().judged(ttftMs < 0 ? -1 : Math.round(ttftMs * 1000),
          tpotMs < 0 ? -1 : Math.round(tpotMs * 1000), e2e / 1000, gapsMicros, gaps));
    }
  }
}
