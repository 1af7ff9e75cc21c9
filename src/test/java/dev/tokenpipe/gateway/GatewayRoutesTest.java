package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.doctor.ProxyProcess;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.testing.RawClient;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Which paths the gateway serves, proxies or refuses, and what a 405 allows on each. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayRoutesTest {
  static final String NGINX = "/usr/sbin/nginx";

  /** An NGINX upstream with a private /admin beside /v1/, logging every request it gets. */
  static final String NGINX_UPSTREAM = """
      daemon off;
      master_process off;
      worker_processes 1;
      pid ${dir}/nginx.pid;
      error_log ${dir}/error.log warn;
      events { worker_connections 64; }
      http {
          access_log ${dir}/access.log;
          client_body_temp_path ${dir}/client_body;
          proxy_temp_path ${dir}/proxy_temp;
          fastcgi_temp_path ${dir}/fastcgi_temp;
          uwsgi_temp_path ${dir}/uwsgi_temp;
          scgi_temp_path ${dir}/scgi_temp;
          server {
              listen 127.0.0.1:${port};
              location /v1/ { default_type application/json; return 200 '{"where":"v1","uri":"$uri"}'; }
              location /admin { default_type text/plain; return 200 'ADMIN-REACHED'; }
              location / { default_type text/plain; return 404 'elsewhere'; }
          }
      }
      """;

  @Test
  void pathsThatLeaveTheProxiedPrefixNeverReachTheUpstream() throws Exception {
    ProxyProcess.requireBinary(NGINX, "nginx");
    try (ProxyProcess nginx = ProxyProcess.startWithText("nginx-upstream", NGINX_UPSTREAM, "nginx.conf", 0, Map.of(),
            List.of(NGINX, "-e", "${dir}/startup-error.log", "-c", "${config}", "-p", "${dir}"));
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
             .withUpstreams(List.of("http://127.0.0.1:" + nginx.port())))) {
      // NGINX itself resolves these to its /admin: proof that forwarding them verbatim would reach it.
      try (RawClient direct = RawClient.get(nginx.port(), "/v1/%2e%2e/admin")) {
        direct.readToEnd();
        assertThat(direct.body()).isEqualTo("ADMIN-REACHED");
      }
      for (String path : List.of("/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin", "/v1/.%2e/admin",
          "/v1/./../admin", "/v1/chat/../../admin", "/v1//../../admin", "/v1/..%2fadmin", "/v1/%2e%2e%2fadmin",
          "/v1/..;/admin", "/v1/..%5cadmin", "/v1/%00/models", "/v1/%zz/models", "/v1/../api/tags?x=1")) {
        JsonNode error = GatewayBadInputTest.errorOf(RawClient.get(g.port(), path), 400);
        assertThat(error.at("/error/code").asText()).as(path).isEqualTo("invalid_path");
      }
      // Dot segments that stay inside the prefix are resolved, and the upstream gets the clean path.
      try (RawClient ok = RawClient.get(g.port(), "/v1/chat/./../models?limit=2")) {
        ok.readToEnd();
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.body()).isEqualTo("{\"where\":\"v1\",\"uri\":\"/v1/models\"}");
      }
      String accessLog = nginx.log();
      assertThat(accessLog).contains("GET /v1/%2e%2e/admin").contains("GET /v1/models?limit=2");
      assertThat(accessLog.lines().filter(l -> l.contains("admin")))
          .as("only the direct request reached /admin").hasSize(1);
    }
  }

  @Test
  void ollamasNativeApiIsProxiedToTheUpstreamBase() throws Exception {
    try (FakeUpstream fake = new FakeUpstream()
            .on("/api/chat", (head, out, self) -> ndjson(out))
            .on("/api/tags", (head, out, self) -> json(out, "{\"models\":[{\"name\":\"llama3\"}]}"));
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(fake.url()))
             .withHeartbeat(Duration.ofSeconds(15), Duration.ofSeconds(10)))) {
      try (RawClient chat = RawClient.post(g.port(), "/api/chat", "{\"model\":\"llama3\",\"messages\":[]}")) {
        assertThat(chat.readToEnd()).isTrue();
        assertThat(chat.status()).isEqualTo(200);
        assertThat(chat.head()).contains("content-type: application/x-ndjson");
        assertThat(chat.body()).contains("{\"message\":{\"content\":\"Hel\"},\"done\":false}\n")
            .contains("{\"done\":true}\n");
      }
      try (RawClient tags = RawClient.get(g.port(), "/api/tags")) {
        tags.readToEnd();
        assertThat(tags.status()).isEqualTo(200);
        assertThat(tags.body()).contains("llama3");
      }
      assertThat(fake.lastHeads.get("/api/chat")).startsWith("POST /api/chat HTTP/1.1");
    }
  }

  /**
   * A proxied path of no token API (a model list) is not a chat: it was counted as
   * {@code requests_total{api="openai-chat"}} and logged {@code api=openai-chat}, one more per bench run (its model
   * discovery), and Ollama's {@code /api/tags} as {@code ollama}.
   */
  @Test
  void aPathOfNoTokenApiIsCountedAsOtherNotAsAChat() throws Exception {
    try (FakeUpstream fake = new FakeUpstream()
            .on("/v1/models", (head, out, self) -> json(out, "{\"object\":\"list\",\"data\":[]}"))
            .on("/api/tags", (head, out, self) -> json(out, "{\"models\":[]}"));
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(fake.url())));
         AccessLogCapture log = new AccessLogCapture()) {
      for (String path : List.of("/v1/models", "/api/tags")) {
        try (RawClient c = RawClient.get(g.port(), path)) {
          assertThat(c.readToEnd()).isTrue();
          assertThat(c.status()).isEqualTo(200);
        }
        assertThat(log.await(path, Duration.ofSeconds(5))).as(path).containsEntry("api", "other");
      }
      assertThat(g.metrics().scrape()).contains("tokenpipe_gateway_requests_total{api=\"other\",outcome=\"done\"} 2")
          .doesNotContain("api=\"openai-chat\"").doesNotContain("api=\"ollama\"");
    }
  }

  /** The token API's label is its own, though the gateway asks the upstream for a chat completion. */
  @Test
  void theTokenApiIsCountedAsStream() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0));
         AccessLogCapture log = new AccessLogCapture()) {
      try (RawClient c = RawClient.post(g.port(), "/v1/stream", "{\"prompt\":\"hi\",\"max_tokens\":2}")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.status()).isEqualTo(200);
      }
      assertThat(log.await("/v1/stream", Duration.ofSeconds(5))).containsEntry("api", "stream");
      assertThat(g.metrics().scrape()).contains("tokenpipe_gateway_requests_total{api=\"stream\",outcome=\"done\"} 1");
    }
  }

  @Test
  void requestPathsAreNormalisedOrRefused() {
    assertThat(RequestPath.parse("/v1/models?x=/../y")).isEqualTo(new RequestPath("/v1/models", "/v1/models?x=/../y"));
    assertThat(RequestPath.parse("/v1/a/./b/../c")).isEqualTo(new RequestPath("/v1/a/c", "/v1/a/c"));
    assertThat(RequestPath.parse("/v1/a/..")).isEqualTo(new RequestPath("/v1/", "/v1/"));
    assertThat(RequestPath.parse("/v1/meta-llama%2FLlama-3")).isEqualTo(
        new RequestPath("/v1/meta-llama%2FLlama-3", "/v1/meta-llama%2FLlama-3"));
    assertThat(RequestPath.parse("http://gw:8080/v1/models").path()).isEqualTo("/v1/models");
    for (String bad : List.of("/v1/../admin", "/v1/%2E%2e/admin", "/..", "/v1/x/%2e%2e%2f..", "/v1/..;x", "/v1/%5c",
        "/v1/%", "/v1/%2", "/v1/%g0")) {
      assertThatThrownBy(() -> RequestPath.parse(bad)).as(bad).isInstanceOfSatisfying(ApiException.class,
          e -> assertThat(e.error().code()).isEqualTo("invalid_path"));
    }
  }

  @Test
  void ollamaChatAndGenerateStreamUnlessTheBodySaysNot() {
    assertThat(Route.asksForStream("/api/chat", post("{\"model\":\"m\"}"))).isTrue();
    assertThat(Route.asksForStream("/api/generate", post("{\"model\":\"m\",\"stream\":true}"))).isTrue();
    assertThat(Route.asksForStream("/api/chat", post("{\"model\":\"m\",\"stream\":false}"))).isFalse();
    assertThat(Route.asksForStream("/api/tags", post("{}"))).isFalse();
    assertThat(Route.asksForStream("/v1/chat/completions", post("{\"model\":\"m\"}"))).isFalse();
    assertThat(Route.asksForStream("/v1/chat/completions", post("{\"stream\":true}"))).isTrue();
  }

  /**
   * What {@link Route#asksForStream} answered when it built the body's tree: the oracle of the streaming read. From
   * the body's bytes, as the gateway reads it: a leading UTF-8 byte order mark is skipped (RFC 8259 §8.1 lets a
   * parser ignore it; Python's {@code json.loads} of bytes, behind vLLM and FastAPI, does).
   */
  private static boolean byTree(String path, String body) {
    boolean byDefault = path.equals("/api/chat");
    try {
      JsonNode n = dev.tokenpipe.openai.Json.MAPPER.readTree(body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      JsonNode stream = n == null ? null : n.get("stream");
      return stream == null || !stream.isBoolean() ? byDefault : stream.asBoolean();
    } catch (Exception e) {
      return false;
    }
  }

  @Test
  void theStreamFlagIsReadAsTheBodysTreeWouldAnswerForAnyBodyWholeCutOrMangled() {
    List<String> bodies = List.of(
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"stream\":true}],\"stream\":false}", "{\"options\":{\"stream\":true}}",
        "{\"stream\":true,\"stream\":false}", "{\"stream\":false,\"stream\":true}", "{\"stream\":\"true\"}",
        "{\"stream\":1}", "{\"stream\":null}", "{\"stream\":{\"a\":[1,{\"stream\":true}]}}", "[{\"stream\":true}]",
        "true", "5", "\"stream\"", "", "   ", "{}", "{\"stream\":true} trailing", "{\"stream\":true}{\"stream\":false}",
        "\uFEFF{\"stream\":true}", "{\"str\\u0065am\":true}", "{'stream':true}", "{\"stream\":tru}");
    java.util.SplittableRandom r = new java.util.SplittableRandom(2);
    String mangle = "{}[]\":,truefalsn0\\ x";
    int checked = 0;
    for (String body : bodies) {
      for (int cut = 0; cut <= body.length(); cut++) { // every prefix: a body cut anywhere
        checked += check(body.substring(0, cut));
      }
      for (int i = 0; i < 300 && !body.isEmpty(); i++) { // one character replaced, inserted or dropped
        int at = r.nextInt(body.length());
        char c = mangle.charAt(r.nextInt(mangle.length()));
        checked += check(switch (r.nextInt(3)) {
          case 0 -> body.substring(0, at) + c + body.substring(at + 1);
          case 1 -> body.substring(0, at) + c + body.substring(at);
          default -> body.substring(0, at) + body.substring(at + 1);
        });
      }
    }
    assertThat(checked).isGreaterThan(5_000);
  }

  private static int check(String body) {
    for (String path : List.of("/api/chat", "/v1/chat/completions")) {
      assertThat(Route.asksForStream(path, post(body))).as("%s %s", path, body).isEqualTo(byTree(path, body));
    }
    return 1;
  }

  @Test
  void a405NamesTheMethodsOfItsRoute() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0))) {
      assertThat(allowOf(RawClient.get(g.port(), "/v1/stream"))).isEqualTo("post");
      assertThat(allowOf(RawClient.post(g.port(), "/healthz", "{}"))).isEqualTo("get, head");
      assertThat(allowOf(RawClient.post(g.port(), "/metrics", "{}"))).isEqualTo("get, head");
      assertThat(allowOf(RawClient.post(g.port(), "/tokenpipe/probe", "{}"))).isEqualTo("get");
    }
  }

  @Test
  void aPathOutsideTheRoutesIs404() throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0))) {
      JsonNode error = GatewayBadInputTest.errorOf(RawClient.get(g.port(), "/admin"), 404);
      assertThat(error.at("/error/code").asText()).isEqualTo("unknown_url");
    }
  }

  private static String allowOf(RawClient c) throws Exception {
    try (c) {
      c.readToEnd();
      assertThat(c.status()).as(c.all()).isEqualTo(405);
      return c.head().lines().filter(l -> l.startsWith("allow:")).findFirst().orElse("allow: (none)").substring(6).trim();
    }
  }

  @Test
  void bytesThatAreNotUtf8InAStringDoNotHideTheStreamFlag() {
    // What the String decode read them as (each such byte a replacement character): Ollama's Go server accepts
    // them and streams, so a Latin-1 "é" in a prompt must not turn a stream into a buffered answer.
    List<byte[]> bodies = List.of(
        bytes("{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"caf", 0xE9, "\"}]}"),
        bytes("{\"model\":\"m\",\"messages\":[{\"content\":\"x", 0xFF, "\"}]}"),
        bytes("{\"stream\":true,\"prompt\":\"", 0xE2, 0x82, "\"}"),
        bytes("{\"stream\":true,\"prompt\":\"", 0xC0, 0xAF, "\"}"),
        bytes("{\"k", 0xFF, "\":1,\"stream\":false}"),
        bytes("{\"stream\":true,\"prompt\":\"", 0xED, 0xA0, 0x80, "\"}"));
    for (byte[] body : bodies) {
      String decoded = new String(body, StandardCharsets.UTF_8);
      for (String path : List.of("/api/chat", "/v1/chat/completions")) {
        DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/",
            Unpooled.wrappedBuffer(body));
        assertThat(Route.asksForStream(path, req)).as("%s %s", path, decoded).isEqualTo(byTree(path, decoded));
      }
    }
    assertThat(Route.asksForStream("/v1/chat/completions", new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
        HttpMethod.POST, "/", Unpooled.wrappedBuffer(bodies.get(0))))).isTrue();
  }

  /** Text and single bytes (ints), concatenated. */
  private static byte[] bytes(Object... parts) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (Object part : parts) {
      if (part instanceof Integer b) {
        out.write(b);
      } else {
        out.writeBytes(part.toString().getBytes(StandardCharsets.UTF_8));
      }
    }
    return out.toByteArray();
  }

  private static DefaultFullHttpRequest post(String body) {
    return new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/",
        Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
  }

  private static void ndjson(OutputStream out) throws java.io.IOException {
    out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    FakeUpstream.chunk(out, "{\"message\":{\"content\":\"Hel\"},\"done\":false}\n");
    FakeUpstream.chunk(out, "{\"message\":{\"content\":\"lo\"},\"done\":false}\n");
    FakeUpstream.chunk(out, "{\"done\":true}\n");
    FakeUpstream.end(out);
  }

  private static void json(OutputStream out, String body) throws java.io.IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    out.write(b);
    out.flush();
  }
}
