package dev.tokenpipe.chat;

import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.Durations;
import dev.tokenpipe.client.RequestHeaders;
import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.client.ChunkContent;
import dev.tokenpipe.client.ClientRequest;
import dev.tokenpipe.client.ClientWarmUp;
import dev.tokenpipe.client.ErrorClass;
import dev.tokenpipe.client.ExchangeListener;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.HttpTarget;
import dev.tokenpipe.client.ModelDiscovery;
import dev.tokenpipe.client.StreamEvent;
import dev.tokenpipe.client.StreamingClient;
import dev.tokenpipe.time.DurationText;
import dev.tokenpipe.tokens.Tokenizer;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tokenpipe chat}: one streaming request, tokens printed the moment they arrive. */
@Command(
    name = "chat",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Streaming client in the terminal: prints tokens as they arrive (stdout, flushed per token), then",
      "TTFT, token count and token rate on stderr. Speaks OpenAI chat and completions, Anthropic Messages, OpenAI",
      "Responses, Ollama and tokenpipe's token API, picked by the URL path (or --api); the API key comes from the",
      "environment (OPENAI_API_KEY, ANTHROPIC_API_KEY for Anthropic Messages, or --api-key-env NAME).",
      "",
      "Exit codes: 0 ok; 3 the request failed (connect, HTTP error, error event, truncated, timeout);",
      "64 bad usage; 141 standard output was closed (chat ... | head), the request then stopped.",
      ""
    })
public final class ChatCommand implements Callable<Integer> {
  public static final int EXIT_REQUEST_FAILED = 3;
  /** Standard output's reader went away ({@code chat ... | head}): as a process killed by SIGPIPE, 128 + 13. */
  public static final int EXIT_STDOUT_CLOSED = 141;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Parameters(arity = "1..*", paramLabel = "PROMPT", description = "The prompt (several words are joined).")
  List<String> prompt;

  @Option(names = {"-u", "--url"}, defaultValue = "http://127.0.0.1:8080/v1/chat/completions",
      description = "Endpoint URL. Default: ${DEFAULT-VALUE}.")
  String url;

  @Option(names = "--model",
      description = "Model id (default: the first id of GET /v1/models on the target, else tokenpipe-sim).")
  String model;

  @Option(names = "--api", paramLabel = "API",
      description = "Request and auth shape: " + ClientApi.VALUES + " (auto: from the URL path, openai-chat when it"
          + " names no API; raw: the prompt is sent as the body). Default: auto.")
  String api;

  @Option(names = "--max-tokens", defaultValue = "0",
      description = "Output token bound in the API's field (0 = not sent; anthropic-messages requires one: 4096).")
  int maxTokens;

  @Option(names = "--raw", description = "Show the SSE events (id, event, data lines and comments) instead of the text.")
  boolean raw;

  @Option(names = {"-H", "--header"}, paramLabel = "'Name: value'", description = "Extra request header (repeatable).")
  List<String> headers = new ArrayList<>();

  @Option(names = {"-t", "--timeout"}, defaultValue = "5m", converter = Durations.class,
      description = "Deadline for the whole answer (0 = none). Default: ${DEFAULT-VALUE}.")
  Duration timeout;

  @Option(names = "--api-key-env", paramLabel = "NAME",
      description = "Environment variable holding the API key, sent as the API sends it. Default: ANTHROPIC_API_KEY"
          + " for anthropic-messages, else OPENAI_API_KEY.")
  String apiKeyEnv;

  @Override
  public Integer call() throws Exception {
    HttpTarget target;
    try {
      target = HttpTarget.parse(url);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    ClientApi kind;
    try {
      kind = ClientApi.parse(api, target.path());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    if (maxTokens < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--max-tokens must be >= 0 (0 = not sent)");
    }
    List<Map.Entry<String, String>> flags = new ArrayList<>();
    try {
      RequestHeaders.addFlags(flags, headers);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    List<Map.Entry<String, String>> hs = kind.withApiKey(flags, apiKeyEnv);
    String chosen = ModelDiscovery.choose(model, kind.namesModel(), target, hs).model();
    ClientRequest request = new ClientRequest(target, "POST", hs, kind.body(chosen, String.join(" ", prompt), maxTokens),
        kind.expectsStream());
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Printer printer = new Printer(out, raw);
    try (StreamingClient client = StreamingClient.create(1, 10_000)) {
      ClientWarmUp.run(client, target.host()); // a fresh process times its one stream as a warm one would
      client.exchangeOnce(request, printer, timeout.toNanos());
      ExchangeOutcome outcome;
      try {
        // The exchange keeps the deadline itself; this wait only outlives it, and --timeout 0 has none.
        outcome = timeout.isZero() ? printer.done.get()
            : printer.done.get(timeout.toMillis() + 15_000, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        throw new CommandFailedException("timeout: no end of the answer within " + DurationText.format(timeout),
            EXIT_REQUEST_FAILED);
      }
      if (outcome == null) {
        return EXIT_STDOUT_CLOSED; // closing the client (try-with-resources) tells the server to stop generating
      }
      if (!raw && printer.printedText) {
        out.println();
      }
      out.flush();
      if (!outcome.ok()) {
        // A stream error's message already names it ("error event: ..."): its class's description would say it twice.
        String line = outcome.error() == ErrorClass.STREAM_ERROR ? outcome.message()
            : outcome.error().description() + ": " + outcome.message();
        if (outcome.error() == ErrorClass.TIMEOUT) {
          line += "; -t/--timeout sets the limit";
        }
        String hint = kind.noPathHint(target, outcome.status());
        if (hint != null) {
          line += " (" + hint + ")";
        }
        throw new CommandFailedException(line, EXIT_REQUEST_FAILED);
      }
      err.println(printer.stats(outcome));
      err.flush();
      return 0;
    }
  }

  /** Prints the stream as it arrives and keeps what the closing statistics need. */
  static final class Printer implements ExchangeListener {
    /** The exchange's outcome; null when standard output failed (its reader went away) and the rest is moot. */
    final CompletableFuture<ExchangeOutcome> done = new CompletableFuture<>();
    private final PrintWriter out;
    private final boolean raw;
    private final StringBuilder text = new StringBuilder();
    private long writtenNanos;
    private long firstTokenNanos;
    private long lastTokenNanos;
    private int events;
    private int usageTokens = -1;
    boolean printedText;

    Printer(PrintWriter out, boolean raw) {
      this.out = out;
      this.raw = raw;
    }

    @Override
    public void onWritten(long nanos, long wallMicros) {
      writtenNanos = nanos;
    }

    @Override
    public void onComment(String comment, long nanos) {
      if (raw) {
        out.println(": " + comment);
        flushed();
      }
    }

    /** Flushes; a failed write (EPIPE: {@code chat ... | head}) ends the wait, and the process stops. */
    private void flushed() {
      if (out.checkError()) { // flushes, then says whether any write failed
        done.complete(null);
      }
    }

    @Override
    public void onEvent(StreamEvent e) {
      if (raw) {
        if (!e.event().lastEventId().isEmpty()) {
          out.println("id: " + e.event().lastEventId());
        }
        if (!e.event().type().equals("message")) {
          out.println("event: " + e.event().type());
        }
        for (String line : e.data().split("\n", -1)) {
          out.println("data: " + line);
        }
        out.println();
        flushed();
      }
      ChunkContent c = ChunkContent.of(e.event().type(), e.data());
      if (c.completionTokens() >= 0) {
        usageTokens = c.completionTokens();
      }
      if (c.isGenerated()) { // the shared definition: reasoning and tool calls are tokens too
        if (firstTokenNanos == 0) {
          firstTokenNanos = e.readNanos();
        }
        lastTokenNanos = e.readNanos();
        events++;
        text.append(c.content()).append(c.reasoning()).append(c.toolCall());
        if (!raw && c.hasContent()) {
          out.print(c.content());
          flushed(); // one flush per token: the terminal shows it now, not when a buffer fills
          printedText = true;
        }
      }
    }

    @Override
    public void onEnd(ExchangeOutcome outcome) {
      done.complete(outcome);
    }

    String stats(ExchangeOutcome outcome) {
      if (firstTokenNanos == 0) {
        return "no tokens received";
      }
      int tokens = usageTokens >= 0 ? usageTokens : Tokenizer.cl100k().count(text.toString());
      String source = usageTokens >= 0 ? "usage" : "cl100k";
      double ttftMs = (firstTokenNanos - writtenNanos) / 1e6;
      double totalS = (outcome.endNanos() - writtenNanos) / 1e9;
      double streamS = (lastTokenNanos - firstTokenNanos) / 1e9;
      String rate = tokens > 1 && streamS > 0 ? String.format(Locale.ROOT, "%.1f tokens/s after the first", (tokens - 1) / streamS) : "";
      return String.format(Locale.ROOT, "TTFT %.1f ms, %d tokens (%s) in %d events, %.2f s total%s%s", ttftMs, tokens,
          source, events, totalS, rate.isEmpty() ? "" : ", ", rate);
    }
  }
}
