package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.tokenpipe.client.ModelDiscovery.Choice;
import dev.tokenpipe.client.ModelDiscovery.Source;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.testing.SimExtension;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Model discovery over real sockets: the sim's /v1/models, and every way it falls back to the default. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ModelDiscoveryTest {
  @RegisterExtension
  static final SimExtension sim = new SimExtension(
      new SimConfig(List.of("my-model", "other-model"), 1 << 20, SimConfig.defaults().defaultProfile(), null, 0));

  private static final List<Map.Entry<String, String>> NO_HEADERS = List.of();

  @Test
  void flagWinsWithoutAsking() {
    Choice c = ModelDiscovery.choose("given", true, HttpTarget.parse("http://127.0.0.1:1/v1/chat/completions"), NO_HEADERS);
    assertThat(c).isEqualTo(new Choice("given", Source.FLAG, null));
  }

  @Test
  void firstListedModelOfTheTarget() {
    Choice c = ModelDiscovery.choose(null, true, HttpTarget.parse(sim.chatUrl()), NO_HEADERS);
    assertThat(c).isEqualTo(new Choice("my-model", Source.DISCOVERED, null));
    assertThat(Source.DISCOVERED.key()).isEqualTo("discovered");
  }

  @Test
  void notGeneratedMeansDefaultWithoutAFailure() {
    Choice c = ModelDiscovery.choose(null, false, HttpTarget.parse(sim.chatUrl()), NO_HEADERS);
    assertThat(c).isEqualTo(new Choice(ModelDiscovery.DEFAULT_MODEL, Source.DEFAULT, null));
    assertThat(ClientApi.parse("stream", "/").namesModel()).isFalse();
    assertThat(ClientApi.parse("raw", "/v1/chat/completions").namesModel()).isFalse();
    assertThat(ClientApi.parse("openai-completions", "/").namesModel()).isTrue();
    assertThat(ClientApi.parse(null, "/v1/messages").namesModel()).isTrue();
  }

  @Test
  void sendsTheRunsHeadersAndPathIsV1Models() throws Exception {
    AtomicReference<String> auth = new AtomicReference<>();
    AtomicReference<String> path = new AtomicReference<>();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      auth.set(ex.getRequestHeaders().getFirst("Authorization"));
      path.set(ex.getRequestURI().getPath());
      respond(ex, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"served\"}]}");
    });
    server.start();
    try {
      List<Map.Entry<String, String>> hs = List.of(
          new AbstractMap.SimpleImmutableEntry<>("Accept-Encoding", "gzip, deflate"),
          new AbstractMap.SimpleImmutableEntry<>("Authorization", "Bearer sk-test"));
      Choice c = ModelDiscovery.choose(null, true,
          HttpTarget.parse("http://127.0.0.1:" + server.getAddress().getPort() + "/prefix/v1/chat/completions"), hs);
      assertThat(c.model()).isEqualTo("served");
      assertThat(auth.get()).isEqualTo("Bearer sk-test");
      assertThat(path.get()).isEqualTo("/v1/models");
    } finally {
      server.stop(0);
    }
  }

  @Test
  void fallsBackOnNotFoundNotJsonEmptyListAndRefused() throws Exception {
    assertThat(failureOf(404, "{\"detail\":\"Not Found\"}")).isEqualTo("HTTP 404");
    assertThat(failureOf(200, "<html>hello</html>")).isEqualTo("response is not JSON");
    assertThat(failureOf(200, "{\"object\":\"list\",\"data\":[]}")).isEqualTo("no models listed");
    int closed;
    try (ServerSocket s = new ServerSocket(0)) {
      closed = s.getLocalPort();
    }
    Choice c = ModelDiscovery.choose(null, true, HttpTarget.parse("http://127.0.0.1:" + closed + "/v1/chat/completions"), NO_HEADERS);
    assertThat(c.model()).isEqualTo(ModelDiscovery.DEFAULT_MODEL);
    assertThat(c.source()).isEqualTo(Source.DEFAULT);
    assertThat(c.failure()).isEqualTo("cannot connect to 127.0.0.1:" + closed);
  }

  @Test
  void silentServerFallsBackWithinTheDeadline() throws Exception {
    try (ServerSocket silent = new ServerSocket(0)) { // accepts (backlog) but never answers
      long start = System.nanoTime();
      Choice c = ModelDiscovery.choose(null, true,
          HttpTarget.parse("http://127.0.0.1:" + silent.getLocalPort() + "/v1/chat/completions"), NO_HEADERS);
      long millis = (System.nanoTime() - start) / 1_000_000;
      assertThat(c.source()).isEqualTo(Source.DEFAULT);
      assertThat(c.failure()).isEqualTo("no answer within 3 s");
      assertThat(millis).isBetween(2_500L, 5_000L);
    }
  }

  private static String failureOf(int status, String body) throws IOException {
    HttpServer server = server(status, body);
    server.start();
    try {
      Choice c = ModelDiscovery.choose(null, true,
          HttpTarget.parse("http://127.0.0.1:" + server.getAddress().getPort() + "/v1/chat/completions"), NO_HEADERS);
      assertThat(c.model()).isEqualTo(ModelDiscovery.DEFAULT_MODEL);
      assertThat(c.source()).isEqualTo(Source.DEFAULT);
      return c.failure();
    } finally {
      server.stop(0);
    }
  }

  /** A tiny HTTP server answering every path with {@code status} and {@code body}. */
  static HttpServer server(int status, String body) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> respond(ex, status, body));
    return server;
  }

  private static void respond(com.sun.net.httpserver.HttpExchange ex, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }
}
