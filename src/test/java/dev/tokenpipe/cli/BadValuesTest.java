package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.Main;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/**
 * docs/configuration.md: for serve and sim alike, "a bad value stops the command with one line and exit code
 * 64". Every kind of value the server commands take (duration, latency pair, count, rate, status, port) is
 * tried out of its range here, and the clients' URL ports too; a port that is valid but taken stays a failure
 * of the command (exit 1), not bad usage.
 */
class BadValuesTest {

  @ParameterizedTest(name = "{0} -> 64: {1}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
      sim --ttft banana                  | --ttft
      sim --itl 1x                       | --itl
      sim --ttft 2s/1s                   | p99 must be >= p50
      sim --burst 0                      | --burst must be between 1 and 1024
      sim --tokens -1                    | --tokens must be between 0 and 1000000
      sim --error-status 200             | --error-status must be 429 or 5xx
      sim --error-rate 1.5               | --error-rate must be between 0 and 1
      sim --drop-after -2                | --drop-after must be >= -1
      sim --stall-after -2               | --stall-after must be >= -1
      sim --threads -1                   | --threads must be 0..1024
      sim --threads 100000               | --threads must be 0..1024
      sim --capacity -1                  | --capacity must be >= 0
      sim --port 99999                   | --port
      sim --port -1                      | --port
      sim --max-body 0                   | --max-body': must be at least 1 byte
      sim --model ''                     | --model' (<models>): must not be empty
      sim --model a,,b                   | --model' (<models>): must not be empty
      sim --host ''                      | --host': must not be empty
      serve --port 99999                 | --port
      serve --port 65536                 | --port
      serve --threads -1                 | --threads must be 0..1024
      serve --threads 100000             | --threads must be 0..1024
      serve --max-streams -1             | --max-streams must be >= 0
      serve --max-body 0                 | --max-body': must be at least 1 byte
      serve --connect-timeout 0          | --connect-timeout': must be at least 1ms
      serve --connect-timeout 500us      | --connect-timeout': must be at least 1ms
      serve --upstream ''                | --upstream' (URL[=WEIGHT]): must not be empty
      serve --upstream ' '               | --upstream' (URL[=WEIGHT]): must not be empty
      serve --model ''                   | --model': must not be empty
      serve --host ''                    | --host': must not be empty
      serve --sim drop_after=-5          | --sim: drop_after must be >= -1
      serve --sim ttft=banana            | --sim: ttft: not a duration: 'banana'
      serve --sim itl=20ms/1x            | --sim: itl: unknown unit
      serve --sim ttft=2s/1s             | --sim: ttft: p99 must be >= p50
      serve --upstream http://127.0.0.1:99999 | port
      serve --upstream http://127.0.0.1:0 | port
      """)
  void aBadValueIsOneLineAndExit64(String command, String message) {
    List<String> args = new ArrayList<>();
    // Words as a shell splits them, for '' and ' ': an empty and a blank argument.
    Matcher word = Pattern.compile("'([^']*)'|(\\S+)").matcher(command);
    while (word.find()) {
      args.add(word.group(1) != null ? word.group(1) : word.group(2));
    }
    if (!args.contains("--port")) {
      args.addAll(List.of("--port", "0")); // should the value pass, the server it starts takes no fixed port
    }
    Run r = run(args.toArray(String[]::new));
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.errorLines()).as(r.err()).hasSize(1);
    assertThat(r.errorLines().getFirst()).startsWith("tokenpipe " + args.getFirst() + ": ").contains(message);
  }

  @ParameterizedTest(name = "{0} -> 64")
  @CsvSource(delimiter = '|', textBlock = """
      bench -n 1 http://127.0.0.1:99999/v1/chat/completions
      bench -n 1 http://127.0.0.1:0/v1/chat/completions
      chat -u http://127.0.0.1:99999/v1/chat/completions hi
      chat -u http://127.0.0.1:0/v1/chat/completions hi
      """)
  void aClientUrlWithAPortOutOfRangeIsBadUsageNotAHang(String command) {
    Run r = run(command.split(" "));
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.errorLines()).as(r.err()).hasSize(1);
    assertThat(r.errorLines().getFirst()).contains("port").contains("1..65535");
  }

  /**
   * The clients' counts and durations out of range, which were taken (a negative count as "not sent"), and
   * input files of bench compare and merge that are missing or of the wrong kind: bad usage, named.
   */
  @ParameterizedTest(name = "{0} -> 64: {1}")
  @CsvSource(delimiter = '|', textBlock = """
      bench -n 1 --max-tokens -3 http://127.0.0.1:1/v1/chat/completions   | --max-tokens must be >= 0
      bench -n 1 --threads -1 http://127.0.0.1:1/v1/chat/completions      | --threads must be 0..1024
      bench -z 0s http://127.0.0.1:1/v1/chat/completions                  | -z must be more than 0
      bench -n 1 --connect-timeout 0 http://127.0.0.1:1/v1/chat/completions | --connect-timeout': must be at least 1ms
      bench -n 1 --arrival gamma http://127.0.0.1:1/v1/chat/completions   | --arrival needs --rate
      bench -n 1 --arrival constant http://127.0.0.1:1/v1/chat/completions | --arrival needs --rate
      bench -n 1 --rate 1e12 http://127.0.0.1:1/v1/chat/completions       | --rate must be > 0 and at most 100000 arrivals per second, not 1e12
      bench -n 1 --rate 100001 http://127.0.0.1:1/v1/chat/completions     | --rate must be > 0 and at most 100000
      bench -n 1 --sweep rate:10,1e12 http://127.0.0.1:1/v1/chat/completions | --sweep: rate steps must be > 0 and at most 100000 arrivals per second, not 1000000000000
      bench -n 1 --slo ttft:p99<=0ms http://127.0.0.1:1/v1/chat/completions | --slo: the limit in 'ttft:p99<=0ms' must be at least 1us
      bench -n 1 --slo e2e:p90<=500ns http://127.0.0.1:1/v1/chat/completions | --slo: the limit in 'e2e:p90<=500ns' must be at least 1us
      chat -u http://127.0.0.1:1/v1/chat/completions --max-tokens -5 hi  | --max-tokens must be >= 0
      bench compare /nonexistent/a.json /nonexistent/b.json | cannot read /nonexistent/a.json: no such file
      bench compare /tmp /tmp                                | cannot read /tmp: is a directory
      bench merge /nonexistent/a.hdr                         | no such file: /nonexistent/a.hdr
      bench merge /tmp                                       | is a directory: /tmp
      """)
  void aClientValueOrInputFileThatCannotBeUsedIsBadUsage(String command, String message) {
    Run r = run(command.strip().split(" +"));
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.errorLines()).as(r.err()).hasSize(1);
    assertThat(r.errorLines().getFirst()).contains(message);
  }

  /**
   * A file given to {@code bench merge} that is not an HdrHistogram log (text, a JSON result) is bad usage like a
   * missing one (docs/bench.md); it was "no histograms found in [junk.txt]", exit 1.
   */
  @Test
  void aFileThatIsNotALogGivenToMergeIsBadUsage(@TempDir Path dir) throws IOException {
    Path junk = Files.writeString(dir.resolve("junk.txt"), "hello\nthis is not a log\n");
    Path result = Files.writeString(dir.resolve("run.json"), "{\"schema\":\"tokenpipe.bench/v1\",\"metrics\":{}}\n");
    for (Path file : List.of(junk, result)) {
      Run r = run("bench", "merge", file.toString());
      assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
      assertThat(r.errorLines()).as(r.err()).hasSize(1);
      assertThat(r.errorLines().getFirst()).isEqualTo("tokenpipe bench merge: not an HdrHistogram log: " + file);
    }
    // A log, as --hdr writes it, of a run that recorded nothing: the input is right, there is just nothing to add.
    File empty = dir.resolve("empty.hdr").toFile();
    org.HdrHistogram.HistogramLogWriter w = new org.HdrHistogram.HistogramLogWriter(empty);
    w.outputLogFormatVersion();
    w.outputLegend();
    w.close();
    Run r = run("bench", "merge", empty.toString());
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_FAILURE);
    assertThat(r.err()).contains("no histograms found");
  }

  /**
   * doctor's bad usage is 64 like every other command's; its 2 means "the path could not be judged" (a verdict),
   * and these were 2. Nothing here reaches the network: port 1 would refuse, which is exit 2.
   */
  @ParameterizedTest(name = "{0} -> 64: {1}")
  @CsvSource(delimiter = '|', textBlock = """
      doctor                                                          | missing URL
      doctor --bogus http://127.0.0.1:1/v1/chat/completions           | unknown option or extra argument: --bogus
      doctor -c 0 http://127.0.0.1:1/v1/chat/completions              | --concurrency must be between 1 and 16, not 0
      doctor -c 17 http://127.0.0.1:1/v1/chat/completions             | --concurrency must be between 1 and 16, not 17
      doctor notaurl                                                  | notaurl
      doctor --timeout banana http://127.0.0.1:1/v1/chat/completions  | --timeout
      doctor --api foo http://127.0.0.1:1/v1/chat/completions         | foo
      doctor --no-probe --probe-only http://127.0.0.1:1/v1/chat/completions | exclude each other
      doctor --no-probe --idle-test 2s http://127.0.0.1:1/v1/chat/completions | --idle-test needs the probe route
      doctor http://127.0.0.1:1/v1/chat/completions --probe-count     | --probe-count
      doctor --json /etc/hostname/d.json http://127.0.0.1:1/v1/chat/completions | cannot write /etc/hostname/d.json: no such directory
      """)
  void doctorsBadUsageIsExit64(String command, String message) {
    Run r = run(command.strip().split(" +"));
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.errorLines()).as(r.err()).hasSize(1);
    assertThat(r.errorLines().getFirst()).startsWith("tokenpipe doctor: ").contains(message);
  }

  @Test
  void aPortInUseIsAFailureOfTheCommandNotBadUsage() throws IOException {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      String port = String.valueOf(taken.getLocalPort());
      for (String command : List.of("sim", "serve")) {
        Run r = run(command, "--host", "127.0.0.1", "--port", port);
        assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_FAILURE);
        assertThat(r.errorLines()).as(r.err()).hasSize(1);
        assertThat(r.err()).contains("cannot listen on 127.0.0.1:" + port + ": address already in use");
      }
    }
  }

  /** A host that cannot be listened on says why in words (it said "null" for an unresolvable one). */
  @Test
  void aHostThatCannotBeListenedOnSaysWhy() {
    for (String command : List.of("sim", "serve")) {
      Run r = run(command, "--host", "no-such-host.invalid", "--port", "0");
      assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_FAILURE);
      assertThat(r.errorLines()).as(r.err()).hasSize(1);
      assertThat(r.err()).contains("cannot listen on no-such-host.invalid:0: ").doesNotContain("null");
    }
  }

  record Run(int code, String err) {
    /** The lines of stderr without picocli's "Try 'tokenpipe x --help'." hint after a parse error. */
    List<String> errorLines() {
      return err.lines().filter(l -> !l.startsWith("Try ")).toList();
    }
  }

  /**
   * {@code tokenpipe args...} in-process. A value that wrongly passes starts a server that runs until a signal:
   * that is reported as such after a few seconds (its daemon thread is left behind), not waited for.
   */
  static Run run(String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    StringWriter err = new StringWriter();
    cl.setErr(new PrintWriter(err, true));
    cl.setOut(new PrintWriter(new StringWriter(), true));
    CompletableFuture<Integer> code = new CompletableFuture<>();
    Thread.ofPlatform().daemon().name("tokenpipe " + String.join(" ", args)).start(() -> {
      try {
        code.complete(cl.execute(args));
      } catch (Throwable t) {
        code.completeExceptionally(t);
      }
    });
    try {
      return new Run(code.get(15, TimeUnit.SECONDS), err.toString());
    } catch (TimeoutException e) {
      throw new AssertionError("tokenpipe " + String.join(" ", args) + " did not stop (the value was taken): " + err);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
