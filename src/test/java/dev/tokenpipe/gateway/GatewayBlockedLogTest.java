package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.testing.RawClient;
import java.io.File;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The gateway whose log nobody reads: its stderr is a pipe that is never drained, as under a container runtime
 * whose log driver stalls, or {@code serve 2>&1 | less} left at the first page. The pipe holds 64 KiB; the
 * access log writes a line of about 250 bytes per request, so it fills within a few hundred requests. A log
 * write then blocks, and it used to block on the event loop: every stream on that loop froze (request 285 of
 * this test never got an answer). The log now waits in a bounded queue for a thread of its own
 * ({@link dev.tokenpipe.log.BatchingAppender}) and drops lines when that is full, so streams keep flowing, and
 * the log says how many lines it dropped once it is read again.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayBlockedLogTest {
  /** Several times what the pipe holds: about 250 KB of access log. */
  static final int REQUESTS = 1_000;
  /** The log's queue, smaller than its 8,192 lines by default, so that these requests overflow it too. */
  static final int LOG_QUEUE = 200;
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @Test
  void streamsKeepFlowingWhenTheLogPipeIsFull() throws Exception {
    int port = ChildProcesses.freeLoopbackPort();
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    // stdout and stderr stay pipes to this JVM, which never reads them.
    Process gateway = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx256m",
        "-Dtokenpipe.log.queue=" + LOG_QUEUE, "-cp",
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
        "dev.tokenpipe.Main", "serve", "--port", String.valueOf(port))).start();
    try {
      awaitReady(port, gateway);
      for (int i = 0; i < REQUESTS; i++) {
        try (RawClient c = RawClient.post(port, "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=2")) {
          c.socket.setSoTimeout(5_000);
          try {
            assertThat(c.readToEnd()).as("request %d ended", i).isTrue();
          } catch (SocketTimeoutException e) {
            throw new AssertionError("request " + i + " got no end within 5 s: " + c.all(), e);
          }
          assertThat(GatewayChurnTest.payload(c)).as("request %d", i).contains("data: [DONE]");
        }
      }
      assertThat(gateway.isAlive()).isTrue();
      try (RawClient c = RawClient.get(port, "/metrics")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(GatewayFdLimitTest.metric(GatewayChurnTest.payload(c), "tokenpipe_gateway_log_lines_dropped_total"))
            .isGreaterThan(0);
      }
      // Someone reads the log at last: the lines that waited arrive, and so does the count of those dropped.
      StringBuilder log = new StringBuilder();
      Thread reader = Thread.ofPlatform().daemon().start(() -> {
        byte[] buf = new byte[8192];
        try (var in = gateway.getErrorStream()) {
          for (int n; (n = in.read(buf)) > 0; ) {
            synchronized (log) {
              log.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
          }
        } catch (IOException closed) {
          // the gateway ended
        }
      });
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (!logText(log).contains("log line(s) dropped") && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(logText(log)).contains("access - method=POST path=/v1/chat/completions")
          .containsPattern("WARN  log - \\d+ log line\\(s\\) dropped: the log's output did not keep up");
      reader.interrupt();
    } finally {
      ChildProcesses.stopTree(gateway);
    }
  }

  private static String logText(StringBuilder log) {
    synchronized (log) {
      return log.toString();
    }
  }

  private static void awaitReady(int port, Process gateway) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      assertThat(gateway.isAlive()).as("gateway running").isTrue();
      try (RawClient c = RawClient.get(port, "/readyz")) {
        if (c.readToEnd() && c.status() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new AssertionError("gateway not ready within 60 s");
  }
}
