package dev.tokenpipe.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Jib image tarball ({@code ./mvnw -Pimage -DskipTests package}, run by .ci/run): its config
 * (non-root user, port, entrypoint), and the image itself, unpacked and started with chroot as
 * that user, serving a stream. No Docker daemon is involved.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ContainerImageTest {
  static final boolean CI = "true".equals(System.getenv("CI"));
  static Path tar;
  static JsonNode config;
  @TempDir static Path work;

  @BeforeAll
  static void unpack() throws Exception {
    tar = Path.of(System.getProperty("tokenpipe.build.dir", "target"), "tokenpipe-image.tar");
    if (!Files.exists(tar)) {
      if (CI) {
        fail("missing " + tar + ": build it with ./mvnw -Pimage -DskipTests package (.ci/run does)");
      }
      Assumptions.abort("no image tarball at " + tar + " (./mvnw -Pimage -DskipTests package builds it)");
    }
    run(List.of("tar", "-xf", tar.toString(), "-C", work.toString()));
    JsonNode manifest = Json.MAPPER.readTree(work.resolve("manifest.json").toFile()).get(0);
    config = Json.MAPPER.readTree(work.resolve(manifest.get("Config").asText()).toFile()).get("config");
    Path root = Files.createDirectories(work.resolve("rootfs"));
    for (JsonNode layer : manifest.get("Layers")) {
      run(List.of("tar", "-xzf", work.resolve(layer.asText()).toString(), "-C", root.toString()));
    }
  }

  @Test
  void imageRunsAsNonRootAndExposesTheGatewayPort() {
    assertThat(config.get("User").asText()).isEqualTo("65532:65532");
    assertThat(config.at("/ExposedPorts").has("8080/tcp")).isTrue();
    assertThat(config.at("/Entrypoint/0").asText()).isEqualTo("/opt/java/bin/java");
    // The collector the launcher's measurement chose, not the container's default (Serial under 1.8 GB or on one CPU).
    assertThat(config.get("Entrypoint")).extracting(JsonNode::asText).contains("-XX:+UseZGC", "-XX:MaxRAMPercentage=75");
    assertThat(config.at("/Cmd/0").asText()).isEqualTo("serve");
    Path root = work.resolve("rootfs");
    assertThat(root.resolve("opt/java/bin/java")).isExecutable();
    assertThat(root.resolve("app/libs")).isDirectory();
    assertThat(root.resolve("etc/passwd")).content().contains("nonroot:x:65532:65532");
  }

  @Test
  void theImageServesAStreamAsItsUser() throws Exception {
    boolean root = "root".equals(System.getProperty("user.name"));
    if (!root) {
      Assumptions.assumeTrue(CI, "needs root for chroot; skipped outside CI");
      fail("the image run check needs root (chroot, mount -t proc)");
    }
    Path rootfs = work.resolve("rootfs");
    Path proc = Files.createDirectories(rootfs.resolve("proc"));
    run(List.of("mount", "-t", "proc", "proc", proc.toString()));
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    List<String> cmd = new ArrayList<>(List.of("chroot", "--userspec=65532:65532", rootfs.toString()));
    config.get("Entrypoint").forEach(a -> cmd.add(a.asText()));
    cmd.addAll(List.of("serve", "--host", "127.0.0.1", "--port", String.valueOf(port)));
    Process gw = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(work.resolve("gw.log").toFile()).start();
    try {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      URI health = URI.create("http://127.0.0.1:" + port + "/healthz");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      HttpResponse<String> ok = null;
      while (ok == null && System.nanoTime() < deadline && gw.isAlive()) {
        try {
          ok = http.send(HttpRequest.newBuilder(health).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException notYet) {
          Thread.sleep(200);
        }
      }
      assertThat(ok).as("gateway in the image answered /healthz; log: %s", Files.readString(work.resolve("gw.log"))).isNotNull();
      HttpResponse<String> stream = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/stream"))
          .header("X-Tokenpipe-Sim", "ttft=10ms itl=5ms tokens=5")
          .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"hi\"}")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(stream.statusCode()).isEqualTo(200);
      assertThat(stream.body()).contains("data: [DONE]");
      assertThat(stream.body().split("\nid: tp\\.|^id: tp\\.", -1).length).isGreaterThanOrEqualTo(6);
    } finally {
      gw.destroy();
      if (!gw.waitFor(10, TimeUnit.SECONDS)) {
        gw.destroyForcibly();
      }
      run(List.of("umount", "-l", proc.toString()));
    }
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " failed: " + out);
    }
  }
}
