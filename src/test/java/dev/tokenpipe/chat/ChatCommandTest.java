package dev.tokenpipe.chat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.cli.Main;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChatCommandTest {
  static SimServer sim;
  static String url;

  @BeforeAll
  static void start() {
    sim = SimServer.start(SimConfig.defaults().withProfile(
        SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides("ttft=50ms itl=20ms tokens=15"))),
        "127.0.0.1", 0);
    url = "http://127.0.0.1:" + sim.port() + "/v1/chat/completions";
  }

  @AfterAll
  static void stop() {
    sim.close();
  }

  /** A writer that remembers each flush, to see that tokens leave one by one. */
  static final class FlushRecorder extends StringWriter {
    final List<Long> flushNanos = new ArrayList<>();

    @Override
    public void flush() {
      flushNanos.add(System.nanoTime());
    }
  }

  record Run(int code, String out, String err, FlushRecorder outWriter) {}

  static Run chat(String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    FlushRecorder out = new FlushRecorder();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter((Writer) out, false));
    cl.setErr(new PrintWriter(err, true));
    String[] all = new String[args.length + 1];
    all[0] = "chat";
    System.arraycopy(args, 0, all, 1, args.length);
    int code = cl.execute(all);
    return new Run(code, out.toString(), err.toString(), out);
  }

  @Test
  void printsTokensAsTheyArriveThenStats() {
    Run r = chat("--url", url, "Tell", "me", "a", "story");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out().strip()).isNotEmpty();
    assertThat(r.err()).contains("TTFT").contains("15 tokens (usage)").contains("tokens/s");
    // One flush per token, spread over the stream (20 ms apart), not one at the end.
    assertThat(r.outWriter().flushNanos.size()).isGreaterThanOrEqualTo(15);
    long spreadMillis = (r.outWriter().flushNanos.get(14) - r.outWriter().flushNanos.getFirst()) / 1_000_000;
    assertThat(spreadMillis).isGreaterThan(150);
  }

  @Test
  void rawShowsTheSseEvents() {
    Run r = chat("--url", url, "--raw", "hi");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("id: tp.0.").contains("data: {\"id\":\"chatcmpl-").contains("data: [DONE]");
  }

  @Test
  void tokenApiWorksToo() {
    Run r = chat("--url", "http://127.0.0.1:" + sim.port() + "/v1/stream", "hi");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.err()).contains("(cl100k)");
  }

  @Test
  void httpErrorIsOneLineAndExitThree() {
    Run r = chat("--url", url, "-H", "X-Tokenpipe-Sim: error_rate=1 error_status=429", "hi");
    assertThat(r.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(r.err().strip().lines().count()).isEqualTo(1);
    assertThat(r.err()).contains("HTTP 429").contains("Injected fault");
  }

  @Test
  void unreachableHostIsOneLine() {
    Run r = chat("--url", "http://127.0.0.1:1/v1/chat/completions", "hi");
    assertThat(r.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(r.err()).contains("connection refused: 127.0.0.1:1");
  }
}
