package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.testing.RawClient;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code --cors-origins}: preflights answered at the gateway, CORS headers on every response, streams in a browser. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayCorsTest {
  static final String CHROMIUM = "/usr/bin/chromium";
  static final String ALLOWED = "http://app.example:3000";
  static final String CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static FakeUpstream fake;

  @BeforeAll
  static void upstream() throws IOException {
    fake = new FakeUpstream().on("/v1/chat/completions", GatewayCorsTest::paced).on("/v1/models", (head, out, self) -> {
      out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: https://upstream.example\r\n"
          + "Content-Length: 2\r\n\r\n{}").getBytes(StandardCharsets.US_ASCII));
      out.flush();
    }).on("/v1/messages", (head, out, self) -> {
      String body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";
      out.write(("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nrequest-id: req_anth_1\r\n"
          + "retry-after: 2\r\nretry-after-ms: 1500\r\nx-should-retry: true\r\n"
          + "anthropic-ratelimit-requests-remaining: 0\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
    }).on("/v1/options-seen", (head, out, self) -> {
      out.write(("HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
    });
  }

  @AfterAll
  static void close() throws IOException {
    fake.close();
  }

  /** Five events 100 ms apart, with a request id and the upstream's own CORS answer in the head. */
  static void paced(String head, OutputStream out, FakeUpstream self) throws IOException {
    FakeUpstream.sseHead(out, "x-request-id: req-cors-1\r\nAccess-Control-Allow-Origin: https://upstream.example\r\n");
    try {
      for (int i = 0; i < 5; i++) {
        FakeUpstream.chunk(out, "data: {\"choices\":[{\"delta\":{\"content\":\"t" + i + "\"}}]}\n\n");
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    FakeUpstream.chunk(out, "data: [DONE]\n\n");
    FakeUpstream.end(out);
  }

  static GatewayServer gateway(List<String> origins) {
    return GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(fake.url()))
        .withHeartbeat(Duration.ofSeconds(15), Duration.ofSeconds(10)).withCorsOrigins(origins));
  }

  @Test
  void aPreflightIsAnsweredAtTheGateway() throws Exception {
    try (GatewayServer g = gateway(List.of(ALLOWED));
         RawClient c = RawClient.request(g.port(), "OPTIONS", "/v1/chat/completions", null, -1, "Origin: " + ALLOWED,
             "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, content-type")) {
      c.readUntil("\r\n\r\n"); // a 204 has no body and no length (RFC 9110 §8.6)
      assertThat(c.status()).as(c.all()).isEqualTo(204);
      assertThat(c.head()).doesNotContain("content-length").doesNotContain("transfer-encoding");
      assertThat(c.head()).contains("access-control-allow-origin: " + ALLOWED)
          .contains("access-control-allow-methods: get, head, post, put, patch, delete")
          .contains("access-control-allow-headers: authorization, content-type")
          .contains("access-control-max-age: 600").contains("vary: origin")
          .doesNotContain("access-control-allow-credentials");
    }
  }

  @Test
  void aPreflightFromAnotherOriginIsRefused() throws Exception {
    try (GatewayServer g = gateway(List.of(ALLOWED))) {
      RawClient c = RawClient.request(g.port(), "OPTIONS", "/v1/chat/completions", null, -1, "Origin: https://evil.example",
          "Access-Control-Request-Method: POST");
      JsonNode error = GatewayBadInputTest.errorOf(c, 403);
      assertThat(error.at("/error/code").asText()).isEqualTo("origin_not_allowed");
      assertThat(c.head()).doesNotContain("access-control-allow-origin");
    }
  }

  @Test
  void everyResponseCarriesTheGatewaysCorsHeadersNotTheUpstreams() throws Exception {
    try (GatewayServer g = gateway(List.of("*"))) {
      try (RawClient s = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "Origin: " + ALLOWED)) {
        assertThat(s.readToEnd()).isTrue();
        assertThat(s.body()).contains("data: [DONE]");
        assertThat(s.head()).contains("access-control-allow-origin: *").doesNotContain("upstream.example")
            .contains("access-control-expose-headers: x-request-id, request-id, retry-after");
      }
      try (RawClient m = RawClient.get(g.port(), "/v1/models", "Origin: " + ALLOWED)) {
        m.readToEnd();
        assertThat(m.head()).contains("access-control-allow-origin: *").doesNotContain("upstream.example");
      }
      try (RawClient e = RawClient.get(g.port(), "/nope", "Origin: " + ALLOWED)) {
        e.readToEnd();
        assertThat(e.status()).isEqualTo(404);
        assertThat(e.head()).contains("access-control-allow-origin: *");
      }
    }
  }

  @Test
  void withoutTheOptionTheUpstreamsCorsPassesThroughAndPreflightsAreForwarded() throws Exception {
    try (GatewayServer g = gateway(List.of())) {
      try (RawClient m = RawClient.get(g.port(), "/v1/models", "Origin: " + ALLOWED)) {
        m.readToEnd();
        assertThat(m.head()).contains("access-control-allow-origin: https://upstream.example");
      }
      try (RawClient o = RawClient.request(g.port(), "OPTIONS", "/v1/options-seen", null, -1, "Origin: " + ALLOWED,
          "Access-Control-Request-Method: POST")) {
        o.readToEnd();
        assertThat(o.status()).isEqualTo(405);
        assertThat(fake.lastHeads.get("/v1/options-seen")).startsWith("OPTIONS /v1/options-seen");
      }
    }
  }

  @Test
  void aPageOnAnotherOriginStreamsThroughTheGatewayInChromium(@TempDir Path dir) throws Exception {
    File chromium = new File(CHROMIUM);
    if (!chromium.canExecute()) {
      assertThat("true".equals(System.getenv("CI"))).as("chromium is required in CI: apt-get install -y chromium").isFalse();
      assumeTrue(false, "chromium not installed (apt-get install -y chromium); skipping the browser check");
    }
    CompletableFuture<String> result = new CompletableFuture<>();
    HttpServer page = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    int pagePort = page.getAddress().getPort();
    try (GatewayServer g = gateway(List.of("http://127.0.0.1:" + pagePort))) {
      String html = """
          <!doctype html><html><body><script>
          (async () => {
            const out = {};
            try {
              const res = await fetch('http://127.0.0.1:%d/v1/chat/completions', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer sk-test'},
                body: JSON.stringify({model: 'm', stream: true, messages: [{role: 'user', content: 'hi'}]})});
              out.status = res.status;
              out.requestId = res.headers.get('x-request-id');
              const reader = res.body.getReader();
              const dec = new TextDecoder();
              let text = '';
              out.reads = 0;
              for (;;) {
                const {done, value} = await reader.read();
                if (done) break;
                out.reads++;
                text += dec.decode(value, {stream: true});
              }
              out.text = text;
            } catch (e) {
              out.error = String(e);
            }
            await fetch('/result', {method: 'POST', body: JSON.stringify(out)});
          })();
          </script></body></html>
          """.formatted(g.port());
      page.createContext("/", ex -> {
        if (ex.getRequestURI().getPath().equals("/result")) {
          result.complete(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
          ex.sendResponseHeaders(204, -1);
        } else {
          byte[] b = html.getBytes(StandardCharsets.UTF_8);
          ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
          ex.sendResponseHeaders(200, b.length);
          ex.getResponseBody().write(b);
        }
        ex.close();
      });
      page.start();
      Path profile = Files.createDirectories(dir.resolve("chromium-profile"));
      Process p = new ProcessBuilder(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--user-data-dir=" + profile, "http://127.0.0.1:" + pagePort + "/")
          .redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
      try {
        String json = result.get(90, TimeUnit.SECONDS);
        JsonNode out = Json.MAPPER.readTree(json);
        assertThat(out.path("error").isMissingNode()).as(json).isTrue();
        assertThat(out.get("status").asInt()).isEqualTo(200);
        assertThat(out.get("requestId").asText()).as("an exposed upstream header is readable").isEqualTo("req-cors-1");
        String text = out.get("text").asText();
        for (int i = 0; i < 5; i++) {
          assertThat(text).contains("\"content\":\"t" + i + "\"");
        }
        assertThat(text).endsWith("data: [DONE]\n\n");
        // Five events 100 ms apart: a buffered relay would hand the page one read at the end.
        assertThat(out.get("reads").asInt()).as(json).isGreaterThanOrEqualTo(3);
      } finally {
        ChildProcesses.stopTree(p);
        page.stop(0);
      }
    }
  }

  /**
   * A browser script reads only the headers a response exposes. The official SDKs' retry logic reads
   * {@code x-should-retry} and {@code retry-after-ms} (openai and @anthropic-ai/sdk, client.mjs), and the Anthropic
   * SDK its request id from {@code request-id} and its limits from {@code anthropic-ratelimit-*}: each is exposed,
   * not only OpenAI's names.
   */
  @Test
  void theHeadersBothSdksReadAreExposedToTheBrowser() throws Exception {
    try (GatewayServer g = gateway(List.of(ALLOWED))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/messages",
          "{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":[]}", "Origin: " + ALLOWED)) {
        c.readToEnd();
        assertThat(c.head()).contains("request-id: req_anth_1", "x-should-retry: true", "retry-after-ms: 1500");
        String exposed = c.head().lines().filter(l -> l.startsWith("access-control-expose-headers:")).findFirst()
            .orElseThrow().substring("access-control-expose-headers:".length());
        List<String> names = java.util.Arrays.stream(exposed.split(",")).map(String::trim).toList();
        assertThat(names).contains("x-request-id", "request-id", "retry-after", "retry-after-ms", "x-should-retry",
            "x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-input-tokens-remaining",
            "anthropic-ratelimit-output-tokens-remaining");
      }
    }
  }
}
