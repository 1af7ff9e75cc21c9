package dev.tokenpipe.doctor;

import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.cli.FileProblem;
import dev.tokenpipe.client.RequestHeaders;
import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.HttpTarget;
import dev.tokenpipe.client.ModelDiscovery;
import dev.tokenpipe.client.ClientWarmUp;
import dev.tokenpipe.client.StreamingClient;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.probe.ProbeRequest;
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

/**
 * {@code tokenpipe doctor URL}: a traceroute for buffering. Probes a streaming endpoint, names the layer that
 * holds tokens back and prints the fix. Exit codes: 0 clean, 1 buffering found, 2 the path could not be judged
 * (it could not stream, or streamed too little to time), 64 bad usage like every command. Flag values are
 * parsed here, each bad one a single line naming the flag.
 */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    description = {
      "Traceroute for buffering: stream through a model endpoint, find the layer that holds tokens back, print the fix.",
      "",
      "Doctor sends real streaming requests (a small output bound) through the endpoint: they decide the verdict. If the",
      "origin also serves tokenpipe's probe route (GET /tokenpipe/probe: serve, sim), it streams events with known",
      "pacing too and measures how long each was held (arrival - emission), which tells whether the path up to that",
      "server or the model behind it holds tokens. The URL path picks the API (OpenAI chat or completions, Anthropic",
      "Messages, OpenAI Responses, Ollama, tokenpipe's token API; --api to override). The API key comes from the",
      "environment (OPENAI_API_KEY, ANTHROPIC_API_KEY for Anthropic Messages, or --api-key-env NAME).",
      "",
      "Exit codes: 0 no events held (warnings such as compression may be printed), 1 events held or a quiet stream",
      "cut, 2 the model path could not stream (unreachable, 401/403, unknown model, upstream error, a stream cut or",
      "stalled before its end event, an answer too short to time), 64 bad usage.",
      ""
    })
public final class DoctorCommand implements Callable<Integer> {
  static final int EXIT_FAILED = 2;

  @Parameters(index = "0", arity = "0..1", paramLabel = "URL", description = "Full endpoint URL, e.g. http://127.0.0.1:8080/v1/chat/completions.")
  String url;

  @Option(names = "--api", paramLabel = "API", defaultValue = "auto",
      description = ClientApi.VALUES + "; auto picks by the URL path (openai-chat when it names no API), raw sends"
          + " the -d body and accepts any response. Default: ${DEFAULT-VALUE}.")
  String api;

  @Option(names = {"-H", "--header"}, paramLabel = "'Name: value'", description = "Extra request header (repeatable).")
  List<String> headers = new ArrayList<>();

  @Option(names = {"-d", "--data"}, paramLabel = "BODY", description = "Request body (replaces the generated one).")
  String data;

  @Option(names = "--model",
      description = "Model id (default: the first id of GET /v1/models on the target, else tokenpipe-sim).")
  String model;

  @Option(names = "--max-tokens", defaultValue = "64", paramLabel = "N",
      description = "Output token bound of the generated request, in the API's field. Default: ${DEFAULT-VALUE}.")
  String maxTokens;

  @Option(names = {"-c", "--concurrency"}, defaultValue = "2", paramLabel = "N",
      description = "Streams at once (1-16), started staggered, to expose batching across connections. Default: ${DEFAULT-VALUE}.")
  String concurrency;

  @Option(names = "--idle-test", paramLabel = "DURATION",
      description = "Also hold one probe stream quiet this long (<= 120s, needs the probe route) to find idle timeouts;"
          + " longer than the server's advertised heartbeat to see heartbeats.")
  String idleTest;

  @Option(names = "--no-probe", description = "Only real requests: do not use /tokenpipe/probe even if the origin serves it.")
  boolean noProbe;

  @Option(names = "--probe-only", description = "Only the probe where the origin serves it (the model path is not measured), else the endpoint.")
  boolean probeOnly;

  @Option(names = "--probe-interval", defaultValue = "50ms", paramLabel = "DURATION", description = "Probe event interval. Default: ${DEFAULT-VALUE}.")
  String probeInterval;

  @Option(names = "--probe-count", defaultValue = "60", paramLabel = "N", description = "Probe events per stream. Default: ${DEFAULT-VALUE}.")
  String probeCount;

  @Option(names = "--probe-size", defaultValue = "256", paramLabel = "BYTES",
      description = "Probe bytes per event; the default makes a stream span several 4 KB pages. Default: ${DEFAULT-VALUE}.")
  String probeSize;

  @Option(names = "--probe-headers", defaultValue = "auto", paramLabel = "auto|plain|safe",
      description = "plain: the probe sends only its content type, like most apps; safe: adds the anti-buffering headers;"
          + " auto: safe exactly when the real responses carry them (plain with --probe-only). Default: ${DEFAULT-VALUE}.")
  String probeHeaders;

  @Option(names = "--accept-encoding", defaultValue = "gzip, deflate", paramLabel = "VALUE",
      description = "Accept-Encoding to send, as browsers do, so compressing layers show. 'identity' to not. Default: ${DEFAULT-VALUE}.")
  String acceptEncoding;

  @Option(names = "--timeout", defaultValue = "30s", paramLabel = "DURATION", description = "Deadline per stream. Default: ${DEFAULT-VALUE}.")
  String timeout;

  @Option(names = "--api-key-env", paramLabel = "NAME",
      description = "Environment variable holding the API key, sent as the API sends it ('Authorization: Bearer';"
          + " anthropic-messages: 'x-api-key' with 'anthropic-version'). Default: ANTHROPIC_API_KEY for"
          + " anthropic-messages, else OPENAI_API_KEY.")
  String apiKeyEnv;

  @Option(names = "--json", paramLabel = "FILE|-", description = "Write the report as JSON (schema tokenpipe.doctor/v1); '-' = stdout instead of the text report.")
  String json;

  @CommandLine.Unmatched
  List<String> unmatched = new ArrayList<>();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Prober.Plan plan = plan();
    String unwritable = json == null || json.equals("-") ? null : FileProblem.unwritable(Path.of(json), false);
    if (unwritable != null) {
      throw Cli.usage("cannot write " + json + ": " + unwritable); // before the probes, not after them
    }
    Prober.Measurement measurement;
    try (StreamingClient client = StreamingClient.create(1, 5_000)) {
      ClientWarmUp.run(client, plan.endpoint().target().host()); // a fresh process times its streams as a warm one would
      measurement = new Prober(client).run(plan);
    } catch (Prober.ProbeFailed e) {
      HttpTarget target = plan.endpoint().target();
      String hint = ClientApi.parse(api, target.path()).noPathHint(target, e.status);
      throw new CommandFailedException(e.getMessage() + (hint == null ? "" : " (" + hint + ")"), EXIT_FAILED);
    }
    Checkup checkup = Checkup.of(measurement);
    Diagnosis diagnosis = checkup.diagnosis();
    PrintWriter out = spec.commandLine().getOut();
    if (!"-".equals(json)) {
      out.print(TextReport.render(checkup));
    }
    if (json != null) {
      String text = Json.MAPPER.writer(SerializationFeature.INDENT_OUTPUT).writeValueAsString(JsonReport.render(checkup));
      if (json.equals("-")) {
        out.println(text);
      } else {
        try {
          Files.writeString(Path.of(json), text + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
          throw new CommandFailedException("cannot write " + json + ": " + e.getMessage(), EXIT_FAILED);
        }
      }
    }
    out.flush();
    if (diagnosis.verdict() == Diagnosis.Verdict.FAILED) {
      throw new CommandFailedException(diagnosis.reason(), EXIT_FAILED);
    }
    return diagnosis.verdict().exitCode();
  }

  /** Validates every flag; anything wrong is one line and exit 64 (bad usage, not a verdict on the path). */
  Prober.Plan plan() {
    if (!unmatched.isEmpty()) {
      throw bad("unknown option or extra argument: " + String.join(" ", unmatched));
    }
    if (url == null || url.isBlank()) {
      throw bad("missing URL (e.g. tokenpipe doctor http://127.0.0.1:8080/v1/chat/completions)");
    }
    HttpTarget target;
    ClientApi kind;
    try {
      target = HttpTarget.parse(url);
      kind = ClientApi.parse(api, target.path());
    } catch (IllegalArgumentException e) {
      throw bad(e.getMessage());
    }
    int n = integer("--concurrency", concurrency, 1, 16);
    if (noProbe && probeOnly) {
      throw bad("--no-probe and --probe-only exclude each other");
    }
    if (noProbe && idleTest != null) {
      // Known from the flags alone; without --no-probe, an origin that does not serve the route is the path's answer.
      throw bad("--idle-test needs the probe route, which --no-probe does not use");
    }
    int tokens = integer("--max-tokens", maxTokens, 1, 100_000);
    long interval = duration("--probe-interval", probeInterval, 1_000_000L, 10_000_000_000L);
    int count = integer("--probe-count", probeCount, 4, 10_000);
    int size = integer("--probe-size", probeSize, 32, 65_536);
    long timeoutNanos = duration("--timeout", timeout, 100_000_000L, 3_600_000_000_000L);
    long idle = idleTest == null ? 0 : duration("--idle-test", idleTest, 100_000_000L, 120_000_000_000L);
    if (!List.of("auto", "plain", "safe").contains(probeHeaders)) {
      throw bad("--probe-headers must be auto, plain or safe, not '" + probeHeaders + "'");
    }
    if ((long) count * size > ProbeRequest.MAX_BYTES || (count - 1L) * interval > ProbeRequest.MAX_DURATION_NANOS) {
      throw bad("--probe-count x --probe-size must be at most 4 MiB and (count - 1) x interval at most 300s"
          + " (the probe route's bounds)");
    }
    List<Map.Entry<String, String>> flags = new ArrayList<>();
    flags.add(Map.entry("Accept-Encoding", acceptEncoding));
    try {
      RequestHeaders.addFlags(flags, headers);
    } catch (IllegalArgumentException e) {
      throw bad(e.getMessage());
    }
    List<Map.Entry<String, String>> hs = kind.withApiKey(flags, apiKeyEnv);
    String describe;
    byte[] body;
    if (data != null) {
      body = data.getBytes(StandardCharsets.UTF_8);
      describe = "POST " + target + " with the -d body";
    } else {
      var chosen = ModelDiscovery.choose(model, kind.namesModel(), target, hs);
      body = kind.body(chosen.model(), "Count from 1 to 100, one number per line.", tokens);
      describe = "POST " + target + ", " + kind.flag() + ", " + (kind.namesModel() ? "model " + chosen.model() + ", " : "")
          + kind.dialect().maxTokensField() + " " + tokens;
    }
    ClientRequest endpoint = new ClientRequest(target, "POST", hs, body, kind.expectsStream());
    Prober.Mode mode = noProbe ? Prober.Mode.ENDPOINT_ONLY : probeOnly ? Prober.Mode.PROBE_ONLY : Prober.Mode.BOTH;
    return new Prober.Plan(endpoint, describe, hs, mode, new Trace.Pacing(interval, count, size), probeHeaders, n,
        timeoutNanos, idle);
  }

  private static int integer(String flag, String value, int min, int max) {
    try {
      int v = Integer.parseInt(value.trim());
      if (v < min || v > max) {
        throw bad(flag + " must be between " + min + " and " + max + ", not " + v);
      }
      return v;
    } catch (NumberFormatException e) {
      throw bad(flag + " must be a number, not '" + value + "'");
    }
  }

  private static long duration(String flag, String value, long minNanos, long maxNanos) {
    try {
      long v = Durations.parse(value).toNanos();
      if (v < minNanos || v > maxNanos) {
        throw bad(flag + " must be between " + Durations.format(Duration.ofNanos(minNanos)) + " and "
            + Durations.format(Duration.ofNanos(maxNanos)) + ", not " + value);
      }
      return v;
    } catch (IllegalArgumentException e) {
      throw bad(flag + ": " + e.getMessage());
    }
  }

  private static CommandFailedException bad(String message) {
    return Cli.usage(message);
  }
}
