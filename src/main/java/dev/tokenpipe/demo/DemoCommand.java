package dev.tokenpipe.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.bench.BenchCommand;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.cli.FileProblem;
import dev.tokenpipe.doctor.DoctorCommand;
import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.report.HtmlReport;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tokenpipe demo}: the before/after story in one command, on loopback only. Two paths to the same simulated
 * model take the same bench load:
 *
 * <pre>
 *   before:  bench → browser hop → NGINX "before" block (gzip on text/event-stream, proxy_buffering on) → sim (group commit)
 *   after:   bench → browser hop → NGINX "after" block (streaming-safe) → tokenpipe serve → sim (flush per event)
 * </pre>
 *
 * The browser hop ({@link HttpRelay.Role#BROWSER}) asks for gzip and inflates as bytes arrive, as a browser does;
 * without it bench (which asks for {@code identity}) would never trigger the compressor. Without NGINX, an
 * in-process emulation ({@link HttpRelay.Role#EMULATED_COMPRESSING_PROXY}) takes its place and says so. Then
 * doctor probes both NGINX blocks, the table and an HTML page with both runs are written, and everything the demo
 * started is stopped, also on failure and Ctrl-C.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "The whole story on one machine in under two minutes: a classic buffered path (NGINX gzip + proxy buffering in",
      "front of an app that group-commits its writes) against the fixed path (tokenpipe serve behind a streaming-safe",
      "NGINX, every token flushed), the same bench load on both, a before/after table, doctor's verdict on each path",
      "and one HTML report with both runs. Loopback (127.0.0.1) only. Uses the real NGINX when it is installed",
      "(nginx on PATH or /usr/sbin/nginx), else an in-process emulation that is labelled as such.",
      "",
      "Exit codes: 0 done; 1 a step failed (the message says which); 64 bad usage; 130 interrupted.",
      ""
    })
public final class DemoCommand implements Callable<Integer> {
  /** The model's own first-token spread is small (p99/p50 1.1x): what is left of the tail after is the plumbing's. */
  static final String DEFAULT_TTFT = "600ms/660ms";
  static final String DEFAULT_ITL = "20ms/24ms";
  /**
   * Unmeasured warm-up of each phase, by time so that every one of the -c connections through every hop has
   * carried requests before measuring: a warm-up of 20 requests at -c 50 left 30 cold paths whose first requests
   * measured 1.6-2.1 s TTFT after (connection set-up and first use of the gateway and NGINX upstreams).
   */
  static final String WARMUP = "3s";

  /** One answer in this many is long; the rest are short (a chat workload's usual mix). */
  static final int LONG_EVERY = 20;
  static final String PATH = "/v1/chat/completions";
  static final int DOCTOR_PROBE_COUNT = 40;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = {"-n", "--requests"}, defaultValue = "1000", paramLabel = "N",
      description = "Measured requests on each path. Default: ${DEFAULT-VALUE}.")
  int requests;

  @Option(names = {"-c", "--concurrency"}, defaultValue = "50", paramLabel = "N",
      description = "Streams in flight on each path. Default: ${DEFAULT-VALUE}.")
  int concurrency;

  @Option(names = "--html", defaultValue = "tokenpipe-demo.html", paramLabel = "FILE",
      description = "The HTML report with both runs. Default: ${DEFAULT-VALUE}.")
  Path html;

  @Option(names = "--emulate", description = "Use the in-process proxy emulation even when NGINX is installed.")
  boolean emulate;

  @Option(names = "--nginx", paramLabel = "FILE",
      description = "The NGINX binary (default: nginx on PATH, else /usr/sbin/nginx).")
  Path nginxBinary;

  @Option(names = "--ttft", defaultValue = DEFAULT_TTFT, paramLabel = "P50[/P99]",
      description = "Advanced: the model's time to first token. Default: ${DEFAULT-VALUE}.")
  String ttft;

  @Option(names = "--itl", defaultValue = DEFAULT_ITL, paramLabel = "P50[/P99]",
      description = "Advanced: the model's time per token. Default: ${DEFAULT-VALUE}.")
  String itl;

  @Option(names = "--quick", description = "A shortened run: 200 requests at 20 streams on each path (about a minute).")
  boolean quick;

  @Option(names = "--tokens", defaultValue = "500", paramLabel = "N",
      description = "Advanced: output tokens of the long answers (one request in 20). Default: ${DEFAULT-VALUE}.")
  int tokens;

  @Option(names = "--short-tokens", defaultValue = "4", paramLabel = "N",
      description = "Advanced: output tokens of the short answers (the other 19 in 20). Default: ${DEFAULT-VALUE}.")
  int shortTokens;

  @Option(names = "--group-commit", defaultValue = "50ms", paramLabel = "DURATION",
      description = "Advanced: the before app's write-batching period. Default: ${DEFAULT-VALUE}.")
  String groupCommit;

  @Option(names = {"-v", "--verbose"}, description = "Also print bench's summaries and doctor's full reports.")
  boolean verbose;

  /** What the last run started, for tests: NGINX's pid (-1 when emulated), every port it listened on, its temp dir. */
  volatile Started started;
  /** The last run's table ({@link DemoTable#json}), for tests. */
  volatile JsonNode table;

  record Started(long nginxPid, List<Integer> ports, boolean emulated, Path tempDir) {}

  @Override
  public Integer call() throws Exception {
    if (quick) {
      CommandLine.ParseResult pr = spec.commandLine().getParseResult();
      if (pr == null || !pr.hasMatchedOption("-n")) {
        requests = 200;
      }
      if (pr == null || !pr.hasMatchedOption("-c")) {
        concurrency = 20;
      }
    }
    if (tokens < 1) {
      throw usage("--tokens must be at least 1");
    }
    if (shortTokens < 1 || shortTokens > tokens) {
      throw usage("--short-tokens must be between 1 and --tokens");
    }
    StreamProfile before = profile(true);
    StreamProfile after = profile(false);
    if (requests < 1) {
      throw usage("-n must be at least 1");
    }
    if (concurrency < 1 || concurrency > 1000) {
      throw usage("-c must be between 1 and 1000");
    }
    String unwritable = FileProblem.unwritable(html, true);
    if (unwritable != null) {
      throw usage("cannot write " + html + ": " + unwritable); // before the minutes of the run, not after them
    }
    PrintWriter out = spec.commandLine().getOut();
    long t0 = System.nanoTime();
    Path tmp = Files.createTempDirectory("tokenpipe-demo-");
    Cleanup cleanup = new Cleanup(tmp);
    Thread hook = new Thread(cleanup::close, "tokenpipe-demo-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      return run(before, after, tmp, cleanup, out, t0);
    } finally {
      cleanup.close();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the hook is running and does the same cleanup
      }
    }
  }

  private int run(StreamProfile beforeProfile, StreamProfile afterProfile, Path tmp, Cleanup cleanup, PrintWriter out,
      long t0) throws Exception {
    if (!verbose) {
      cleanup.add(QuietLog.warnOnly("tokenpipe.access"));
    }
    SimServer simBefore = cleanup.add(SimServer.start(SimConfig.defaults().withProfile(beforeProfile), "127.0.0.1", 0));
    SimServer simAfter = cleanup.add(SimServer.start(SimConfig.defaults().withProfile(afterProfile), "127.0.0.1", 0));
    GatewayServer gateway = cleanup.add(GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + simAfter.port()))));

    // The proxy in front of both apps: the real NGINX when it is there and starts, else the emulation.
    String note = null;
    NginxProcess nginx = null;
    Optional<Path> binary = emulate ? Optional.empty() : nginxBinary != null ? Optional.of(nginxBinary) : NginxProcess.find();
    if (emulate) {
      note = "--emulate given";
    } else if (binary.isEmpty()) {
      note = "NGINX is not installed (no nginx on PATH or at /usr/sbin/nginx; Debian package 'nginx')";
    } else {
      Path dir = Files.createDirectory(tmp.resolve("nginx"));
      try {
        nginx = cleanup.add(NginxProcess.start(binary.get(), dir, simBefore.port(), gateway.port()));
      } catch (NginxProcess.StartFailed | IOException e) {
        note = "NGINX failed to start (" + e.getMessage() + ")";
      }
    }
    int proxyBefore;
    int proxyAfter;
    String proxyName;
    String beforeProxy;
    String afterProxy;
    List<Integer> ports = new ArrayList<>(List.of(simBefore.port(), simAfter.port(), gateway.port()));
    if (nginx != null) {
      proxyBefore = nginx.beforePort();
      proxyAfter = nginx.afterPort();
      proxyName = NginxProcess.version(binary.get());
      beforeProxy = proxyName + " (gzip on text/event-stream, proxy_buffering on)";
      afterProxy = proxyName + " (streaming-safe server block)";
    } else {
      proxyBefore = cleanup.add(HttpRelay.start(HttpRelay.Role.EMULATED_COMPRESSING_PROXY, simBefore.port())).port();
      proxyAfter = cleanup.add(HttpRelay.start(HttpRelay.Role.EMULATED_STREAMING_PROXY, gateway.port())).port();
      proxyName = "EMULATED NGINX";
      beforeProxy = proxyName + " (holds each event stream to its end, then gzips it)";
      afterProxy = proxyName + " (passes every read on)";
    }
    int browserBefore = cleanup.add(HttpRelay.start(HttpRelay.Role.BROWSER, proxyBefore)).port();
    int browserAfter = cleanup.add(HttpRelay.start(HttpRelay.Role.BROWSER, proxyAfter)).port();
    ports.addAll(List.of(proxyBefore, proxyAfter, browserBefore, browserAfter));
    started = new Started(nginx == null ? -1 : nginx.pid(), List.copyOf(ports), nginx == null, tmp);
    String beforePath = "browser -> " + beforeProxy + " -> app with " + groupCommit + " group commit";
    String afterPath = "browser -> " + afterProxy + " -> tokenpipe serve -> app flushing every token";

    out.printf(Locale.ROOT, "tokenpipe demo: the same load on a buffered path and on the fixed path, on 127.0.0.1%n");
    out.printf(Locale.ROOT, "  model    tokenpipe sim: TTFT %s (p50/p99, its own spread %s), %s per token; answers of %d tokens,"
        + " 1 in %d of %d%n", ttft, spread(ttft), itl, shortTokens, LONG_EVERY, tokens);
    out.printf(Locale.ROOT, "  before   %s%n", beforePath);
    out.printf(Locale.ROOT, "  after    %s%n", afterPath);
    out.printf(Locale.ROOT, "  load     %d requests, %d streams in flight, on each path; browser = asks for gzip and inflates"
        + " each read as it arrives%n", requests, concurrency);
    if (nginx == null) {
      out.printf(Locale.ROOT, "  NOTE     %s: using an in-process EMULATION of NGINX (holds event streams to the end and"
          + " gzips them, like gzip_types text/event-stream)%s%n", note,
          binary.isEmpty() && !emulate ? ". Install nginx for the real thing." : ".");
    }
    out.println();
    out.flush();

    // Doctor first: it is short and warms up the client, servers and proxies before bench measures them.
    DoctorResult doctorBefore = doctor("before", proxyBefore, tmp, out, cleanup);
    DoctorResult doctorAfter = doctor("after", proxyAfter, tmp, out, cleanup);
    Path prompts = prompts(tmp);
    JsonNode benchBefore = bench("before", browserBefore, prompts, tmp, out, cleanup);
    JsonNode benchAfter = bench("after", browserAfter, prompts, tmp, out, cleanup);

    ObjectNode table = DemoTable.json(benchBefore, benchAfter);
    this.table = table;
    out.println();
    out.print(DemoTable.render(table));
    JsonNode tb = table.path("before");
    JsonNode ta = table.path("after");
    story(tb, ta, shortTokens, tokens, groupCommit).forEach(out::println);
    long afterErrors = benchAfter.path("totals").path("errors").asLong();
    long beforeErrors = benchBefore.path("totals").path("errors").asLong();
    out.println(afterLine(ta, ttft, afterErrors));
    errorWarnings(beforeErrors, afterErrors, requests).forEach(out::println);
    if (tb.path("itl_p99").asDouble() >= 0 && tb.path("itl_p99").asDouble() < ta.path("itl_p99").asDouble()) {
      out.println("  ITL looks better before: a held answer arrives in one read, so its tokens have no gaps between them.");
    }
    out.println("  held = the model's emission of a token -> the client's read of it.");
    out.println();
    out.println("doctor");
    out.print(doctorBefore.summary(true, nginx == null));
    out.print(doctorAfter.summary(false, nginx == null));
    out.flush();

    ObjectNode page = Json.MAPPER.createObjectNode();
    page.put("generated_at", Instant.now().toString());
    ObjectNode setup = page.putObject("setup");
    setup.put("requests", requests).put("concurrency", concurrency).put("ttft", ttft).put("itl", itl)
        .put("tokens", tokens).put("short_tokens", shortTokens).put("long_every", LONG_EVERY).put("ttft_spread_of_model", spread(ttft))
        .put("group_commit", groupCommit).put("proxy", proxyName).put("emulated", nginx == null)
        .put("before_path", beforePath).put("after_path", afterPath)
        .put("note", note);
    page.set("table", table);
    page.putObject("doctor").<ObjectNode>set("before", doctorBefore.json).set("after", doctorAfter.json);
    page.putObject("runs").<ObjectNode>set("before", benchBefore).set("after", benchAfter);
    try {
      if (html.toAbsolutePath().getParent() != null) {
        Files.createDirectories(html.toAbsolutePath().getParent());
      }
      Files.writeString(html, HtmlReport.renderPage("dev/tokenpipe/demo/demo.html", "before / after", page),
          StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new CommandFailedException("cannot write " + html + ": " + e.getMessage());
    }
    out.println();
    out.printf(Locale.ROOT, "report   %s (both runs)%n", html);
    out.printf(Locale.ROOT, "done in %.0f s; stopping everything the demo started%n", (System.nanoTime() - t0) / 1e9);
    out.flush();
    return 0;
  }

  /** "1.2x" for "400ms/480ms": the model's own TTFT spread, p99/p50. */
  /**
   * What the before path's numbers say, told only as far as they say it. The usual story (a median that looks
   * fine, a tail many times it) holds when the held answers differ in length: a proxy that holds each answer to its
   * end delays a short one a little and the long one in {@link #LONG_EVERY} a lot. With answers of one length the
   * median itself is late (by {@link #HELD_MS} ms and {@link #HELD_SHARE} of after's at least); a run whose first
   * tokens were not held but whose tokens were (held p99) says that; a run that shows none of it says so, and the
   * demo must never print the usual story anyway.
   *
   * @param tb the before row of {@link DemoTable#json} ({@code ttft_p50}, {@code ttft_p99}, {@code delivery_p99} in
   *     ms, {@code ttft_spread})
   * @param ta the after row
   */
  static List<String> story(JsonNode tb, JsonNode ta, int shortTokens, int tokens, String groupCommit) {
    double beforeP50 = tb.path("ttft_p50").asDouble(-1);
    double afterP50 = ta.path("ttft_p50").asDouble(-1);
    double beforeSpread = tb.path("ttft_spread").asDouble(-1);
    double afterSpread = ta.path("ttft_spread").asDouble(-1);
    if (beforeP50 <= 0 || afterP50 <= 0 || beforeSpread < 0 || afterSpread < 0) {
      return List.of("  before/after: no TTFT to compare (see the errors above).");
    }
    double beforeHeld = tb.path("delivery_p99").asDouble(-1);
    double afterHeld = ta.path("delivery_p99").asDouble(-1);
    boolean tailShows = beforeSpread >= TAIL_SHOWS * Math.max(afterSpread, 1);
    // Held by a margin no run-to-run noise makes: a 600 ms model's median moved 240 ms (1.39x) in a fresh user's run.
    boolean medianHeld = beforeP50 - afterP50 >= Math.max(HELD_MS, HELD_SHARE * afterP50);
    boolean tokensHeld = beforeHeld >= 0 && afterHeld >= 0 && beforeHeld - afterHeld >= HELD_MS
        && beforeHeld >= TAIL_SHOWS * afterHeld;
    String gc = "the app's " + groupCommit + " group commit adds its wait to every write.";
    if (tailShows) {
      return List.of(
          String.format(Locale.ROOT, "  before: %s, the tail is %.0fx the median. The proxy's gzip holds an answer until it",
              beforeP50 < MEDIAN_LOOKS_FINE * afterP50 ? "the median looks fine"
                  : String.format(Locale.ROOT, "the median is late too (%.0f ms against %.0f ms after)", beforeP50, afterP50),
              beforeSpread),
          tokens > shortTokens
              ? String.format(Locale.ROOT, "  ends (or fills its buffer): a short one for %d tokens, the long one in %d for all %d;"
                  + " %s", shortTokens, LONG_EVERY, tokens, gc)
              : "  ends (or fills its buffer); " + gc,
          "  The first token waits for tokens that came after it.");
    }
    if (medianHeld) {
      return List.of(
          String.format(Locale.ROOT, "  before: the median itself is held: TTFT p50 %.0f ms against %.0f ms after (p99/p50 %.2fx"
              + " before, %.2fx after).", beforeP50, afterP50, beforeSpread, afterSpread),
          tokens > shortTokens
              ? "  The proxy's gzip holds every answer until it ends, and " + gc
              : String.format(Locale.ROOT, "  Every answer here is %d tokens, so the proxy's gzip holds each about as long: the"
                  + " tail is no worse than the median, both are late; %s", tokens, gc));
    }
    if (tokensHeld) {
      return List.of(String.format(Locale.ROOT, "  before: tokens were held (held p99 %.0f ms against %.0f ms after), but"
          + " the first tokens hardly: TTFT p50 %.0f ms against %.0f ms. See doctor's verdicts below.", beforeHeld, afterHeld,
          beforeP50, afterP50));
    }
    return List.of(String.format(Locale.ROOT, "  before: this run does not show the buffering (TTFT p50 %.0f ms against %.0f ms"
        + " after, p99/p50 %.2fx against %.2fx): see doctor's verdicts below.", beforeP50, afterP50, beforeSpread, afterSpread));
  }

  /**
   * The after path's line, told only as far as its numbers say it: its p99/p50 is the model's own first-token spread
   * only when it is within {@link #AFTER_WITHIN} of it. Before, the line said "the model's own first-token spread
   * (1.10x): every token is passed on as it comes" whatever the table showed, "p99/p50 -1.00x" for a path whose
   * requests all failed.
   *
   * @param ta the after row of {@link DemoTable#json}
   * @param ttft the model's TTFT distribution ({@code 600ms/660ms})
   */
  static String afterLine(JsonNode ta, String ttft, long afterErrors) {
    double spread = ta.path("ttft_spread").asDouble(-1);
    if (spread < 0) {
      return "  after:  no TTFT to compare (see the errors above).";
    }
    int slash = ttft.indexOf('/');
    double model = slash < 0 ? 1 : Durations.parse(ttft.substring(slash + 1)).toNanos()
        / (double) Durations.parse(ttft.substring(0, slash)).toNanos();
    if (spread > AFTER_WITHIN * model) {
      return String.format(Locale.ROOT, "  after:  p99/p50 %.2fx, wider than the model's own first-token spread (%s): something"
          + " besides the model delayed some first tokens in this run (a busy machine, or the path); see doctor's verdict"
          + " below.", spread, spread(ttft));
    }
    return String.format(Locale.ROOT, "  after:  p99/p50 %.2fx, the model's own first-token spread (%s)%s", spread, spread(ttft),
        afterErrors == 0 ? ": every token is passed on as it comes." : ".");
  }

  /** The after path's p99/p50 within this factor of the model's own spread: nothing but the model is in it. */
  static final double AFTER_WITHIN = 1.5;

  /** The before path's p99/p50 at least this many times the after path's: the buffering shows in the tail. */
  static final double TAIL_SHOWS = 2.0;
  /** Below this many times the after path's TTFT p50, the before path's median "looks fine". */
  static final double MEDIAN_LOOKS_FINE = 1.5;
  /** A path held when it is later by at least this (ms) and {@link #HELD_SHARE} of the other's value. */
  static final double HELD_MS = 50;
  static final double HELD_SHARE = 0.1;

  /**
   * One line per path whose bench run had failed requests: a table of the requests that succeeded must
   * not read as the whole story (a busy machine once failed 22 of 200 on the after path, silently).
   */
  static java.util.List<String> errorWarnings(long beforeErrors, long afterErrors, long requests) {
    java.util.List<String> lines = new java.util.ArrayList<>();
    for (String path : new String[] {"before", "after"}) {
      long errors = path.equals("before") ? beforeErrors : afterErrors;
      if (errors > 0) {
        lines.add(String.format(Locale.ROOT, "  WARNING: %d of %d requests on the %s path failed (error classes in the"
            + " report); the figures above cover only the ones that succeeded.", errors, requests, path));
      }
    }
    return lines;
  }

  static String spread(String distribution) {
    int slash = distribution.indexOf('/');
    if (slash < 0) {
      return "none, fixed";
    }
    double p50 = Durations.parse(distribution.substring(0, slash)).toNanos();
    double p99 = Durations.parse(distribution.substring(slash + 1)).toNanos();
    return String.format(Locale.ROOT, "%.2fx", p99 / p50);
  }

  /** The workload: one prompt per line, each with its answer length; 1 in {@link #LONG_EVERY} is long. */
  private Path prompts(Path tmp) throws IOException {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < LONG_EVERY; i++) {
      int n = i == LONG_EVERY / 2 ? tokens : shortTokens;
      b.append("{\"prompt\": \"question ").append(i).append("\", \"max_tokens\": ").append(n).append("}\n");
    }
    return Files.writeString(tmp.resolve("prompts.jsonl"), b);
  }

  /** Runs {@code tokenpipe bench} in-process on one path and returns its JSON result; its progress goes to stderr. */
  private JsonNode bench(String label, int port, Path prompts, Path tmp, PrintWriter out, Cleanup cleanup) throws IOException {
    out.printf(Locale.ROOT, "bench    %-6s %d requests ...%n", label, requests);
    out.flush();
    Path json = tmp.resolve("bench-" + label + ".json");
    StringWriter text = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Cli.newCommandLine(new BenchCommand());
    cl.setOut(new PrintWriter(text, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute("http://127.0.0.1:" + port + PATH, "-n", String.valueOf(requests),
        "-c", String.valueOf(concurrency), "--warmup", WARMUP,
        "--prompts-file", prompts.toString(), "--progress", "auto", "--progress-label", "bench " + label + ": ",
        "--json", json.toString());
    if (code == BenchCommand.EXIT_INTERRUPTED || cleanup.closed()) {
      throw new CommandFailedException("interrupted: stopped everything the demo started", BenchCommand.EXIT_INTERRUPTED);
    }
    if (!Files.exists(json) || (code != 0 && code != BenchCommand.EXIT_SOME_FAILED)) {
      throw new CommandFailedException("bench on the " + label + " path failed (exit " + code + "): "
          + firstLine(err.toString()));
    }
    JsonNode result = Json.MAPPER.readTree(json.toFile());
    JsonNode t = result.path("totals");
    out.printf(Locale.ROOT, "         %-6s %d ok, %d errors in %.1f s%n", label, t.path("ok").asLong(), t.path("errors").asLong(),
        t.path("duration_s").asDouble());
    if (verbose) {
      out.println(text.toString().indent(4));
    }
    out.flush();
    return result;
  }

  /** Doctor's verdict on one path, with its JSON report. */
  record DoctorResult(String label, int exitCode, JsonNode json, String text) {
    /**
     * @param emulated the proxies are the in-process stand-ins: a finding doctor lays at NGINX's door (gzip holding an
     *     event stream) is then the emulation's doing, and says so
     */
    String summary(boolean withFix, boolean emulated) {
      String verdict = switch (json.path("verdict").asText("failed")) {
        case "buffered" -> "buffering found";
        case "clean" -> "clean";
        default -> "probe failed";
      };
      StringBuilder b = new StringBuilder();
      b.append(String.format(Locale.ROOT, "  %-7s %s - %s%n", label, verdict, json.path("reason").asText()));
      JsonNode top = json.path("findings").path(0);
      if (withFix && !top.isMissingNode() && top.path("holds_tokens").asBoolean()) {
        String layer = top.path("layer_name").asText();
        if (emulated && layer.contains("NGINX")) {
          layer += ", emulated here";
        }
        b.append(String.format(Locale.ROOT, "          top finding: %s (%s) - %s%n", top.path("title").asText(),
            layer, top.path("summary").asText()));
        JsonNode fix = top.path("fixes").path(0);
        if (!fix.isMissingNode()) {
          b.append("          fix: ").append(fix.path("advice").asText()).append('\n');
          for (String line : fix.path("snippet").asText().split("\n")) {
            if (!line.isBlank()) {
              b.append("              ").append(line).append('\n');
            }
          }
        }
      }
      return b.toString();
    }
  }

  /** Runs {@code tokenpipe doctor} in-process on one proxy (not through the browser hop: doctor decodes gzip itself). */
  private DoctorResult doctor(String label, int port, Path tmp, PrintWriter out, Cleanup cleanup) throws IOException {
    out.printf(Locale.ROOT, "doctor   %-6s ... ", label);
    out.flush();
    Path json = tmp.resolve("doctor-" + label + ".json");
    StringWriter text = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Cli.newCommandLine(new DoctorCommand());
    cl.setOut(new PrintWriter(text, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute("--json", json.toString(), "--probe-count", String.valueOf(DOCTOR_PROBE_COUNT),
        "http://127.0.0.1:" + port + PATH);
    if (cleanup.closed()) {
      throw new CommandFailedException("interrupted", BenchCommand.EXIT_INTERRUPTED);
    }
    if (!Files.exists(json)) {
      throw new CommandFailedException("doctor on the " + label + " path failed (exit " + code + "): "
          + firstLine(err.toString()));
    }
    JsonNode result = Json.MAPPER.readTree(json.toFile());
    out.println(result.path("verdict").asText());
    if (verbose) {
      out.println(text.toString().indent(4));
    }
    out.flush();
    return new DoctorResult(label, code, result, text.toString());
  }

  private StreamProfile profile(boolean withGroupCommit) {
    try {
      Durations.parse(groupCommit);
      if (tokens < 1 || tokens > 4096) {
        throw new IllegalArgumentException("--tokens must be between 1 and 4096");
      }
      String spec = "ttft=" + ttft + " itl=" + itl + " tokens=" + tokens
          + (withGroupCommit ? " group_commit=" + groupCommit : "");
      StreamProfile p = SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides(spec));
      if (withGroupCommit && !p.groupCommit()) {
        throw new IllegalArgumentException("--group-commit must be more than 0");
      }
      return p;
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
  }

  private CommandLine.ParameterException usage(String message) {
    return new CommandLine.ParameterException(spec.commandLine(), message);
  }

  private static String firstLine(String s) {
    return s.lines().filter(l -> !l.isBlank()).findFirst().orElse("no message");
  }
}
