package dev.tokenpipe.doctor;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.doctor.KnowledgeBase.Fix;
import dev.tokenpipe.openai.Json;
import java.util.Map;

/**
 * The machine report, schema {@value #SCHEMA} (documented field by field in docs/doctor.md). Times are
 * milliseconds; stream timelines are relative to that stream's request write.
 */
final class JsonReport {
  static final String SCHEMA = "tokenpipe.doctor/v1";

  private JsonReport() {}

  static ObjectNode render(Checkup c) {
    Trace trace = c.primary();
    Diagnosis d = c.diagnosis();
    Prober.Measurement m = c.measurement();
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("schema", SCHEMA);
    root.put("target", trace.target());
    root.put("mode", m.real() == null ? "probe" : m.probe() == null ? "endpoint" : "endpoint+probe");
    root.put("measured", c.measured());
    root.put("localization", c.localization());
    Trace probed = m.probe() != null ? m.probe() : trace;
    root.put("probe_url", probed.probeUrl());
    if (probed.pacing() != null) {
      ObjectNode p = root.putObject("pacing");
      p.put("interval_ms", probed.pacing().intervalNanos() / 1e6);
      p.put("count", probed.pacing().count());
      p.put("size_bytes", probed.pacing().sizeBytes());
    } else {
      root.putNull("pacing");
    }
    if (m.route() != null) {
      root.putObject("route").put("server", m.route().server()).put("heartbeat_ms",
          m.route().heartbeatNanos() < 0 ? -1 : m.route().heartbeatNanos() / 1e6);
    } else {
      root.putNull("route");
    }
    root.put("verdict", d.verdict().key());
    root.put("exit_code", d.verdict().exitCode());
    root.put("reason", d.reason());
    Diagnosis.Stats s = d.stats();
    ObjectNode st = root.putObject("stats");
    stats(st, s);
    root.putObject("self_check").put("loop_lag_p99_ms", m.loopLag().p99Millis())
        .put("loop_lag_max_ms", m.loopLag().maxMillis()).put("late_loop_limit_ms", Checkup.LATE_LOOP_MILLIS);
    ArrayNode layers = root.putArray("layers");
    for (Attribution.Detected l : d.layers()) {
      layers.addObject().put("layer", l.layer().key()).put("name", l.layer().displayName()).put("evidence", l.evidence());
    }
    findings(root.putArray("findings"), d);
    ArrayNode streams = root.putArray("streams");
    long delay = micros(s.pathDelayMillis());
    trace.responses().forEach(r -> streams.add(stream(r, delay)));
    Trace idleTrace = m.probe() != null && m.probe().idle() != null ? m.probe() : trace;
    if (idleTrace.idle() != null) {
      Diagnosis idleJudged = idleTrace == trace || c.probe() == null ? d : c.probe();
      ObjectNode idle = stream(idleTrace.idle(), micros(idleJudged.stats().pathDelayMillis()));
      idle.put("quiet_ms", idleTrace.idleNanos() / 1e6);
      root.set("idle", idle);
    } else {
      root.putNull("idle");
    }
    if (c.probe() != null) {
      ObjectNode p = root.putObject("probe");
      p.put("probe_url", m.probe().probeUrl());
      p.put("verdict", c.probe().verdict().key());
      p.put("reason", c.probe().reason());
      stats(p.putObject("stats"), c.probe().stats());
      findings(p.putArray("findings"), c.probe());
      ArrayNode ps = p.putArray("streams");
      long probeDelay = micros(c.probe().stats().pathDelayMillis());
      m.probe().responses().forEach(r -> ps.add(stream(r, probeDelay)));
    } else {
      root.putNull("probe");
    }
    return root;
  }

  private static void stats(ObjectNode st, Diagnosis.Stats s) {
    st.put("streams", s.streams());
    st.put("ok_streams", s.okStreams());
    st.put("events_per_stream", s.eventsPerStream());
    st.put("events_per_read", s.eventsPerRead());
    st.put("ttfb_ms", s.ttfbMillis());
    st.put("ttft_ms", s.ttftMillis());
    st.put("ttft_max_ms", s.ttftMaxMillis());
    st.put("hold_p50_ms", s.holdP50Millis());
    st.put("hold_p90_ms", s.holdP90Millis());
    st.put("hold_p99_ms", s.holdP99Millis());
    st.put("hold_max_ms", s.holdMaxMillis());
    st.put("path_delay_ms", s.pathDelayMillis());
    st.put("fastest_event_ms", s.fastestEventMillis());
    st.put("http_version", s.httpVersion());
    st.put("content_type", s.contentType());
    st.put("content_encoding", s.contentEncoding());
  }

  private static void findings(ArrayNode findings, Diagnosis d) {
    for (Finding f : d.findings()) {
      ObjectNode o = findings.addObject();
      o.put("id", f.problem().id());
      o.put("title", f.problem().title());
      o.put("severity", f.severity().key());
      o.put("holds_tokens", f.holdsTokens());
      o.put("summary", f.summary());
      ArrayNode ev = o.putArray("evidence");
      f.evidence().forEach(ev::add);
      ObjectNode nums = o.putObject("numbers");
      f.numbers().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> nums.put(e.getKey(), e.getValue()));
      o.put("layer", f.layer().key());
      o.put("layer_name", f.layer().displayName());
      o.put("layer_basis", f.layerBasis());
      ArrayNode fixes = o.putArray("fixes");
      for (Fix fix : f.fixes()) {
        fixes.addObject().put("layer", fix.layer().key()).put("advice", fix.advice()).put("snippet", fix.snippet())
            .put("source", fix.source().key());
      }
    }
  }

  private static long micros(double millis) {
    return Math.round(millis * 1e3);
  }

  /** One stream as measured; each stamped event's hold less {@code pathDelayMicros} ({@link PathDelay}), as judged. */
  private static ObjectNode stream(Trace.Response r, long pathDelayMicros) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    long t0 = r.writtenNanos();
    o.put("status", r.status());
    o.put("http_version", r.httpVersion());
    o.put("error", r.error());
    o.put("message", r.errorMessage());
    ArrayNode hs = o.putArray("headers");
    r.headers().forEach(h -> hs.addArray().add(h.name()).add(h.value()));
    o.put("ttfb_ms", r.ttfbNanos() < 0 ? -1 : r.ttfbNanos() / 1e6);
    o.put("ttft_ms", r.ttftNanos() < 0 ? -1 : r.ttftNanos() / 1e6);
    o.put("end_ms", (r.endNanos() - t0) / 1e6);
    ArrayNode reads = o.putArray("reads");
    r.reads().forEach(x -> reads.addArray().add(round((x.nanos() - t0) / 1e6)).add(x.bytes()).add(x.midEvent()));
    ArrayNode events = o.putArray("events");
    for (Trace.Arrival a : r.events()) {
      ArrayNode e = events.addArray().add(round((a.readNanos() - t0) / 1e6));
      if (a.emitMicros() >= 0) {
        e.add(round((a.readWallMicros() - a.emitMicros() - pathDelayMicros) / 1e3));
      } else {
        e.addNull();
      }
      e.add(a.tokens()).add(a.dataBytes()).add(a.done());
    }
    ArrayNode comments = o.putArray("comments_ms");
    r.commentNanos().forEach(c -> comments.add(round((c - t0) / 1e6)));
    return o;
  }

  private static double round(double ms) {
    return Math.round(ms * 1000) / 1000.0;
  }
}
