package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.CommandFailedException;
import dev.tokenpipe.cli.ConfigDefaults;
import dev.tokenpipe.sim.SimConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tokenpipe aot-training} (hidden): the workload the launcher records the JDK's ahead-of-time cache
 * from (JEP 483/514/515, JDK 25 and later; README "AOT cache"). It does what {@code serve} does for a client,
 * then exits by itself: parses {@code serve}'s flags, starts the gateway with the built-in simulated model on
 * an ephemeral loopback port (its own warm-up included), sends {@code --rounds} rounds of real streaming
 * requests over loopback, one per API the gateway relays (chat with usage asked, as the SDKs and bench do,
 * completions, {@code /v1/stream}, Anthropic Messages, Responses) plus {@code /readyz} and {@code /metrics},
 * reads each to its end, checks it, and closes the gateway.
 *
 * <p>It never reads {@code TOKENPIPE_*} settings or a config file (no {@code --upstream} from the
 * environment: it must never send a real model a request), sends nothing off the machine, and is bounded:
 * each response within {@link #READ_TIMEOUT}, the whole run within {@code --time-limit} (after it the JVM
 * halts with exit code 1, so the launcher keeps no cache from it).
 *
 * <p>Exit codes: 0 when every response was complete; 1 when one was not (a one-line message names it) or
 * the time limit passed.
 */
@Command(name = "aot-training", hidden = true, mixinStandardHelpOptions = true, description = {
    "Hidden: the training workload of the launcher's JDK AOT cache (loopback only, bounded, exits by itself)."})
public final class AotTrainingCommand implements Callable<Integer> {
  static final Duration READ_TIMEOUT = Duration.ofSeconds(10);
  /** The built-in model's pacing during training: short, but one event per write as in real streams. */
  static final String SIM = "ttft=0ms itl=1ms tokens=32";

  @Option(names = "--rounds", defaultValue = "8", description = "Rounds of requests, one per API each (1..100). Default: ${DEFAULT-VALUE}.")
  int rounds;

  @Option(names = "--time-limit", defaultValue = "60s", converter = dev.tokenpipe.cli.Durations.class,
      description = "Halt with exit code 1 after this long. Default: ${DEFAULT-VALUE}.")
  Duration timeLimit;

  /** One request of the workload and what its complete response ends with. */
  record Exchange(String method, String path, String body, String endsWith) {}

  static List<Exchange> round(String model) {
    String chat = "{\"model\":\"" + model + "\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        + "\"max_tokens\":32,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    return List.of(
        new Exchange("POST", "/v1/chat/completions", chat, "data: [DONE]"),
        new Exchange("POST", "/v1/chat/completions", chat, "data: [DONE]"),
        new Exchange("POST", "/v1/completions",
            "{\"model\":\"" + model + "\",\"stream\":true,\"prompt\":\"hi\",\"max_tokens\":32}", "data: [DONE]"),
        new Exchange("POST", "/v1/stream", "{\"prompt\":\"hi\"}", "data: [DONE]"),
        new Exchange("POST", "/v1/messages", "{\"model\":\"" + model + "\",\"max_tokens\":32,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "event: message_stop"),
        new Exchange("POST", "/v1/responses",
            "{\"model\":\"" + model + "\",\"stream\":true,\"input\":\"hi\"}", "response.completed"),
        new Exchange("GET", "/readyz", null, null),
        new Exchange("GET", "/metrics", null, "tokenpipe_gateway_"));
  }

  @Override
  public Integer call() throws Exception {
    if (rounds < 1 || rounds > 100) {
      throw Cli.usage("--rounds must be 1..100, not " + rounds);
    }
    Thread watchdog = Thread.ofPlatform().daemon().name("aot-training-limit").start(() -> {
      try {
        Thread.sleep(timeLimit);
      } catch (InterruptedException e) {
        return;
      }
      System.err.println("aot-training: not done after " + timeLimit.toSeconds() + " s; halting");
      Runtime.getRuntime().halt(Cli.EXIT_FAILURE);
    });
    try {
      train(SIM, rounds);
      return 0;
    } finally {
      watchdog.interrupt();
    }
  }

  /**
   * The workload: a gateway on the built-in model paced by {@code sim} ({@code --sim}'s syntax), {@code rounds}
   * rounds of {@link #round}.
   *
   * @throws CommandFailedException naming the first request whose response was not a complete 200
   */
  static void train(String sim, int rounds) throws IOException {
    GatewayCommand serve = new GatewayCommand();
    // serve's flag defaults the way `serve` reads them, from an empty environment: nothing of this
    // machine's TOKENPIPE_* settings (an upstream, a port) reaches the training.
    String[] args = {"--host", "127.0.0.1", "--port", "0", "--sim", sim};
    new CommandLine(serve).setDefaultValueProvider(ConfigDefaults.from(args, Map.of())).parseArgs(args);
    String model = SimConfig.defaults().models().getFirst();
    try (GatewayServer gateway = GatewayServer.start(serve.config())) {
      for (int r = 0; r < rounds; r++) {
        for (Exchange x : round(model)) {
          String response = exchange(gateway.port(), x);
          if (!response.startsWith("HTTP/1.1 200") || (x.endsWith() != null && !response.contains(x.endsWith()))) {
            String first = response.lines().findFirst().orElse("(no response)");
            throw new CommandFailedException(x.method() + " " + x.path() + ": incomplete response (" + first + ")");
          }
        }
      }
    }
  }

  /** One request with {@code Connection: close}, its response read to the close (at most 1 MiB kept). */
  static String exchange(int port, Exchange x) throws IOException {
    byte[] body = x.body() == null ? new byte[0] : x.body().getBytes(StandardCharsets.UTF_8);
    String head = x.method() + " " + x.path() + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + (x.body() == null ? "" : "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n") + "\r\n";
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout((int) READ_TIMEOUT.toMillis());
      OutputStream out = s.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream kept = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (kept.size() < (1 << 20)) {
          kept.write(buf, 0, n);
        }
      }
      return kept.toString(StandardCharsets.UTF_8);
    }
  }
}
