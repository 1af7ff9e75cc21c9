package dev.tokenpipe.doctor;

import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.Connection;
import dev.tokenpipe.client.ErrorClass;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.HttpTarget;
import dev.tokenpipe.client.StreamingClient;
import dev.tokenpipe.net.LoopLag;
import dev.tokenpipe.probe.ProbeRequest;
import dev.tokenpipe.probe.ProbeStream;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.HdrHistogram.SynchronizedHistogram;

/**
 * The network half of doctor: sends the streaming requests on the shared {@link StreamingClient} and records
 * them into a {@link Measurement}. It decides nothing about buffering; {@link Analyzer} and {@link Checkup} do.
 *
 * <p>Plan of a run: (1) ask the origin for tokenpipe's known-pacing probe with two 1 ms events; if it answers
 * with stamped events, the origin serves the probe route (its headers say who serves it and which heartbeat it
 * sends). (2) By default, {@code concurrency} real streaming requests go through the model path, and they decide
 * the verdict; if they cannot stream, the run fails (exit 2). (3) Where the route exists, as many probes follow,
 * sent with the anti-buffering headers exactly when the real responses carried them, so both cross the path the
 * same way. (4) With an idle test, one more probe stays quiet between its two events. Streams start staggered
 * (probe: interval / N apart, endpoint: 11 ms apart), so streams that still receive events in the same instants
 * were synchronised by a layer, not by their start.
 */
final class Prober {

  /** Which measurements a run makes. */
  enum Mode {
    /** Real requests decide, the probe (where served) localizes: the default. */
    BOTH,
    /** The probe alone where served, else the endpoint ({@code --probe-only}, the old behaviour). */
    PROBE_ONLY,
    /** Real requests only ({@code --no-probe}). */
    ENDPOINT_ONLY
  }

  /**
   * What to send.
   *
   * @param endpoint       the real streaming request (method, body, headers)
   * @param describe       one line naming it for the report, e.g. "POST …/v1/chat/completions, model m, max_tokens 64"
   * @param headers        extra headers for every request (also the probe's)
   * @param mode           which measurements
   * @param pacing         the probe's pacing
   * @param probeHeaders   {@code plain}, {@code safe} or {@code auto} (safe exactly when the real responses carry
   *                       anti-buffering headers; plain without real responses)
   * @param concurrency    streams at once, {@code >= 1}
   * @param timeoutNanos   deadline per real stream ({@code --timeout}); a known-pacing probe gets at least its
   *                       pacing's length and 5 s
   * @param idleNanos      quiet period of the idle test, 0 = none
   */
  record Plan(ClientRequest endpoint, String describe, List<Map.Entry<String, String>> headers, Mode mode, Trace.Pacing pacing,
      String probeHeaders, int concurrency, long timeoutNanos, long idleNanos) {}

  /**
   * The probe route as the origin announced it.
   *
   * @param server         who serves it ({@code X-Tokenpipe-Probe}: {@code serve}, {@code sim}; "tokenpipe" when unsaid)
   * @param heartbeatNanos advertised heartbeat ({@code X-Tokenpipe-Heartbeat}): -1 unsaid, 0 off
   */
  record Route(String server, long heartbeatNanos) {}

  /**
   * Everything a run measured.
   *
   * @param plan      what was asked
   * @param real      the real streaming requests, null when not sent ({@code --probe-only} with the route)
   * @param probe     the known-pacing probes (with the idle run, if any), null without the route
   * @param route     the route, null when the origin does not serve it
   * @param probeNote why there is no probe, for the report ("--no-probe", "answered HTTP 401"), or null
   * @param loopLag   how late doctor's own event loop ran while it measured ({@link LoopLag}): every read it
   *                  timed was late by as much
   */
  record Measurement(Plan plan, Trace real, Trace probe, Route route, String probeNote, Lateness loopLag) {}

  /**
   * A loop's lateness over a measurement, in milliseconds.
   *
   * @param p99Millis 99th percentile of a 5 ms timer's lateness
   * @param maxMillis its largest
   */
  record Lateness(double p99Millis, double maxMillis) {
    static final Lateness NONE = new Lateness(0, 0);
  }

  /** The timer's period: finer than the 5 ms window in which doctor calls events simultaneous. */
  static final long LAG_PERIOD_NANOS = 5_000_000;

  /** The endpoint could not be measured at all: one line for the user, exit code 2. */
  static final class ProbeFailed extends RuntimeException {
    /** The HTTP status of the real request that failed, 0 when none or not a real request's failure. */
    final int status;

    ProbeFailed(String message) {
      this(message, 0);
    }

    ProbeFailed(String message, int status) {
      super(message);
      this.status = status;
    }
  }

  private final StreamingClient client;

  Prober(StreamingClient client) {
    this.client = client;
  }

  /** {@link #measure}, with doctor's own loop lag watched all the while. */
  Measurement run(Plan plan) throws InterruptedException {
    SynchronizedHistogram lag = new SynchronizedHistogram(3); // recorded on the loop, read here
    Measurement m;
    try (LoopLag watch = LoopLag.start(client.group(), LAG_PERIOD_NANOS, late -> lag.recordValue(Math.max(0, late) / 1_000))) {
      m = measure(plan);
    }
    Lateness l = lag.getTotalCount() == 0 ? Lateness.NONE
        : new Lateness(lag.getValueAtPercentile(99) / 1e3, lag.getMaxValue() / 1e3);
    return new Measurement(m.plan(), m.real(), m.probe(), m.route(), m.probeNote(), l);
  }

  /**
   * How long the probe-route check (two events 1 ms apart, answered at once by a tokenpipe origin) may take. With
   * --timeout it doubled what a silent server cost: 30 s for the check, then 30 s for the real requests.
   */
  static final long ROUTE_CHECK_NANOS = 5_000_000_000L;

  private Measurement measure(Plan plan) throws InterruptedException {
    HttpTarget target = plan.endpoint().target();
    Route route = null;
    String note = plan.mode() == Mode.ENDPOINT_ONLY ? "not asked (--no-probe)" : null;
    if (plan.mode() != Mode.ENDPOINT_ONLY) {
      Trace.Response check = exchange(probeRequest(target, plan, false, 1_000_000, 2, 32), true, 0,
          Math.min(plan.timeoutNanos(), ROUTE_CHECK_NANOS));
      if ("connect".equals(check.error())) {
        throw new ProbeFailed(check.errorMessage());
      }
      boolean stamped = check.ok() && check.events().stream().anyMatch(a -> a.emitMicros() >= 0);
      if (stamped) {
        String server = check.header(ProbeStream.SERVER_HEADER);
        route = new Route(server.isBlank() ? "tokenpipe" : server.strip(), heartbeat(check.header(ProbeStream.HEARTBEAT_HEADER)));
      } else {
        note = check.status() == 401 || check.status() == 403
            ? "the probe route answered HTTP " + check.status() + " (it needs an accepted key)"
            : "timeout".equals(check.error()) && check.status() == 0
            ? "the origin did not answer it within " + Analyzer.ms(Math.min(plan.timeoutNanos(), ROUTE_CHECK_NANOS))
            : "the origin does not serve it" + (check.status() > 0 ? " (HTTP " + check.status() + ")" : "");
      }
    }
    Trace real = null;
    if (plan.mode() != Mode.PROBE_ONLY || route == null) {
      // Load the tokenizer's vocabulary now: done lazily on the event loop it would stall the reads being timed.
      dev.tokenpipe.tokens.Tokenizer.cl100k().count("warm up");
      List<Trace.Response> responses = concurrent(plan.endpoint(), false, plan.concurrency(), 11_000_000L, plan.timeoutNanos());
      Trace.Response bad = responses.stream().filter(Prober::failedOnTheModelPath).findFirst().orElse(null);
      if (bad != null) {
        throw new ProbeFailed(failure(bad, plan.timeoutNanos()), bad.status());
      }
      real = new Trace(target.toString(), null, null, responses, null, 0);
    }
    Trace probe = null;
    if (route != null) {
      boolean safe = switch (plan.probeHeaders()) {
        case "safe" -> true;
        case "plain" -> false;
        default -> real != null && antiBuffering(real.responses().getFirst());
      };
      Trace.Pacing p = plan.pacing();
      ClientRequest req = probeRequest(target, plan, safe, p.intervalNanos(), p.count(), p.sizeBytes());
      // A probe lasts as long as its pacing says, whatever --timeout the real requests were given.
      long probeTimeout = Math.max(plan.timeoutNanos(), (p.count() - 1L) * p.intervalNanos() + 5_000_000_000L);
      List<Trace.Response> responses = concurrent(req, true, plan.concurrency(), p.intervalNanos() / plan.concurrency(),
          probeTimeout);
      // A probe that did not end was not measured whole: the path ends long streams, whatever the rest shows.
      Trace.Response cut = responses.stream().filter(r -> r.error() != null).findFirst().orElse(null);
      if (cut != null) {
        throw new ProbeFailed("the known-pacing probe from tokenpipe " + route.server() + ": " + failure(cut, probeTimeout));
      }
      Trace.Response idle = null;
      if (plan.idleNanos() > 0) {
        ClientRequest quiet = probeRequest(target, plan, safe, plan.idleNanos(), 2, 32);
        idle = exchange(quiet, true, 0, plan.idleNanos() + plan.timeoutNanos());
      }
      probe = new Trace(target.toString(), req.target().toString(), p, responses, idle, plan.idleNanos());
    } else if (plan.idleNanos() > 0) {
      throw new ProbeFailed("--idle-test needs tokenpipe's probe route (GET /tokenpipe/probe) on the target's origin,"
          + " to hold a stream quiet; " + target.hostHeader() + (note == null ? " does not serve it" : ": " + note));
    }
    return new Measurement(plan, real, probe, route, note, Lateness.NONE);
  }

  /**
   * A real request that shows the model path cannot stream: no response, an HTTP error, a body that is not a
   * stream, an error event (serve reports upstream failures in-band once its head went out), nothing to time, or
   * a stream that never reached its end event (cut, stalled past {@code --timeout}, a failed connection). The
   * tokens that did arrive could be timed, but the answer did not stream: a user's SDK raises on such a stream.
   */
  static boolean failedOnTheModelPath(Trace.Response r) {
    return !Analyzer.usable(r) || r.error() != null;
  }

  /** The response carries a header that tells proxies not to buffer or transform it. */
  static boolean antiBuffering(Trace.Response r) {
    return r.header("x-accel-buffering").trim().equalsIgnoreCase("no")
        || r.header("cache-control").toLowerCase(java.util.Locale.ROOT).contains("no-transform");
  }

  private static long heartbeat(String value) {
    if (value == null || value.isBlank()) {
      return -1;
    }
    if (value.strip().equalsIgnoreCase("off")) {
      return 0;
    }
    try {
      return dev.tokenpipe.cli.Durations.parse(value.strip()).toNanos();
    } catch (IllegalArgumentException e) {
      return -1;
    }
  }

  /** One line for a stream that could not be measured; {@code timeoutNanos} is the stream's deadline. */
  static String failure(Trace.Response r, long timeoutNanos) {
    if (r.error() == null) {
      return "the response carried no content events to time (HTTP " + r.status() + ", " + r.events().size() + " events)";
    }
    if (r.error().equals(ErrorClass.NOT_STREAM.key())) {
      return "not a stream: " + r.errorMessage();
    }
    if (r.error().equals(ErrorClass.STREAM_ERROR.key())) {
      return "HTTP " + r.status() + " but the stream carried an " + r.errorMessage();
    }
    if (r.error().equals(ErrorClass.TRUNCATED.key())) {
      return "HTTP " + r.status() + " but the " + r.errorMessage() + ": the response ended before the answer did"
          + " (a proxy's read timeout, or the server)";
    }
    if (r.error().equals(ErrorClass.TIMEOUT.key()) && r.status() > 0) {
      return "HTTP " + r.status() + " but the stream did not end within --timeout " + Analyzer.ms(timeoutNanos) + " ("
          + r.contentEvents().size() + " events with content by then): a stalled stream, or an answer longer than that";
    }
    if (r.error().equals(ErrorClass.TIMEOUT.key())) {
      return "no response within --timeout " + Analyzer.ms(timeoutNanos) + ": the server took the connection and sent"
          + " nothing (" + r.events().size() + " events received)";
    }
    if (r.error().equals(ErrorClass.IO.key()) && r.status() > 0) {
      return "HTTP " + r.status() + " but the " + r.errorMessage();
    }
    return r.errorMessage();
  }

  private static ClientRequest probeRequest(HttpTarget target, Plan plan, boolean safe, long intervalNanos, int count, int size) {
    String query = "?interval=" + Math.max(1, intervalNanos / 1_000_000) + "ms&count=" + count + "&size=" + size
        + "&headers=" + (safe ? "safe" : "plain");
    return new ClientRequest(target.withPath(ProbeRequest.PATH + query), "GET", plan.headers(), new byte[0], true);
  }

  private List<Trace.Response> concurrent(ClientRequest req, boolean probe, int n, long staggerNanos, long timeoutNanos)
      throws InterruptedException {
    List<CompletableFuture<Trace.Response>> futures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      futures.add(start(req, probe, i * staggerNanos, timeoutNanos));
    }
    List<Trace.Response> out = new ArrayList<>();
    for (CompletableFuture<Trace.Response> f : futures) {
      out.add(await(f, timeoutNanos + n * staggerNanos + 5_000_000_000L));
    }
    return out;
  }

  private Trace.Response exchange(ClientRequest req, boolean probe, long delayNanos, long timeoutNanos)
      throws InterruptedException {
    return await(start(req, probe, delayNanos, timeoutNanos), timeoutNanos + delayNanos + 5_000_000_000L);
  }

  /**
   * Connects, then sends after {@code delayNanos} (so staggering does not include connect time). The
   * {@link BodyTap} goes in before the request is written, so it sees the whole response.
   */
  private CompletableFuture<Trace.Response> start(ClientRequest req, boolean probe, long delayNanos, long timeoutNanos) {
    ResponseRecorder recorder = new ResponseRecorder(probe);
    long t0 = System.nanoTime();
    client.connect(req.target(), null).addListener((Future<Connection> f) -> {
      if (!f.isSuccess()) {
        recorder.onEnd(new ExchangeOutcome(ErrorClass.CONNECT, 0, f.cause().getMessage(), false, System.nanoTime(), false));
        return;
      }
      Connection c = f.getNow();
      c.channel().pipeline().addBefore("exchange", "doctor-tap", new BodyTap(recorder));
      long wait = Math.max(0, delayNanos - (System.nanoTime() - t0));
      c.eventLoop().schedule(() -> c.send(req, new ClosingListener(recorder, c), timeoutNanos), wait, TimeUnit.NANOSECONDS);
    });
    return recorder.result();
  }

  private static Trace.Response await(CompletableFuture<Trace.Response> f, long nanos) throws InterruptedException {
    try {
      return f.get(nanos, TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw new ProbeFailed("probe failed: " + e.getCause());
    } catch (TimeoutException e) {
      throw new ProbeFailed("no answer within " + Analyzer.ms(nanos));
    }
  }

  /** Forwards to the recorder and closes the connection at the end: doctor never reuses one. */
  private record ClosingListener(ResponseRecorder recorder, Connection connection) implements dev.tokenpipe.client.ExchangeListener {
    @Override public void onWritten(long nanos, long wallMicros) { recorder.onWritten(nanos, wallMicros); }
    @Override public void onHead(int status, io.netty.handler.codec.http.HttpHeaders headers, long nanos) {
      recorder.onHead(status, headers, nanos);
    }
    @Override public void onRead(long nanos, long wallMicros, int bytes) { recorder.onRead(nanos, wallMicros, bytes); }
    @Override public void onEvent(dev.tokenpipe.client.StreamEvent event) { recorder.onEvent(event); }
    @Override public void onComment(String text, long nanos) { recorder.onComment(text, nanos); }
    @Override public void onEnd(ExchangeOutcome outcome) {
      connection.close();
      recorder.onEnd(outcome);
    }
  }
}
