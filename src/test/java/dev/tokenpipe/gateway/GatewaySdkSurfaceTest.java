package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.GatewayDialectTest.A_END;
import static dev.tokenpipe.gateway.GatewayDialectTest.A_OPEN;
import static dev.tokenpipe.gateway.GatewayDialectTest.A_TEXT;
import static dev.tokenpipe.gateway.GatewayDialectTest.R_END;
import static dev.tokenpipe.gateway.GatewayDialectTest.R_OPEN;
import static dev.tokenpipe.gateway.GatewayDialectTest.R_TEXT;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.NodeScript;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The official SDKs side by side: the same call ({@code src/test/node/sdk-surface.mjs}) once straight to a scripted
 * upstream and once through {@code serve} in front of it. Whatever the upstream does (an error before the first
 * token, an in-band error event, a cut, a stall), the application must see through {@code serve} what it sees
 * direct, or better (a cut or a stall raised where direct it would hang): the error's class and status, the
 * request id, how many requests the SDK itself made, and whether the loop ends clean or throws.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class GatewaySdkSurfaceTest {
  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  static final String ANSWER = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
      + "\"model\":\"normal\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
      + "\"Hello there\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
      + "\"total_tokens\":3}}";
  static final String OPENAI_ERROR = "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}";
  static final String ANTHROPIC_ERROR = "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"},"
      + "\"request_id\":\"%s\"}";

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("normal", x -> {
          Dialect d = Dialect.of(x);
          if (!d.streaming) {
            x.json(200, "OK", d.idHeader("normal"), ANSWER);
            return;
          }
          x.sseHead(d.idHeader("normal"));
          d.upToText(x);
          d.end(x);
        })
        .on("e429", x -> Dialect.of(x).error(x, 429, "Too Many Requests", "retry-after: 0\r\n", "rate_limit_error",
            "Rate limit reached", "e429"))
        .on("e500", x -> Dialect.of(x).error(x, 500, "Internal Server Error", "", "api_error", "The model crashed", "e500"))
        .on("e529", x -> Dialect.of(x).error(x, 529, "Overloaded", "", "overloaded_error", "Overloaded", "e529"))
        .on("inband", x -> {
          Dialect d = Dialect.of(x);
          x.sseHead(d.idHeader("inband"));
          d.upToText(x);
          x.chunk(d.errorEvent("server_error", "The server had an error while processing your request."));
          x.end();
        })
        .on("cut", x -> {
          Dialect d = Dialect.of(x);
          if (!d.streaming) {
            d.halfAnswer(x, "cut");
            x.pause(100).close();
            return;
          }
          x.sseHead(d.idHeader("cut"));
          d.upToText(x);
          x.chunk(d.halfEvent());
          x.pause(100).close();
        })
        .on("stall", x -> {
          Dialect d = Dialect.of(x);
          if (!d.streaming) {
            d.halfAnswer(x, "stall");
            x.pause(25_000).close();
            return;
          }
          x.sseHead(d.idHeader("stall"));
          d.upToText(x);
          x.pause(25_000).close();
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url()))
        .withTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(3), Duration.ofSeconds(5), Duration.ofSeconds(30)));
  }

  /** The request's API, read from its path and body, and how that API writes each part of a script. */
  enum Api { CHAT, RESPONSES, MESSAGES }

  record Dialect(Api api, boolean streaming) {
    static final Api CHAT = Api.CHAT;
    static final Api RESPONSES = Api.RESPONSES;
    static final Api MESSAGES = Api.MESSAGES;

    static Dialect of(ScriptedUpstream.Exchange x) {
      String path = x.head.substring(x.head.indexOf(' ') + 1, x.head.indexOf(' ', x.head.indexOf(' ') + 1));
      Api api = path.endsWith("/responses") ? RESPONSES : path.endsWith("/messages") ? MESSAGES : CHAT;
      return new Dialect(api, x.body.replace(" ", "").contains("\"stream\":true"));
    }

    String idHeader(String model) {
      return (api == MESSAGES ? "request-id: req_" : "x-request-id: req_") + model + "\r\n";
    }

    void upToText(ScriptedUpstream.Exchange x) throws IOException {
      String events = switch (api) {
        case CHAT -> ChatChunks.sseEvent(ChatChunks.role()) + ChatChunks.sseEvent(ChatChunks.content("Hello"));
        case RESPONSES -> R_OPEN + R_TEXT;
        case MESSAGES -> A_OPEN + A_TEXT;
      };
      for (String e : events.split("(?<=\n\n)")) {
        x.chunk(e);
      }
    }

    void end(ScriptedUpstream.Exchange x) throws IOException {
      String events = switch (api) {
        case CHAT -> ChatChunks.sseEvent(ChatChunks.finish("stop")) + "data: [DONE]\n\n";
        case RESPONSES -> R_END;
        case MESSAGES -> A_END;
      };
      for (String e : events.split("(?<=\n\n)")) {
        x.chunk(e);
      }
      x.end();
    }

    String errorEvent(String type, String message) {
      return switch (api) {
        case CHAT -> "data: " + String.format(OPENAI_ERROR, message, type, type) + "\n\n";
        case RESPONSES -> "event: error\ndata: {\"type\":\"error\",\"code\":\"" + type + "\",\"message\":\"" + message
            + "\",\"param\":null,\"sequence_number\":9}\n\n";
        case MESSAGES -> "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\""
            + message + "\"}}\n\n";
      };
    }

    String halfEvent() {
      return switch (api) {
        case CHAT -> "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"del";
        case RESPONSES -> "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.de";
        case MESSAGES -> "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"del";
      };
    }

    /** A whole answer's head and length, then only the first half of its body. */
    void halfAnswer(ScriptedUpstream.Exchange x, String model) throws IOException {
      x.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + ANSWER.length() + "\r\n"
          + idHeader(model) + "\r\n" + ANSWER.substring(0, ANSWER.length() / 2));
    }

    void error(ScriptedUpstream.Exchange x, int status, String reason, String headers, String type, String message,
        String model) throws IOException {
      String body = api == MESSAGES ? String.format(ANTHROPIC_ERROR, type, message, "req_" + model)
          : String.format(OPENAI_ERROR, message, type, type);
      x.json(status, reason, headers + idHeader(model), body);
    }
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  @BeforeEach
  void sdksInstalled() {
    NodeScript.require("openai");
    NodeScript.require("@anthropic-ai/sdk");
  }

  /** Runs SDK calls at once: each mostly waits on its node process (the common pool has one thread on 2 cores). */
  static final java.util.concurrent.Executor CALLERS = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();

  static final List<String> CALLS = List.of("openai-chat-stream", "openai-chat", "openai-responses-stream",
      "anthropic-create", "anthropic-stream");

  /** One SDK call at {@code base} (the upstream's origin or the gateway's). */
  static JsonNode call(String call, String base, String model) throws Exception {
    NodeScript.Result r = NodeScript.run("sdk-surface.mjs",
        Map.of("OPENAI_BASE_URL", base + "/v1", "OPENAI_API_KEY", "sk-test-client",
            "ANTHROPIC_BASE_URL", base, "ANTHROPIC_API_KEY", "sk-ant-test-client",
            "TOKENPIPE_MAX_RETRIES", "2", "TOKENPIPE_TIMEOUT_MS", "8000"),
        Duration.ofSeconds(60), call, "{\"model\":\"" + model + "\"}");
    return r.json();
  }

  /** What must be the same through serve: how the loop ended, the error's class and status, the request id, retries. */
  static String surface(JsonNode r) {
    return String.join(" | ", r.path("ended").asText(), r.at("/error/name").asText(), r.at("/error/status").asText(),
        "requestId=" + (r.path("ok").asBoolean() ? r.path("requestId").asText() : r.at("/error/requestID").asText()),
        "attempts=" + r.path("attempts").asText(), "text=" + r.path("text").asText());
  }

  /** The call direct and through serve, at once (each waits on its own upstream script). */
  static JsonNode[] sideBySide(String call, String model) throws Exception {
    var direct = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return call(call, upstream.url(), model);
      } catch (Exception e) {
        throw new java.util.concurrent.CompletionException(e);
      }
    }, CALLERS);
    JsonNode served = call(call, "http://127.0.0.1:" + gateway.port(), model);
    return new JsonNode[] {direct.get(90, TimeUnit.SECONDS), served};
  }

  /**
   * {@link #sideBySide} for each of {@code calls} at once: each waits mostly on its SDK's retry back-off or on a
   * stalled upstream, so one after another the test took about three minutes.
   */
  static List<JsonNode[]> sideBySideAll(List<String> calls, String model) throws Exception {
    List<java.util.concurrent.CompletableFuture<JsonNode[]>> runs = new ArrayList<>();
    for (String c : calls) {
      runs.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return sideBySide(c, model);
        } catch (Exception e) {
          throw new java.util.concurrent.CompletionException(e);
        }
      }, CALLERS));
    }
    List<JsonNode[]> out = new ArrayList<>();
    for (var run : runs) {
      out.add(run.get(180, TimeUnit.SECONDS));
    }
    return out;
  }

  /**
   * Before the first token (a normal answer, 429 with retry-after, 500, 529) and an in-band error event mid-stream:
   * through serve the SDK raises the same error class with the same status and request id, after the same number of
   * its own requests (1 + 2 retries for 429/5xx), and a normal answer ends clean with the same request id.
   */
  @Test
  void anAnswerOrAnUpstreamErrorLooksTheSameToEverySdkCallThroughServeAsDirect() throws Exception {
    List<String> differ = new ArrayList<>();
    StringBuilder table = new StringBuilder();
    for (String model : List.of("normal", "e429", "e500", "e529", "inband")) {
      List<String> calls = CALLS.stream()
          .filter(c -> !(model.equals("inband") && c.equals("openai-chat"))) // a whole answer has no in-band error
          .toList();
      List<JsonNode[]> results = sideBySideAll(calls, model);
      for (int i = 0; i < calls.size(); i++) {
        String c = calls.get(i);
        JsonNode[] r = results.get(i);
        table.append(String.format("%-7s %-24s direct: %s%n%-32s serve:  %s%n", model, c, surface(r[0]), "", surface(r[1])));
        if (!surface(r[0]).equals(surface(r[1]))) {
          differ.add(model + " " + c);
        }
      }
    }
    assertThat(differ).as("calls that look different through serve:%n%s", table).isEmpty();
    assertThat(table.toString()).as("the SDKs retried 429, 500 and 529 themselves").contains("429 | requestId=req_e429 | attempts=3")
        .contains("529 | requestId=req_e529 | attempts=3");
  }

  /**
   * A stream cut inside an event or stalled: direct, the SDK throws a bare {@code TypeError: terminated} (or waits
   * for its own timeout) with no request id; through serve, never a clean end, and the SDK's own {@code APIError}
   * carrying the upstream's request id, after the same one request (no retry either way). An answer that is not a
   * stream, cut or stalled mid-body, throws the same error both ways.
   */
  @Test
  void aCutOrStalledStreamThrowsThroughServeWithTheRequestIdAndTheSameRetries() throws Exception {
    StringBuilder table = new StringBuilder();
    for (String model : List.of("cut", "stall")) {
      List<JsonNode[]> results = sideBySideAll(CALLS, model);
      for (int i = 0; i < CALLS.size(); i++) {
        String c = CALLS.get(i);
        JsonNode[] r = results.get(i);
        table.append(String.format("%-7s %-24s direct: %s%n%-32s serve:  %s%n", model, c, surface(r[0]), "", surface(r[1])));
        String what = model + " " + c + "\n" + table;
        assertThat(r[0].path("ended").asText()).as(what).isEqualTo("threw");
        assertThat(r[1].path("ended").asText()).as(what).isEqualTo("threw");
        assertThat(r[1].path("attempts").asInt()).as(what).isEqualTo(r[0].path("attempts").asInt());
        assertThat(r[1].path("text").asText()).as(what).isEqualTo(r[0].path("text").asText());
        if (c.equals("openai-chat")) {
          assertThat(surface(r[1])).as(what).isEqualTo(surface(r[0]));
        } else {
          assertThat(r[1].at("/error/isApiError").asBoolean()).as(what).isTrue();
          assertThat(r[1].at("/error/requestID").asText()).as(what).isEqualTo("req_" + model);
        }
      }
    }
  }
}
