package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The answers the connection's own handlers give before a request reaches the router (413 from the body
 * aggregator, 408 from the request clock) are in the shape of the API the request's path speaks, like every
 * other answer of the gateway (docs/serve.md "APIs"). Over raw sockets: status, content type, shape, and the
 * connection ends with a close, not a hang or a reset. The Anthropic and Ollama cases failed before the fix (both
 * answers were OpenAI-shaped on every path); the OpenAI cases and those without a path guard the default shape.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayErrorShapeTest {
  static final int MAX_BODY = 4096;
  static final Duration REQUEST_READ = Duration.ofSeconds(1); // also the idle limit: the keep-alive test writes within it
  /** Longest wait for the close: the 408 after {@link #REQUEST_READ}, the answer, then FIN. */
  static final int CLOSE_WITHIN_MS = 5_000;

  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withLimits(MAX_BODY, 10)
        .withTimeouts(Duration.ofSeconds(120), Duration.ofSeconds(60), Duration.ofSeconds(30), REQUEST_READ));
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"/v1/chat/completions, openai", "/v1/messages, anthropic", "/api/chat, ollama"})
  void aBodyOverMaxBodyIs413InThePathsShape(String path, String api) throws Exception {
    String body = "{\"prompt\":\"" + "x".repeat(2 * MAX_BODY) + "\"}";
    Answer a = exchange(head(path, body.length(), "") + body);
    a.assertIs(413, api, "request_too_large", "request_too_large");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"/v1/chat/completions, openai", "/v1/messages, anthropic", "/api/chat, ollama"})
  void anExpectContinueOverMaxBodyIs413InThePathsShape(String path, String api) throws Exception {
    Answer a = exchange(head(path, 10 * MAX_BODY, "Expect: 100-continue\r\n"));
    a.assertIs(413, api, "request_too_large", "request_too_large");
  }

  /**
   * An unknown expectation with nothing running before it is answered at once (its turn is now), whether its body
   * follows or not: here it does not, and the 417 must not wait for it (nor for the 408).
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"/v1/chat/completions, openai", "/v1/messages, anthropic", "/api/chat, ollama"})
  void anUnknownExpectationIs417InThePathsShapeAtOnce(String path, String api) throws Exception {
    long start = System.nanoTime();
    Answer a = exchange(head(path, 100, "Expect: bogus\r\n"));
    a.assertIs(417, api, "expectation_failed", "invalid_request_error");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("not held for the body").isLessThan(REQUEST_READ);
  }

  /** Anthropic documents no 408; its docs give other 4xx {@code invalid_request_error}, as the mapping does. */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"/v1/chat/completions, openai", "/v1/messages, anthropic", "/api/chat, ollama"})
  void aBodyThatDoesNotArriveInTimeIs408InThePathsShape(String path, String api) throws Exception {
    Answer a = exchange(head(path, 100, "") + "{\"mo");
    a.assertIs(408, api, "request_timeout", "invalid_request_error");
  }

  /** No whole head, no path: the gateway's default shape, OpenAI's (as for an unknown path). */
  @Test
  void aHeadThatDoesNotArriveInTimeIs408InOpenAisShape() throws Exception {
    Answer a = exchange("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Le");
    a.assertIs(408, "openai", "request_timeout", null);
  }

  /** A finished request's path does not shape the 408 of the next request on its connection, which has none yet. */
  @Test
  void theNextRequestOnAKeptAliveConnectionIsNotShapedByTheLastOnesPath() throws Exception {
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      OutputStream out = s.getOutputStream();
      String messages = "{\"model\":\"tokenpipe-sim\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
      out.write((head("/v1/messages", messages.length(), "X-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=2\r\n") + messages)
          .getBytes(StandardCharsets.UTF_8));
      out.flush();
      Wire.Response first = Wire.read(s, Duration.ofSeconds(5));
      assertThat(first.status()).as(first.head()).isEqualTo(200);
      assertThat(first.closed()).isFalse();

      out.write("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Le".getBytes(StandardCharsets.UTF_8));
      out.flush();
      s.setSoTimeout(CLOSE_WITHIN_MS);
      new Answer(GatewayConnectionTest.readUntilClose(s)).assertIs(408, "openai", "request_timeout", null);
    }
  }

  /**
   * A pipelined request over {@code --max-body} is answered in its turn, after the stream running before it has
   * ended whole (docs/serve.md "Pipelining"): its 413 used to go out at once, ahead of that stream, and the close
   * after it cut the stream. With a body, and announced by {@code Expect: 100-continue} without one.
   */
  @ParameterizedTest(name = "expect={0}")
  @CsvSource({"false", "true"})
  void aPipelinedRequestOverMaxBodyIsAnsweredAfterTheStreamBeforeIt(boolean expect) throws Exception {
    String chat = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String big = "{\"prompt\":\"" + "x".repeat(2 * MAX_BODY) + "\"}";
    String second = expect ? head("/v1/messages", 10 * MAX_BODY, "Expect: 100-continue\r\n") : head("/v1/messages", big.length(), "") + big;
    String all = GatewayConnectionTest.sendUntilClose(gateway.port(),
        head("/v1/chat/completions", chat.length(), "X-Tokenpipe-Sim: ttft=100ms itl=10ms tokens=20\r\n") + chat + second,
        CLOSE_WITHIN_MS);

    assertThat(GatewayConnectionTest.statuses(all)).as(all).containsExactly(200, 413);
    int at = all.indexOf("HTTP/1.1 413");
    assertThat(all.substring(0, at)).as(all).contains("data: [DONE]").endsWith("0\r\n\r\n");
    new Answer(all.substring(at)).assertIs(413, "anthropic", "request_too_large", "request_too_large");
    // Answered by the gateway's handler now, so counted like its other refusals.
    String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + gateway.port() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    assertThat(metrics).containsPattern("tokenpipe_gateway_rejected_total\\{status=\"413\"} [1-9]");
  }

  /**
   * A request begun behind a running stream whose body then stops arriving gets its 408 after that stream has
   * ended whole, timed from its first byte: it used to be timed as an idle connection and closed without one.
   */
  @Test
  void aPipelinedRequestCutOffMidBodyIs408AfterTheStreamBeforeIt() throws Exception {
    String chat = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (Socket s = new Socket("127.0.0.1", gateway.port())) {
      OutputStream out = s.getOutputStream();
      out.write((head("/v1/chat/completions", chat.length(), "X-Tokenpipe-Sim: ttft=100ms itl=20ms tokens=30\r\n") + chat)
          .getBytes(StandardCharsets.UTF_8));
      out.flush();
      Thread.sleep(300); // the stream is running: what follows is a read of its own
      out.write((head("/v1/messages", 100, "") + "{\"mo").getBytes(StandardCharsets.UTF_8));
      out.flush();
      s.setSoTimeout(CLOSE_WITHIN_MS);
      String all = GatewayConnectionTest.readUntilClose(s);

      assertThat(GatewayConnectionTest.statuses(all)).as(all).containsExactly(200, 408);
      int at = all.indexOf("HTTP/1.1 408");
      assertThat(all.substring(0, at)).as(all).contains("data: [DONE]").endsWith("0\r\n\r\n");
      new Answer(all.substring(at)).assertIs(408, "anthropic", "request_timeout", "invalid_request_error");
    }
  }

  static String head(String path, int contentLength, String extra) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + contentLength + "\r\n" + extra + "\r\n";
  }

  /** Sends {@code raw} and reads until the gateway closes; fails when it does not close in time or resets. */
  static Answer exchange(String raw) throws IOException {
    return new Answer(GatewayConnectionTest.sendUntilClose(gateway.port(), raw, CLOSE_WITHIN_MS));
  }

  /** One whole answer, read up to the gateway's close. */
  record Answer(String all) {
    String head() {
      return all.substring(0, all.indexOf("\r\n\r\n")).toLowerCase(Locale.ROOT);
    }

    String body() {
      return all.substring(all.indexOf("\r\n\r\n") + 4);
    }

    /**
     * @param openAiCode the OpenAI {@code error.code}
     * @param anthropicType Anthropic's {@code error.type}; null where the request has no path
     */
    void assertIs(int status, String api, String openAiCode, String anthropicType) throws IOException {
      assertThat(GatewayConnectionTest.statuses(all)).as(all).containsExactly(status);
      assertThat(head()).contains("content-type: application/json").contains("connection: close");
      assertThat(head()).containsPattern("content-length: " + body().getBytes(StandardCharsets.UTF_8).length + "\\b");
      JsonNode json = Json.MAPPER.readTree(body());
      switch (api) {
        case "openai" -> {
          assertThat(json.at("/error/code").asText()).as(body()).isEqualTo(openAiCode);
          assertThat(json.at("/error/type").asText()).isEqualTo("invalid_request_error");
          assertThat(json.at("/error/message").asText()).isNotBlank();
        }
        case "anthropic" -> {
          assertThat(json.path("type").asText()).as("Anthropic's error object: %s", body()).isEqualTo("error");
          assertThat(json.at("/error/type").asText()).isEqualTo(anthropicType);
          assertThat(json.at("/error/message").asText()).isNotBlank();
        }
        case "ollama" -> {
          assertThat(json.path("error").isTextual()).as("Ollama's {\"error\":\"...\"}: %s", body()).isTrue();
          assertThat(json.path("error").asText()).isNotBlank();
        }
        default -> throw new IllegalArgumentException(api);
      }
    }
  }
}
