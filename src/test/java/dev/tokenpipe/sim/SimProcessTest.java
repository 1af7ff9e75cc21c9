package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.CliProcess;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokenpipe sim} and {@code tokenpipe serve} as real child processes (this test's classpath,
 * {@code dev.tokenpipe.Main}): SIGTERM drains running streams and the process exits 0; a client
 * that stops reading does not grow the process's memory.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SimProcessTest {
  @TempDir Path work;

  CliProcess start(String... args) throws Exception {
    return CliProcess.start(work, args);
  }

  static Socket stream(int port, String path, String body, String sim) throws IOException {
    Socket s = new Socket("127.0.0.1", port);
    s.setSoTimeout(60_000);
    String req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nX-Tokenpipe-Sim: " + sim
        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    s.getOutputStream().write(req.getBytes(StandardCharsets.UTF_8));
    return s;
  }

  static String readToClose(Socket s) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    s.getInputStream().transferTo(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aFreshSimAnswersItsFirstStreamAsFastAsLaterOnes() throws Exception {
    // Measured before the warm-up: 2.7-4.1 s to the first byte of a fresh sim's first stream, 37 ms after.
    try (CliProcess sim = start("sim", "--ttft", "200ms", "--itl", "10ms", "--tokens", "5")) {
      List<Long> ttfbMillis = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        long t0 = System.nanoTime();
        try (Socket s = stream(sim.port(), "/v1/chat/completions",
            "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "ttft=200ms itl=10ms tokens=5")) {
          SimConnectionTest.readUntil(s.getInputStream(), "\"content\":\"", 2);
          ttfbMillis.add((System.nanoTime() - t0) / 1_000_000);
        }
      }
      List<Long> warm = new ArrayList<>(ttfbMillis.subList(1, 4));
      warm.sort(null);
      assertThat(ttfbMillis.getFirst() - warm.get(1)).as("first vs warm TTFT (ms): %s", ttfbMillis).isLessThan(300);
    }
  }

  @Test
  void simDrainsItsStreamsOnSigtermAndExits0() throws Exception {
    try (CliProcess sim = start("sim", "--drain-timeout", "30s");
        Socket s = stream(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}", "ttft=10ms itl=50ms tokens=40")) {
      assertThat(SimConnectionTest.readUntil(s.getInputStream(), "id: tp.", 1)).contains("id: tp.0.");
      sim.process().destroy(); // SIGTERM
      String rest = readToClose(s);
      assertThat(rest).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n").doesNotContain("event: error");
      assertThat(sim.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(sim.process().exitValue()).as("exit code after a clean drain; log: %s", sim.logText()).isZero();
    }
  }

  @Test
  void simEndsStreamsThatOutliveTheDrainWithAnErrorEventAndExits0() throws Exception {
    try (CliProcess sim = start("sim", "--drain-timeout", "500ms");
        Socket s = stream(sim.port(), "/v1/chat/completions",
            "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "ttft=10ms itl=50ms tokens=100000")) {
      SimConnectionTest.readUntil(s.getInputStream(), "id: tp.", 2);
      sim.process().destroy();
      String rest = readToClose(s);
      assertThat(rest).contains("event: error\ndata: {\"error\":{").contains("\"code\":\"sim_shutdown\"")
          .endsWith("\r\n0\r\n\r\n").doesNotContain("[DONE]");
      assertThat(sim.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(sim.process().exitValue()).as("log: %s", sim.logText()).isZero();
    }
  }

  @Test
  void serveDrainsOnSigtermAndExits0() throws Exception {
    try (CliProcess serve = start("serve", "--drain-timeout", "30s");
        Socket s = stream(serve.port(), "/v1/chat/completions",
            "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "ttft=10ms itl=50ms tokens=40")) {
      SimConnectionTest.readUntil(s.getInputStream(), "\"content\"", 2);
      serve.process().destroy();
      String rest = readToClose(s);
      assertThat(rest).contains("data: [DONE]").endsWith("\r\n0\r\n\r\n").doesNotContain("event: error");
      assertThat(serve.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(serve.process().exitValue()).as("log: %s", serve.logText()).isZero();
    }
  }

  @Test
  void clientsThatStopReadingDoNotGrowTheSimsMemory() throws Exception {
    try (CliProcess sim = start("sim")) {
      // Warm up (token text, JIT) so the baseline is not the first request's allocation.
      try (Socket warm = stream(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}", "ttft=0ms itl=0ms tokens=20000")) {
        SimConnectionTest.readUntil(warm.getInputStream(), "[DONE]", 1);
      }
      long before = rssKiB(sim.process().pid());
      List<Socket> idle = new ArrayList<>();
      try {
        for (int i = 0; i < 5; i++) {
          Socket s = new Socket();
          s.setReceiveBufferSize(4096);
          s.connect(new java.net.InetSocketAddress("127.0.0.1", sim.port()));
          String body = "{\"prompt\":\"x\"}";
          s.getOutputStream().write(("POST /v1/stream HTTP/1.1\r\nHost: x\r\nX-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=1000000\r\n"
              + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
          idle.add(s);
        }
        Thread.sleep(5000);
        long grownMiB = (rssKiB(sim.process().pid()) - before) / 1024;
        assertThat(grownMiB).as("RSS growth with 5 clients that do not read (MiB)").isLessThan(150);
      } finally {
        for (Socket s : idle) {
          s.close();
        }
      }
    }
  }

  static long rssKiB(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D+", ""));
      }
    }
    throw new IOException("no VmRSS for " + pid);
  }
}
