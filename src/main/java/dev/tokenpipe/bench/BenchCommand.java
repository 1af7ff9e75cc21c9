package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.cli.FileProblem;
import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.client.RequestHeaders;
import dev.tokenpipe.client.HttpTarget;
import dev.tokenpipe.client.ModelDiscovery;
import dev.tokenpipe.net.Loops;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.report.HtmlReport;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tokenpipe bench}: the LLM-aware load generator. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    subcommands = {BenchCommand.Merge.class, BenchCommand.Compare.class},
    description = {
      "Load generator for streaming LLM endpoints: TTFT, ITL, TPOT, E2E to p99.9, closed-loop concurrency or",
      "open-loop arrival rates (latency from the intended start), live progress, JSON/HTML/HdrHistogram output.",
      "URL is the full endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions or .../v1/messages; its path picks the",
      "API (--api to override). The API key is read from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY for",
      "Anthropic Messages, or --api-key-env NAME), never from a flag.",
      "",
      "Exit codes: 0 all requests ok; 2 some requests failed; 3 no request succeeded; 1 could not run or write",
      "results; 64 bad usage; 130 interrupted (partial results are still printed and written).",
      ""
    })
public final class BenchCommand implements Callable<Integer> {
  public static final int EXIT_SOME_FAILED = 2;
  public static final int EXIT_ALL_FAILED = 3;
  public static final int EXIT_INTERRUPTED = 130;
  static final String DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle.";

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Parameters(index = "0", arity = "0..1", paramLabel = "URL", description = "Endpoint URL.")
  String url;

  @Option(names = {"-n", "--requests"}, paramLabel = "N", description = "Measured requests (default: 200, or unlimited with -z).")
  Long requests;

  @Option(names = {"-c", "--concurrency"}, defaultValue = "50", paramLabel = "N",
      description = "Streams in flight (closed loop) or the cap on them (open loop). Default: ${DEFAULT-VALUE}.")
  int concurrency;

  @Option(names = {"-z", "--duration"}, converter = Durations.class, paramLabel = "DURATION",
      description = "Run for this long (after warm-up), e.g. 30s, 2m.")
  Duration duration;

  @Option(names = {"-m", "--method"}, defaultValue = "POST", description = "HTTP method. Default: ${DEFAULT-VALUE}.")
  String method;

  @Option(names = {"-H", "--header"}, paramLabel = "'Name: value'", description = "Extra request header (repeatable).")
  List<String> headers = new ArrayList<>();

  @Option(names = {"-d", "--data"}, paramLabel = "BODY", description = "Request body (replaces the generated one).")
  String data;

  @Option(names = {"-D", "--data-file"}, paramLabel = "FILE", description = "Request body from a file.")
  Path dataFile;

  @Option(names = {"-T", "--content-type"}, paramLabel = "TYPE", description = "Content-Type of the body (default: application/json).")
  String contentType;

  @Option(names = {"-t", "--timeout"}, defaultValue = "60s", converter = Durations.class, paramLabel = "DURATION",
      description = "Per-request deadline, send to stream end (0 = none). Default: ${DEFAULT-VALUE}.")
  Duration timeout;

  @Option(names = "--rate", paramLabel = "R", description = "Open loop: R request arrivals per second, latency measured from each intended start.")
  Double rate;

  @Option(names = "--arrival", defaultValue = "poisson", paramLabel = "poisson|gamma|constant",
      description = "Open-loop arrival process. Default: ${DEFAULT-VALUE}.")
  String arrival;

  @Option(names = "--burstiness", paramLabel = "B",
      description = "With --arrival gamma: gamma shape; gaps have CV 1/sqrt(B) (1 = Poisson, 0.25 = CV 2, burstier).")
  Double burstiness;

  @Option(names = "--slo", paramLabel = "METRIC:pNN<=DURATION,...",
      description = "Latency targets per request, e.g. ttft:p99<=500ms,itl:p99<=50ms (ttft, itl, tpot, e2e): reports goodput and attainment.")
  String slo;

  @Option(names = "--sweep", paramLabel = "rate:LIST|concurrency:LIST",
      description = "Run a step per load (e.g. rate:2,4,8 or concurrency:1..64, doubling), each with warm-up and -n/-z; stop when an --slo target breaks; report the highest load that met all.")
  String sweep;

  @Option(names = "--warmup", paramLabel = "N|DURATION", description = "Unmeasured warm-up: a request count (10) or a duration (5s).")
  String warmup;

  @Option(names = "--api", paramLabel = "API",
      description = "Request and auth shape: " + ClientApi.VALUES + " (auto: from the URL path, openai-chat when it"
          + " names no API; raw: -d body as given, any response, each event one token). Default: auto.")
  String api;

  @Option(names = "--model",
      description = "Model id (default: the first id of GET /v1/models on the target, else tokenpipe-sim).")
  String model;

  @Option(names = "--prompt", description = "Prompt text (default: a short-story request).")
  String prompt;

  @Option(names = "--prompts-file", paramLabel = "FILE",
      description = "Prompts, cycled: ShareGPT JSON (output length of each reply sent as max_tokens) or JSONL (a string, {\"prompt\":...} or {\"messages\":[...]} per line, optional \"max_tokens\").")
  Path promptsFile;

  @Option(names = "--max-tokens", defaultValue = "0", paramLabel = "N", description = "Output token bound to ask for, in the API's field (max_tokens, max_output_tokens, num_predict);"
          + " 0 = not sent (anthropic-messages requires one: 4096).")
  int maxTokens;

  @Option(names = "--api-key-env", paramLabel = "NAME",
      description = "Environment variable holding the API key, sent as the API sends it ('Authorization: Bearer';"
          + " anthropic-messages: 'x-api-key' with 'anthropic-version'). Default: ANTHROPIC_API_KEY for"
          + " anthropic-messages, else OPENAI_API_KEY.")
  String apiKeyEnv;

  @Option(names = "--tokenizer", defaultValue = "cl100k", paramLabel = "cl100k|none",
      description = "Count output tokens without usage with cl100k_base, or one per event. Default: ${DEFAULT-VALUE}.")
  String tokenizer;

  @Option(names = "--json", paramLabel = "FILE", description = "Write the result as JSON (schema tokenpipe.bench/v1); '-' prints it instead of the summary.")
  Path jsonFile;

  @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML report with charts.")
  Path htmlFile;

  @Option(names = "--hdr", paramLabel = "FILE", description = "Write an HdrHistogram interval log (mergeable with 'bench merge').")
  Path hdrFile;

  @Option(names = "--threads", defaultValue = "0", description = "Event loops (0 = one per core).")
  int threads;

  @Option(names = "--connect-batch", defaultValue = "256", paramLabel = "N",
      description = "Connects in flight while ramping up (keep below the target's somaxconn). Default: ${DEFAULT-VALUE}.")
  int connectBatch;

  @Option(names = "--connect-timeout", defaultValue = "10s", converter = Durations.Limit.class, paramLabel = "DURATION",
      description = "TCP connect timeout (at least 1ms). Default: ${DEFAULT-VALUE}.")
  Duration connectTimeout;

  @Option(names = "--progress", defaultValue = "auto", paramLabel = "auto|live|plain|none",
      description = "Progress on stderr: live line on a terminal, periodic lines otherwise. Default: ${DEFAULT-VALUE}.")
  String progress;

  private String modelHint;
  private Sweep sweepPlan;

  @Option(names = "--progress-label", hidden = true, paramLabel = "TEXT", description = "Text in front of each progress line (demo).")
  String progressLabel = "";

  /** {@code --json -}: the JSON on stdout instead of the summary, as doctor's {@code --json -}. */
  private boolean jsonToStdout() {
    return jsonFile != null && jsonFile.toString().equals("-");
  }

  /** An output file whose folder is missing or read-only is a usage error at once (exit 64). */
  private void checkWritable(Path file) {
    String problem = file == null ? null : FileProblem.unwritable(file, false);
    if (problem != null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "cannot write " + file + ": " + problem);
    }
  }

  @Override
  public Integer call() throws Exception {
    if (url == null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "missing URL (e.g. http://127.0.0.1:8000/v1/chat/completions)");
    }
    for (String[] f : new String[][] {{"--html", String.valueOf(htmlFile)}, {"--hdr", String.valueOf(hdrFile)}}) {
      if (f[1].equals("-")) { // not a file named "-" in the working directory
        throw new CommandLine.ParameterException(spec.commandLine(), f[0] + " -: this report goes to a file; name one"
            + " (only --json - prints to standard output)");
      }
    }
    for (Path p : new Path[] {jsonToStdout() ? null : jsonFile, htmlFile, hdrFile}) {
      checkWritable(p); // before the load runs, not after it
    }
    BenchConfig config = config();
    PrintWriter out = spec.commandLine().getOut();
    boolean live = switch (progress) {
      case "live" -> true;
      case "plain", "none" -> false;
      default -> isTerminal();
    };
    if (sweepPlan != null) {
      Sweep.SweepControl control = new Sweep.SweepControl();
      return BenchRun.runWithSignals(control::interrupt,
          () -> sweepPlan.run(config, System.err, live, progress.equals("none"), control),
          result -> finish(result, control.interrupted(), out));
    }
    BenchRun run = new BenchRun(config, System.err, live, progress.equals("none"), hdrFile == null ? null : hdrFile.toFile());
    run.progressPrefix(progressLabel);
    return BenchRun.runWithSignals(run, result -> finish(result, run.interrupted(), out));
  }

  private int finish(ObjectNode result, boolean interrupted, PrintWriter out) {
    PrintWriter err = spec.commandLine().getErr();
    long ok = result.path("totals").path("ok").asLong();
    long errors = result.path("totals").path("errors").asLong();
    String refused = result.path("refused").asText(null);
    String overloaded = result.path("overloaded").asText(null);
    // A stop that says why in its own line: the target could not be reached, or the arrivals outran it.
    String stopped = result.path("unreachable").asText(overloaded);
    boolean allFailed = errors > 0 && ok == 0 && !interrupted; // a stop for refusals counted them as errors
    // The one line that matters comes first, before any table.
    String failure = null; // a bare URL's 404 gets a second line, after a stop or in a run too short to stop
    if (refused != null) {
      err.println("bench: stopped: " + refused);
      failure = refused;
    } else if (stopped != null) {
      err.println("bench: stopped: " + stopped);
    } else if (allFailed) {
      failure = firstError(result);
      err.println("bench: no request succeeded (" + errors + " of " + errors + " failed): " + failure);
    }
    String hint = failure == null ? null : bareUrlHint(result, failure);
    if (hint != null) {
      err.println(hint);
    }
    // --model helps neither a target that cannot be reached nor a key it refuses (GET /v1/models got the same 401):
    // then the run's own line says why, alone.
    boolean onlyConnectErrors = result.path("errors").size() == 1 && result.path("errors").has("connect");
    boolean onlyKeyRefusals = result.path("errors").size() > 0 && result.path("errors").propertyStream()
        .allMatch(e -> e.getKey().equals("http_401") || e.getKey().equals("http_403"));
    if (modelHint != null && !(allFailed && (onlyConnectErrors || onlyKeyRefusals))) {
      err.println(modelHint);
    }
    err.flush();
    if (jsonToStdout()) {
      out.println(result.toPrettyString()); // instead of the summary
    } else if (result.has("sweep")) {
      Sweep.print(result, out);
    } else {
      Summary.print(result, out);
    }
    out.flush();
    List<String> written = new ArrayList<>();
    if (hdrFile != null && Files.exists(hdrFile)) {
      written.add(hdrFile.toString());
    }
    List<String> failures = new ArrayList<>();
    try {
      if (jsonFile != null && !jsonToStdout()) {
        HtmlReport.writeJson(jsonFile, result);
        written.add(jsonFile.toString());
      }
    } catch (IOException e) {
      failures.add("cannot write " + jsonFile + ": " + e.getMessage());
    }
    try {
      if (htmlFile != null) {
        HtmlReport.write(htmlFile, result);
        written.add(htmlFile.toString());
      }
    } catch (IOException e) {
      failures.add("cannot write " + htmlFile + ": " + e.getMessage());
    }
    if (!written.isEmpty() && !jsonToStdout()) {
      out.println();
      out.println("  wrote " + String.join(", ", written));
      out.flush();
    }
    if (!failures.isEmpty()) {
      throw new CommandFailedException(String.join("; ", failures), Cli.EXIT_FAILURE);
    }
    if (interrupted) {
      return EXIT_INTERRUPTED;
    }
    if (allFailed || refused != null) {
      return EXIT_ALL_FAILED; // stopped for refusals: even a request in flight that succeeded after the stop
    }
    // A run stopped with its queue of arrivals full did not run as asked, though every request it sent succeeded.
    return errors > 0 || overloaded != null ? EXIT_SOME_FAILED : 0;
  }

  /**
   * For a URL without a path that was refused as not found (the refusal stop, or every request of a shorter
   * run): where the API is, one line. A bare origin is sent
   * as given ({@code POST /}), since a server may well serve there; this only says what was probably meant.
   */
  private static String bareUrlHint(JsonNode result, String refused) {
    if (!refused.contains("HTTP 404")) {
      return null;
    }
    try {
      HttpTarget target = HttpTarget.parse(result.path("config").path("url").asText(""));
      ClientApi api = ClientApi.parse(result.path("config").path("api").asText(""), target.path());
      String hint = api.noPathHint(target, 404);
      return hint == null ? null : "bench: " + hint;
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private static String firstError(JsonNode result) {
    for (Map.Entry<String, JsonNode> e : result.path("error_samples").properties()) {
      return e.getValue().asText();
    }
    return "unknown error";
  }

  BenchConfig config() throws IOException {
    HttpTarget target;
    try {
      target = HttpTarget.parse(url);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    ClientApi kind;
    try {
      kind = ClientApi.parse(api, target.path());
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    if (concurrency < 1) {
      throw usage("-c must be at least 1");
    }
    if (requests != null && requests < 1) {
      throw usage("-n must be at least 1");
    }
    if (rate != null && Arrivals.rateProblem(rate) != null) {
      var typed = spec.commandLine().getParseResult().matchedOption("--rate");
      throw usage("--rate " + Arrivals.rateProblem(rate) + ", not "
          + (typed == null ? String.valueOf(rate) : typed.stringValues().getLast()));
    }
    Arrivals arrivals;
    try {
      arrivals = Arrivals.parse(arrival, burstiness);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    if (!tokenizer.equals("cl100k") && !tokenizer.equals("none")) {
      throw usage("--tokenizer must be cl100k or none");
    }
    if (!List.of("auto", "live", "plain", "none").contains(progress)) {
      throw usage("--progress must be auto, live, plain or none");
    }
    if (data != null && dataFile != null) {
      throw usage("use -d or -D, not both");
    }
    if (connectBatch < 1) {
      throw usage("--connect-batch must be at least 1");
    }
    if (maxTokens < 0) {
      throw usage("--max-tokens must be >= 0 (0 = not sent)");
    }
    try {
      Loops.checkThreads(threads);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    if (duration != null && duration.isZero()) {
      throw usage("-z must be more than 0 (without -z and -n, bench sends 200 requests)");
    }
    Slo targets;
    try {
      targets = Slo.parse(slo);
      sweepPlan = sweep == null ? null : Sweep.parse(sweep);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    // --arrival shapes open-loop arrivals only: in closed loop it would be ignored without a word.
    if (spec.commandLine().getParseResult().hasMatchedOption("--arrival") && rate == null
        && (sweepPlan == null || !sweepPlan.byRate())) {
      throw usage("--arrival needs --rate (or --sweep rate:...): without it the run is closed loop, with no arrivals to shape");
    }
    if (sweepPlan != null && sweepPlan.byRate() && rate != null) {
      throw usage("--sweep rate:... sets the rate of each step; drop --rate");
    }
    if (sweepPlan != null && hdrFile != null) {
      throw usage("--hdr records one run; use it without --sweep");
    }
    long durationNanos = duration == null ? 0 : duration.toNanos();
    long n = requests != null ? requests : durationNanos > 0 ? 0 : 200;
    long warmupRequests = 0;
    long warmupNanos = 0;
    if (warmup != null) {
      if (warmup.matches("\\d+")) {
        warmupRequests = Long.parseLong(warmup);
      } else {
        try {
          warmupNanos = Durations.parse(warmup).toNanos();
        } catch (IllegalArgumentException e) {
          throw usage("--warmup: " + e.getMessage());
        }
      }
    }
    List<Map.Entry<String, String>> hs = new ArrayList<>();
    try {
      RequestHeaders.addFlags(hs, headers);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
    if (contentType != null) {
      hs.add(Map.entry("Content-Type", contentType));
    }
    List<Map.Entry<String, String>> requestHeaders = kind.withApiKey(hs, apiKeyEnv);
    ModelDiscovery.Choice choice = ModelDiscovery.choose(model,
        data == null && dataFile == null && kind.namesModel(), target, requestHeaders);
    if (choice.failure() != null) {
      // Said after the run, and not at all when the target was unreachable: then the connection error
      // is the one line that matters.
      modelHint = "model: " + choice.model() + " (GET /v1/models failed: " + choice.failure() + "; pass --model)";
    }
    List<byte[]> bodies = bodies(kind, choice.model());
    int loops = Loops.count(threads);
    long timeoutNanos = timeout.toNanos();
    int connectMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
    BenchConfig c = new BenchConfig(url, target, method.toUpperCase(java.util.Locale.ROOT), kind, requestHeaders, bodies,
        choice.model(), choice.source().key(), maxTokens, n, concurrency, durationNanos, rate == null ? 0 : rate, arrivals,
        warmupRequests, warmupNanos, timeoutNanos, connectMillis, tokenizer.equals("cl100k"), loops, connectBatch, targets);
    return c;
  }

  private List<byte[]> bodies(ClientApi kind, String model) throws IOException {
    if (data != null) {
      return List.of(data.getBytes(StandardCharsets.UTF_8));
    }
    if (dataFile != null) {
      try {
        return List.of(Files.readAllBytes(dataFile));
      } catch (IOException e) {
        throw usage("cannot read -D " + dataFile + ": " + FileProblem.reason(e));
      }
    }
    if (promptsFile == null) {
      return List.of(kind.body(model, prompt == null ? DEFAULT_PROMPT : prompt, maxTokens));
    }
    try {
      return PromptsFile.read(promptsFile, kind, model, maxTokens);
    } catch (IllegalArgumentException e) {
      throw usage("--prompts-file " + e.getMessage());
    } catch (IOException e) {
      throw usage("cannot read --prompts-file " + promptsFile + ": " + FileProblem.reason(e));
    }
  }

  private CommandLine.ParameterException usage(String message) {
    return new CommandLine.ParameterException(spec.commandLine(), message);
  }

  /** True when stdout is a terminal (JDK 22+ Console.isTerminal; on 21 a console means a terminal). */
  static boolean isTerminal() {
    java.io.Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
    } catch (ReflectiveOperationException e) {
      return true;
    }
  }

  /** {@code tokenpipe bench merge}: adds HdrHistogram logs of several runs or processes. */
  @Command(name = "merge", mixinStandardHelpOptions = true,
      description = "Merge HdrHistogram logs written with --hdr (e.g. from several generator processes) per metric.")
  static final class Merge implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @Parameters(arity = "1..*", paramLabel = "FILE.hdr") List<File> files;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Write the merged log here.")
    File output;

    @Override
    public Integer call() throws Exception {
      for (File f : files) {
        if (!f.isFile()) {
          throw Cli.usage((f.isDirectory() ? "is a directory: " : "no such file: ") + f);
        }
      }
      if (output != null) {
        // Checked before anything is read or printed: a merge written over one of its inputs replaced that run's
        // per-second log with one merged interval, its timeline lost.
        for (File f : files) {
          if (output.exists() && Files.isSameFile(output.toPath(), f.toPath())) {
            throw Cli.usage("-o " + output + " is one of the inputs; it would be overwritten (name another file)");
          }
        }
        String problem = FileProblem.unwritable(output.toPath(), false);
        if (problem != null) {
          throw Cli.usage("cannot write " + output + ": " + problem);
        }
      }
      Map<String, org.HdrHistogram.Histogram> merged;
      try {
        merged = HdrLog.read(files.toArray(File[]::new));
      } catch (HdrLog.NotALog e) {
        throw Cli.usage(e.getMessage());
      }
      if (merged.isEmpty()) {
        // Logs, but of runs that measured nothing: not the user's typing.
        throw new CommandFailedException("no histograms found in " + files);
      }
      HdrLog.print(merged, spec.commandLine().getOut());
      spec.commandLine().getOut().flush();
      if (output != null) {
        HdrLog.write(output, merged);
      }
      return 0;
    }
  }

  /** {@code tokenpipe bench compare}: two JSON results side by side. */
  @Command(name = "compare", mixinStandardHelpOptions = true,
      description = {"Compare two results written with --json: metrics side by side with B/A ratios, and bootstrap",
          "95% confidence intervals for the difference of the TTFT and ITL medians (over requests)."})
  static final class Compare implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;
    @Parameters(index = "0", paramLabel = "A.json") Path a;
    @Parameters(index = "1", paramLabel = "B.json") Path b;

    @Option(names = "--resamples", defaultValue = "1000", description = "Bootstrap resamples. Default: ${DEFAULT-VALUE}.")
    int resamples;

    @Option(names = "--seed", defaultValue = "1", description = "Bootstrap random seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Override
    public Integer call() {
      JsonNode ra = RunComparison.load(a);
      JsonNode rb = RunComparison.load(b);
      RunComparison.print(ra, rb, a.getFileName().toString(), b.getFileName().toString(), resamples, seed, spec.commandLine().getOut());
      spec.commandLine().getOut().flush();
      return 0;
    }
  }
}
