package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.testing.SimExtension;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Without --model, bench asks the target's GET /v1/models and records how the model was chosen. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BenchModelDiscoveryTest {
  @RegisterExtension
  static final SimExtension sim = new SimExtension(new SimConfig(List.of("my-model"), 1 << 20,
      SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides("ttft=10ms itl=2ms tokens=8")), null, 0));

  @TempDir Path dir;

  private BenchCli bench(Path json, String... args) {
    String[] all = new String[args.length + 7];
    all[0] = "bench";
    all[1] = "--progress=none";
    all[2] = "--json=" + json;
    all[3] = "-n";
    all[4] = "2";
    all[5] = "-c";
    all[6] = "1";
    System.arraycopy(args, 0, all, 7, args.length);
    return BenchCli.run(all);
  }

  @Test
  void discoversTheServedModel() throws Exception {
    Path json = dir.resolve("d.json");
    BenchCli r = bench(json, sim.chatUrl());
    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    assertThat(r.err()).doesNotContain("/v1/models");
    JsonNode c = BenchCli.json(json).path("config");
    assertThat(c.path("model").asText()).isEqualTo("my-model");
    assertThat(c.path("model_source").asText()).isEqualTo("discovered");
    assertThat(r.out()).contains("model     my-model (discovered)");
  }

  @Test
  void flagIsRecordedAsFlag() throws Exception {
    Path json = dir.resolve("f.json");
    BenchCli r = bench(json, "--model", "my-model", sim.url("/v1/completions"));
    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    JsonNode c = BenchCli.json(json).path("config");
    assertThat(c.path("model").asText()).isEqualTo("my-model");
    assertThat(c.path("model_source").asText()).isEqualTo("flag");
  }

  @Test
  void rawBodyIsNotDiscovered() throws Exception {
    Path json = dir.resolve("raw.json");
    BenchCli r = bench(json, "-d", "{\"model\":\"my-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        sim.chatUrl());
    assertThat(r.exitCode()).as(r.out() + r.err()).isZero();
    assertThat(r.err()).doesNotContain("/v1/models");
    assertThat(BenchCli.json(json).path("config").path("model_source").asText()).isEqualTo("default");
  }

  @Test
  void endpointWithoutModelListFallsBackWithOneNote() throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      byte[] b = "{\"detail\":\"Not Found\"}".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(404, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    server.start();
    try {
      Path json = dir.resolve("n.json");
      BenchCli r = bench(json, "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/chat/completions");
      assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
      assertThat(r.err().lines().filter(l -> l.startsWith("model: ")).toList())
          .containsExactly("model: tokenpipe-sim (GET /v1/models failed: HTTP 404; pass --model)");
      JsonNode c = BenchCli.json(json).path("config");
      assertThat(c.path("model").asText()).isEqualTo("tokenpipe-sim");
      assertThat(c.path("model_source").asText()).isEqualTo("default");
    } finally {
      server.stop(0);
    }
  }

  @Test
  void aRefusedKeyIsTheOneLineNotAModelHint() throws Exception {
    // A wrong key: /v1/models answers 401 like every request, and "pass --model" sent the user the wrong way.
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      byte[] b = "{\"error\":{\"message\":\"Incorrect API key provided.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}"
          .getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(401, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    server.start();
    try {
      Path json = dir.resolve("k.json");
      BenchCli r = bench(json, "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/chat/completions");
      assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
      assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
      assertThat(r.err()).contains("HTTP 401: Incorrect API key provided.").doesNotContain("--model");
      assertThat(BenchCli.json(json).path("config").path("model_source").asText()).isEqualTo("default");
    } finally {
      server.stop(0);
    }
  }
}
