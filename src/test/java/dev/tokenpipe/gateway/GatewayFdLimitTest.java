package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.testing.RawClient;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway at its file-descriptor limit ({@code EMFILE}), in a child process started with
 * {@code ulimit -n 256}: idle client connections fill its descriptor table, then requests on them need an
 * upstream socket the process cannot open. That is the gateway's own overload: each such request is retried
 * once and then answered 503 {@code gateway_overloaded} with {@code Retry-After}, counted; it is never
 * "upstream refused", and the healthy upstream is never marked down (it used to be: 720 of 2,000 streams
 * reported as refused and {@code /readyz} down).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GatewayFdLimitTest {
  static final int FD_LIMIT = 256;
  /** More than the limit: the gateway accepts until EMFILE, the rest wait in the listen backlog. */
  static final int IDLE_CONNECTIONS = 400;
  /** Requests sent on the first, accepted connections, while no descriptor is free. */
  static final int REQUESTS = 40;
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @TempDir
  Path dir;

  @Test
  void atTheDescriptorLimitRequestsGet503GatewayOverloadedAndTheUpstreamStaysHealthy() throws Exception {
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0)) {
      int port = ChildProcesses.freeLoopbackPort();
      Process gateway = startGateway(port, sim.port());
      List<Socket> idle = new ArrayList<>();
      try {
        awaitHealthy(port, gateway);
        for (int i = 0; i < IDLE_CONNECTIONS; i++) {
          Socket s = new Socket();
          s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
          s.setSoTimeout(30_000);
          idle.add(s);
        }
        Thread.sleep(1_500); // the gateway accepts until its table is full (then pauses accepting for 1 s)
        for (int i = 0; i < REQUESTS; i++) {
          OutputStream out = idle.get(i).getOutputStream();
          byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
          out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + "X-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=3\r\nContent-Length: " + body.length + "\r\n\r\n")
              .getBytes(StandardCharsets.UTF_8));
          out.write(body);
          out.flush();
        }
        for (int i = 0; i < REQUESTS; i++) {
          String response = readResponse(idle.get(i));
          assertThat(response).as("response %d; gateway log:\n%s", i, log()).startsWith("HTTP/1.1 503")
              .containsIgnoringCase("retry-after: 1")
              .containsIgnoringCase("content-type: application/json")
              .contains("\"code\":\"gateway_overloaded\"")
              .doesNotContain("upstream_unavailable");
        }
      } finally {
        for (Socket s : idle) {
          s.close();
        }
      }
      Thread.sleep(1_500); // descriptors freed; the gateway accepts again
      try (RawClient c = RawClient.get(port, "/readyz")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.status()).as("the upstream was never marked down: %s", c.all()).isEqualTo(200);
      }
      try (RawClient c = RawClient.post(port, "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=3")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(GatewayChurnTest.payload(c)).contains("data: [DONE]").doesNotContain("event: error");
      }
      String metrics;
      try (RawClient c = RawClient.get(port, "/metrics")) {
        assertThat(c.readToEnd()).isTrue();
        metrics = GatewayChurnTest.payload(c);
      }
      assertThat(metric(metrics, "tokenpipe_gateway_local_connect_failures_total")).as("each request: a try and one retry")
          .isGreaterThanOrEqualTo(2 * REQUESTS);
      assertThat(metric(metrics, "tokenpipe_gateway_errors_total{kind=\"gateway_overloaded\"}")).isEqualTo(REQUESTS);
      assertThat(metrics).doesNotContain("kind=\"upstream_refused\"");
      ChildProcesses.stopTree(gateway);
    }
  }

  private Process startGateway(int port, int upstreamPort) throws IOException {
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    String cp = asJars(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    String cmd = "ulimit -n " + FD_LIMIT + " && exec '" + java + "' --enable-native-access=ALL-UNNAMED -Xmx256m -cp '" + cp
        + "' dev.tokenpipe.Main serve --port " + port + " --upstream http://127.0.0.1:" + upstreamPort;
    return new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("gateway.log").toFile()).start();
  }

  /**
   * The class path with each class folder packed into a jar, as the gateway ships: a jar stays open, while
   * loading a class from a folder opens a file, which at the descriptor limit fails (NoClassDefFoundError).
   */
  private String asJars(String classPath) throws IOException {
    List<String> out = new ArrayList<>();
    int n = 0;
    for (String entry : classPath.split(File.pathSeparator)) {
      Path p = Path.of(entry);
      if (!Files.isDirectory(p)) {
        out.add(entry);
        continue;
      }
      Path jar = dir.resolve("classes-" + n++ + ".jar");
      try (var zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(jar)); var files = Files.walk(p)) {
        for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
          zip.putNextEntry(new java.util.zip.ZipEntry(p.relativize(f).toString().replace(File.separatorChar, '/')));
          Files.copy(f, zip);
          zip.closeEntry();
        }
      }
      out.add(jar.toString());
    }
    return String.join(File.pathSeparator, out);
  }

  private void awaitHealthy(int port, Process gateway) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      assertThat(gateway.isAlive()).as("gateway running: %s", log()).isTrue();
      try (RawClient c = RawClient.get(port, "/healthz")) {
        if (c.readToEnd() && c.status() == 200) {
          return;
        }
      } catch (IOException notYet) {
        Thread.sleep(100);
      }
    }
    throw new AssertionError("gateway did not start: " + log());
  }

  private String log() throws IOException {
    Path p = dir.resolve("gateway.log");
    return Files.exists(p) ? Files.readString(p) : "";
  }

  /** One whole response with a Content-Length body (the gateway's own error responses). */
  private static String readResponse(Socket s) throws IOException {
    StringBuilder sb = new StringBuilder();
    byte[] buf = new byte[8192];
    while (true) {
      String text = sb.toString();
      int headEnd = text.indexOf("\r\n\r\n");
      if (headEnd >= 0) {
        Matcher m = Pattern.compile("(?i)content-length: *(\\d+)").matcher(text.substring(0, headEnd));
        if (m.find() && text.length() - headEnd - 4 >= Integer.parseInt(m.group(1))) {
          return text;
        }
      }
      int n = s.getInputStream().read(buf);
      if (n < 0) {
        return sb.toString();
      }
      sb.append(new String(buf, 0, n, StandardCharsets.UTF_8));
    }
  }

  /** The value of an unlabelled series in a Prometheus text scrape, 0 when it is absent. */
  static long metric(String text, String series) {
    for (String line : text.split("\n")) {
      if (line.startsWith(series + " ")) {
        return (long) Double.parseDouble(line.substring(series.length() + 1).trim());
      }
    }
    return 0;
  }
}
