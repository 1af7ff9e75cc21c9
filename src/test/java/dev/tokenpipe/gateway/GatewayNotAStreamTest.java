package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.time.Duration;
import dev.tokenpipe.testing.NodeScript;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A 2xx whole body (a web server's HTML page, a plain-text banner, a whole JSON answer) to a request that asked
 * for a stream: the official SDKs read any 2xx as an event stream, find no event in it and end their loop cleanly
 * with nothing (GatewayOpenAiSdkTest), so relayed unchanged it is a stream that looks complete and is not. The
 * gateway answers 502 in the API's own shape, naming what the upstream sent; a non-stream request's whole
 * answer is untouched.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayNotAStreamTest {
  static final String HTML = "<html><body><h1>Welcome to nginx!</h1></body></html>";
  static final String WHOLE = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
      + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":\"stop\"}]}";

  // Ollama's answer to a model load (a request without a prompt or messages) or unload (keep_alive 0): c.JSON in
  // its server's GenerateHandler and ChatHandler, whatever the stream flag, whose default is to stream.
  static final String OLLAMA_GENERATE_LOAD = "{\"model\":\"llama3\",\"created_at\":\"2026-12-02T16:00:00Z\","
      + "\"response\":\"\",\"done\":true,\"done_reason\":\"load\"}";
  static final String OLLAMA_CHAT_LOAD = "{\"model\":\"llama3\",\"created_at\":\"2026-12-02T16:00:00Z\","
      + "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"load\"}";

  static ScriptedUpstream upstream;
  static ScriptedUpstream healthy;
  static GatewayServer gateway;
  static GatewayServer twoUpstreams;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("html", GatewayNotAStreamTest::html)
        .on("/v1/messages", GatewayNotAStreamTest::html)
        .on("whole-json", x -> x.json(200, "OK", "", WHOLE))
        .on("/api/chat", x -> ollamaJson(x, OLLAMA_CHAT_LOAD))
        .on("/api/generate", x -> ollamaJson(x, OLLAMA_GENERATE_LOAD))
        .on("sse-answer", x -> x.sseHead("").event(ChatChunks.role()).event(ChatChunks.content("Hello"))
            .event(ChatChunks.finish("stop")).event(ChatChunks.DONE).end())
        // Flask's Response(generator()) and Django's StreamingHttpResponse label a stream text/html unless told.
        .on("flask-sse", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n")
            .event(ChatChunks.role()).event(ChatChunks.content("Hi")).event(ChatChunks.finish("stop"))
            .event(ChatChunks.DONE).end())
        .on("chunked-html", x -> x.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
            .chunk("<!DOCTYPE html>\n<html>\n\n<body>\n<h1>Welcome to nginx!</h1>\n\n</body>\n</html>\n").end())
        .on("untyped-sse", x -> x.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .event(ChatChunks.content("Hi")).event(ChatChunks.DONE).end());
    healthy = new ScriptedUpstream()
        .on("sse-answer", x -> x.json(200, "OK", "", WHOLE))
        .on("html", x -> {
          x.sseHead("");
          x.event(ChatChunks.role()).event(ChatChunks.content("Hi")).event(ChatChunks.finish("stop"))
              .event(ChatChunks.DONE).end();
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
    twoUpstreams = GatewayServer.start(GatewayConfig.defaults().withPort(0).withBalance("round-robin")
        .withUpstreams(List.of(upstream.url(), healthy.url())));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    twoUpstreams.close();
    upstream.close();
    healthy.close();
  }

  static void html(ScriptedUpstream.Exchange x) throws IOException {
    x.write("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " + HTML.length()
        + "\r\n\r\n" + HTML);
  }

  static void ollamaJson(ScriptedUpstream.Exchange x, String json) throws IOException {
    x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " + json.length()
        + "\r\n\r\n" + json);
  }

  static String chat(String model, Boolean stream) {
    return "{\"model\":\"" + model + "\"" + (stream == null ? "" : ",\"stream\":" + stream)
        + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  @Test
  void anHtmlPageAnsweringAStreamRequestIsA502NamingWhatTheUpstreamSent() throws Exception {
    // The test before may have read its answer a moment before its exchange was booked: wait for it to end.
    GatewayStreamingTest.await(() -> gateway.metrics().activeStreams() == 0, Duration.ofSeconds(5));
    long before = gateway.metrics().errors("invalid_sse");

    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("html", true));

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.headerValue("content-type")).startsWith("application/json");
    JsonNode error = r.json().path("error");
    assertThat(error.path("code").asText()).as("%s", r.bodyText()).isEqualTo("upstream_invalid_sse");
    assertThat(error.path("message").asText()).as("what the upstream sent, and what was expected")
        .contains("200").contains("text/html").contains("text/event-stream");
    assertThat(r.bodyText()).as("the page itself is not passed on").doesNotContain("Welcome to nginx");
    // counted when the exchange ends, just after the answer was written
    GatewayStreamingTest.await(() -> gateway.metrics().errors("invalid_sse") == before + 1, Duration.ofSeconds(5));
  }

  /**
   * A real event stream labelled {@code text/html} (Flask's and Django's default type for a streamed response):
   * the official SDKs read it fine direct, and it was refused with a 502. A text type is read as an event stream,
   * and only a body with no event in it is the page it says it is.
   */
  @Test
  void anEventStreamLabelledTextHtmlIsRelayedAsTheStreamItIs() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("flask-sse", true));

    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.bodyText()).as("%s", r).contains("\"content\":\"Hi\"").contains("data: [DONE]")
        .doesNotContain("event: error");
  }

  @Test
  void aChunkedHtmlPageWithBlankLinesIsStillA502() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("chunked-html", true));

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.json().at("/error/code").asText()).isEqualTo("upstream_invalid_sse");
    assertThat(r.json().at("/error/message").asText()).contains("text/html");
  }

  @Test
  void aWholeJsonAnswerToAStreamRequestIsA502Too() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("whole-json", true));

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.json().at("/error/message").asText()).contains("application/json");
  }

  @Test
  void aWholeJsonAnswerToANonStreamRequestIsUntouched() throws Exception {
    for (Boolean stream : new Boolean[] {false, null}) {
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("whole-json", stream));

      assertThat(r.status()).as("stream=%s: %s", stream, r).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo(WHOLE);
    }
  }

  @Test
  void onAnthropicsPathTheErrorIsAnthropicsShape() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/messages",
        "{\"model\":\"claude\",\"stream\":true,\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.json().path("type").asText()).as("%s", r.bodyText()).isEqualTo("error");
    assertThat(r.json().at("/error/message").asText()).contains("text/html");
  }

  @Test
  void onOllamasPathAnHtmlPageAnsweringADefaultStreamIsA502InOllamasShapeNamingNdjson() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/api/chat",
        "{\"model\":\"html\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    assertThat(r.status()).as("%s", r).isEqualTo(502);
    assertThat(r.json().path("error").isTextual()).as("Ollama's {\"error\":\"...\"}: %s", r.bodyText()).isTrue();
    assertThat(r.json().path("error").asText()).contains("text/html").contains("application/x-ndjson");
  }

  @Test
  void ollamasOwnWholeJsonAnswerToAModelLoadIsRelayedAsItCame() throws Exception {
    // Ollama's documented "Load a model" and "Unload a model" requests stream by default and are answered with one
    // whole application/json object; its clients read an NDJSON body line by line, so that one line is their
    // whole answer. Refusing it made `ollama run` warm-ups and keep_alive unloads fail through serve.
    String[][] cases = {
        {"/api/generate", "{\"model\":\"llama3\"}", OLLAMA_GENERATE_LOAD},
        {"/api/generate", "{\"model\":\"llama3\",\"keep_alive\":0}", OLLAMA_GENERATE_LOAD},
        {"/api/chat", "{\"model\":\"llama3\",\"messages\":[]}", OLLAMA_CHAT_LOAD},
        {"/api/chat", "{\"model\":\"llama3\",\"messages\":[],\"stream\":true}", OLLAMA_CHAT_LOAD},
    };
    for (String[] c : cases) {
      Wire.Response r = Wire.post(gateway.port(), c[0], c[1]);

      assertThat(r.status()).as("%s %s: %s", c[0], c[1], r).isEqualTo(200);
      assertThat(r.headerValue("content-type")).startsWith("application/json");
      assertThat(r.bodyText()).isEqualTo(c[2]);
    }
  }

  @Test
  void aStreamWithoutAContentTypeIsStillRelayed() throws Exception {
    // Servers that stream without naming a type exist (a FastAPI StreamingResponse without media_type); the SDKs
    // read their events, so the gateway passes them on as before.
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("untyped-sse", true));

    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.bodyText()).contains("\"Hi\"").endsWith("data: [DONE]\n\n");
  }

  @Test
  void anotherUpstreamIsTriedBeforeTheClientSeesAnything() throws Exception {
    for (int i = 0; i < 2; i++) { // round-robin: one of the two starts at the upstream that sends HTML
      Wire.Response r = Wire.post(twoUpstreams.port(), "/v1/chat/completions", chat("html", true));

      assertThat(r.status()).as("%s", r).isEqualTo(200);
      assertThat(r.headerValue("content-type")).startsWith("text/event-stream");
      assertThat(r.bodyText()).contains("\"Hi\"").endsWith("data: [DONE]\n\n").doesNotContain("nginx");
    }
  }

  /**
   * The mirror of the 502 above: a request that did not ask for a stream ("stream": false, or no "stream" on
   * OpenAI's and Anthropic's paths) answered with an event stream. openai-node's create() returned the SSE text as
   * its answer (choices undefined) and Anthropic's SDK the same; the client cannot read it as the whole answer
   * it asked for.
   */
  @Test
  void anEventStreamAnsweringARequestThatAskedForNoStreamIsA502NamingIt() throws Exception {
    for (Boolean stream : new Boolean[] {false, null}) {
      Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", chat("sse-answer", stream));

      assertThat(r.status()).as("stream=%s: %s", stream, r).isEqualTo(502);
      assertThat(r.headerValue("content-type")).startsWith("application/json");
      assertThat(r.json().at("/error/code").asText()).isEqualTo("upstream_invalid_sse");
      assertThat(r.json().at("/error/message").asText()).contains("text/event-stream").contains("did not ask for a stream");
      assertThat(r.bodyText()).doesNotContain("data:");
    }
    Wire.Response anthropic = Wire.post(gateway.port(), "/v1/messages",
        "{\"model\":\"sse-answer\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertThat(anthropic.status()).as("%s", anthropic).isEqualTo(502);
    assertThat(anthropic.json().path("type").asText()).isEqualTo("error");
  }

  @Test
  void anEventStreamOnAPathThatIsNoTokenApiIsRelayedAsItCame() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/not-a-token-api", chat("sse-answer", null));

    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.bodyText()).contains("\"Hello\"").endsWith("data: [DONE]\n\n");
  }

  @Test
  void anEventStreamToANonStreamRequestFailsOverToAnUpstreamThatAnswersWhole() throws Exception {
    for (int i = 0; i < 2; i++) {
      Wire.Response r = Wire.post(twoUpstreams.port(), "/v1/chat/completions", chat("sse-answer", false));

      assertThat(r.status()).as("%s", r).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo(WHOLE);
    }
  }

  @Test
  void theOpenAiSdksNonStreamCreateRaisesTheGatewaysErrorNotTheEventStreamAsText() throws Exception {
    NodeScript.require("openai");
    NodeScript.Result r = NodeScript.run("sdk-surface.mjs",
        Map.of("OPENAI_BASE_URL", "http://127.0.0.1:" + gateway.port() + "/v1", "OPENAI_API_KEY", "sk-test",
            "TOKENPIPE_MAX_RETRIES", "0"),
        Duration.ofSeconds(60), "openai-chat", "{\"model\":\"sse-answer\"}");
    JsonNode out = r.json();

    assertThat(out.path("ok").asBoolean()).as("%s", out).isFalse();
    assertThat(out.at("/error/isApiError").asBoolean()).as("%s", out).isTrue();
    assertThat(out.at("/error/status").asInt()).isEqualTo(502);
  }
}
