package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.testing.CliProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The line {@code sim} and {@code serve} print when they listen shows the settings that shape what a client gets,
 * so that a look at a server's log tells how it was started. Before, {@code sim --error-rate 0.05 --error-status
 * 429} printed the same line as a sim without faults, and {@code serve -u http://a:8000=3,http://b:8000} showed
 * {@code upstream=http://a:8000,http://b:8000}, as if equally weighted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ListeningLineTest {
  @TempDir Path work;

  @Test
  void theSimsLineShowsItsFaultsWhenSetAndOnlyThen() throws Exception {
    try (CliProcess sim = CliProcess.start(work, "sim", "--error-rate", "0.05", "--error-status", "429",
        "--drop-after", "30", "--stall-after", "10", "--stall", "2s", "--capacity", "8")) {
      assertThat(listeningLine(sim)).endsWith(
          " ttft=200ms itl=20ms tokens=64 burst=1 error-rate=0.05 error-status=429 drop-after=30 stall-after=10 stall=2.00s"
              + " capacity=8");
    }
    try (CliProcess sim = CliProcess.start(work, "sim", "--error-rate", "1")) {
      assertThat(listeningLine(sim)).endsWith(" burst=1 error-rate=1").doesNotContain("error-status");
    }
    try (CliProcess sim = CliProcess.start(work, "sim")) {
      assertThat(listeningLine(sim)).endsWith(" ttft=200ms itl=20ms tokens=64 burst=1");
    }
  }

  @Test
  void servesLineShowsUpstreamWeights() throws Exception {
    // Nothing listens there: serve does not connect at start, and the line is all this test reads.
    String a = "http://127.0.0.1:" + ChildProcesses.freeLoopbackPort();
    String b = "http://127.0.0.1:" + ChildProcesses.freeLoopbackPort();
    try (CliProcess serve = CliProcess.start(work, "serve", "-u", a + "=3," + b + "," + a + "=2")) {
      assertThat(listeningLine(serve)).contains(" upstream=" + a + "=5," + b + " balance=p2c-ewma ");
    }
  }

  /** The policies that change what clients get back are on the line when set, and only then. */
  @Test
  void servesLineShowsItsPoliciesWhenSetAndOnlyThen() throws Exception {
    try (CliProcess serve = CliProcess.start(work, "serve", "--max-streams", "50", "--hedge-after", "p95",
        "--cors-origins", "https://app.example.com", "--probe", "off")) {
      assertThat(listeningLine(serve)).endsWith(" heartbeat=15.0s max-streams=50 hedge-after=p95"
          + " cors=https://app.example.com probe=off");
    }
    try (CliProcess serve = CliProcess.start(work, "serve")) {
      assertThat(listeningLine(serve)).endsWith(" heartbeat=15.0s");
    }
  }

  /** An IPv6 host is bracketed in the URL (it printed http://:::PORT, which nothing parses). */
  @Test
  void anIpv6HostIsBracketed() {
    assertThat(dev.tokenpipe.net.Sockets.authority("::", 8080)).isEqualTo("[::]:8080");
    assertThat(dev.tokenpipe.net.Sockets.authority("::1", 8000)).isEqualTo("[::1]:8000");
    assertThat(dev.tokenpipe.net.Sockets.authority("127.0.0.1", 8000)).isEqualTo("127.0.0.1:8000");
    assertThat(java.net.URI.create("http://" + dev.tokenpipe.net.Sockets.authority("::", 8080)).getPort()).isEqualTo(8080);
  }

  /** docs/sim.md and docs/serve.md quote the line of one of their example commands: as that command prints it. */
  @Test
  void theDocsQuoteTheLinesAsTheCommandsPrintThem() throws Exception {
    try (CliProcess sim = CliProcess.start(work, "sim", "--error-rate", "0.05", "--error-status", "429")) {
      assertThat(Files.readString(Path.of("docs/sim.md"))).contains("\n" + asDocumented(sim, 8000) + "\n");
    }
    try (CliProcess serve = CliProcess.start(work, "serve", "-u", "http://a:8000=3,http://b:8000", "--health-check", "/health")) {
      assertThat(Files.readString(Path.of("docs/serve.md"))).contains("\n" + asDocumented(serve, 8080) + "\n");
    }
  }

  /** The line with the command's default port and the transport of the machine the docs were written on. */
  private static String asDocumented(CliProcess p, int defaultPort) throws Exception {
    return listeningLine(p).replaceFirst(":" + p.port() + " \\(\\w+\\) ", ":" + defaultPort + " (epoll) ");
  }

  private static String listeningLine(CliProcess p) throws Exception {
    return p.logText().lines().filter(l -> l.contains(" listening on ")).findFirst().orElseThrow();
  }
}
