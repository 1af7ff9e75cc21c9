package dev.tokenpipe.sim;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.testing.RawClient;
import dev.tokenpipe.testing.SimExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Anthropic Messages and OpenAI Responses streams from the sim over real sockets: the APIs' exact event
 * sequences, an emission stamp on every event, each event classified by the shared token definition
 * ({@link EventClassifier}) as the API means it, usage, and the faults in each API's own shape.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimDialectStreamTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();

  static final String MESSAGES = "{\"model\":\"tokenpipe-sim\",\"max_tokens\":1000,\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";
  static final String RESPONSES = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"input\":\"Tell me a story\"}";

  /** One SSE event as the wire carried it, and what the shared definition makes of it. */
  record Event(String name, String id, String data, long kind) {
    JsonNode json() throws Exception {
      return Json.MAPPER.readTree(data);
    }

    int flags() {
      return EventKind.flags(kind);
    }
  }

  record Stream(int status, String head, List<Event> events, boolean complete, String body) {
    List<String> names() {
      return events.stream().map(Event::name).toList();
    }

    List<Event> named(String name) {
      return events.stream().filter(e -> name.equals(e.name())).toList();
    }

    String text(String name, String pointer) throws Exception {
      StringBuilder sb = new StringBuilder();
      for (Event e : named(name)) {
        sb.append(e.json().at(pointer).asText());
      }
      return sb.toString();
    }
  }

  @Test
  void anthropicTextStreamHasTheApisEventSequenceStampsAndUsage() throws Exception {
    Stream s = post("/v1/messages", MESSAGES, "ttft=20ms itl=5ms tokens=5");

    assertThat(s.status()).isEqualTo(200);
    assertThat(s.head()).contains("content-type: text/event-stream");
    assertThat(s.names()).containsExactly("message_start", "content_block_start", "ping",
        "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop");
    assertStampedInOrder(s);
    assertTypeIsTheEventName(s);
    JsonNode start = s.events().getFirst().json();
    assertThat(start.at("/message/role").asText()).isEqualTo("assistant");
    assertThat(start.at("/message/usage/input_tokens").asInt()).isPositive();
    assertThat(s.events().get(1).json().at("/content_block/type").asText()).isEqualTo("text");
    for (Event e : s.named("content_block_delta")) {
      assertThat(e.json().at("/delta/type").asText()).isEqualTo("text_delta");
      assertThat(e.flags()).as("%s", e).isEqualTo(EventKind.CONTENT);
    }
    Event delta = s.named("message_delta").getFirst();
    assertThat(delta.json().at("/delta/stop_reason").asText()).isEqualTo("end_turn");
    assertThat(EventKind.usage(delta.kind())).isEqualTo(5);
    assertThat(s.events().getLast().flags()).isEqualTo(EventKind.TERMINATOR);
    assertThat(countKinds(s, EventKind.GENERATED)).isEqualTo(5);
    assertThat(s.complete()).isTrue();
  }

  @Test
  void anthropicThinkingTextAndToolUseBlocks() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"max_tokens\":4000,\"stream\":true,"
        + "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000},"
        + "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]}";
    Stream s = post("/v1/messages", body, "ttft=20ms itl=5ms tokens=10 reasoning=3 tool_call=4 burst=2");

    assertThat(s.names()).containsExactly("message_start", "content_block_start", "ping",
        "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop");
    assertStampedInOrder(s);
    List<JsonNode> starts = new ArrayList<>();
    for (Event e : s.named("content_block_start")) {
      starts.add(e.json());
    }
    assertThat(starts).extracting(j -> j.at("/content_block/type").asText()).containsExactly("thinking", "text", "tool_use");
    assertThat(starts).extracting(j -> j.get("index").asInt()).containsExactly(0, 1, 2);
    assertThat(starts.get(2).at("/content_block/name").asText()).isEqualTo("get_weather");
    List<String> deltaTypes = new ArrayList<>();
    for (Event e : s.named("content_block_delta")) {
      deltaTypes.add(e.json().at("/delta/type").asText());
    }
    // burst=2: the first token alone, then two per event, never across a change of block.
    assertThat(deltaTypes).containsExactly("thinking_delta", "thinking_delta", "signature_delta",
        "text_delta", "text_delta", "input_json_delta", "input_json_delta");
    assertThat(s.named("content_block_delta")).extracting(Event::flags).containsExactly(EventKind.REASONING,
        EventKind.REASONING, 0, EventKind.CONTENT, EventKind.CONTENT, EventKind.TOOL_CALL, EventKind.TOOL_CALL);
    String json = s.text("content_block_delta", "/delta/partial_json");
    assertThat(Json.MAPPER.readTree(json).get("input").asText()).as(json).isNotEmpty();
    Event delta = s.named("message_delta").getFirst();
    assertThat(delta.json().at("/delta/stop_reason").asText()).isEqualTo("tool_use");
    assertThat(EventKind.usage(delta.kind())).isEqualTo(10);
  }

  @Test
  void anthropicThinkingAndAForcedToolAsTheRequestAsks() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"max_tokens\":4000,\"stream\":true,"
        + "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},"
        + "\"tools\":[{\"name\":\"a\",\"input_schema\":{}},{\"name\":\"b\",\"input_schema\":{}}],"
        + "\"tool_choice\":{\"type\":\"tool\",\"name\":\"b\"},"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    Stream s = post("/v1/messages", body, "ttft=10ms itl=2ms tokens=8");

    assertThat(countKinds(s, EventKind.REASONING)).as("half the output is thinking").isEqualTo(4);
    assertThat(countKinds(s, EventKind.CONTENT)).isZero();
    assertThat(countKinds(s, EventKind.TOOL_CALL)).as("the rest is the forced tool's input").isEqualTo(4);
    assertThat(s.named("content_block_start").getLast().json().at("/content_block/name").asText()).isEqualTo("b");
  }

  @Test
  void responsesTextStreamHasTheApisEventSequenceSequenceNumbersStampsAndUsage() throws Exception {
    Stream s = post("/v1/responses", RESPONSES, "ttft=20ms itl=5ms tokens=5");

    assertThat(s.status()).isEqualTo(200);
    assertThat(s.names()).containsExactly("response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed");
    assertStampedInOrder(s);
    assertTypeIsTheEventName(s);
    assertSequenceNumbers(s);
    for (Event e : s.named("response.output_text.delta")) {
      assertThat(e.flags()).as("%s", e).isEqualTo(EventKind.CONTENT);
    }
    String text = s.text("response.output_text.delta", "/delta");
    assertThat(s.named("response.output_text.done").getFirst().json().get("text").asText()).isEqualTo(text);
    Event completed = s.events().getLast();
    assertThat(completed.flags()).isEqualTo(EventKind.TERMINATOR);
    assertThat(EventKind.usage(completed.kind())).isEqualTo(5);
    JsonNode response = completed.json().get("response");
    assertThat(response.get("status").asText()).isEqualTo("completed");
    assertThat(response.at("/output/0/content/0/text").asText()).isEqualTo(text);
    assertThat(response.at("/usage/input_tokens").asInt()).isPositive();
    assertThat(countKinds(s, EventKind.GENERATED)).isEqualTo(5);
    assertThat(s.complete()).isTrue();
  }

  @Test
  void responsesReasoningMessageAndFunctionCallItems() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"input\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
        + "\"reasoning\":{\"effort\":\"low\",\"summary\":\"auto\"},"
        + "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}]}";
    Stream s = post("/v1/responses", body, "ttft=20ms itl=5ms tokens=9 reasoning=3 tool_call=3");

    assertThat(s.names()).containsExactly("response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
        "response.completed");
    assertStampedInOrder(s);
    assertTypeIsTheEventName(s);
    assertSequenceNumbers(s);
    assertThat(s.named("response.reasoning_summary_text.delta")).allMatch(e -> e.flags() == EventKind.REASONING);
    assertThat(s.named("response.output_text.delta")).allMatch(e -> e.flags() == EventKind.CONTENT);
    assertThat(s.named("response.function_call_arguments.delta")).allMatch(e -> e.flags() == EventKind.TOOL_CALL);
    assertThat(countKinds(s, EventKind.GENERATED)).isEqualTo(9);
    String args = s.text("response.function_call_arguments.delta", "/delta");
    assertThat(Json.MAPPER.readTree(args).get("input").asText()).isNotEmpty();
    assertThat(s.named("response.function_call_arguments.done").getFirst().json().get("arguments").asText()).isEqualTo(args);
    JsonNode response = s.events().getLast().json().get("response");
    assertThat(response.get("output")).extracting(j -> j.get("type").asText())
        .containsExactly("reasoning", "message", "function_call");
    assertThat(response.at("/output/2/name").asText()).isEqualTo("get_weather");
    assertThat(response.at("/output/0/summary/0/text").asText())
        .isEqualTo(s.text("response.reasoning_summary_text.delta", "/delta"));
    assertThat(response.at("/usage/output_tokens").asInt()).isEqualTo(9);
    assertThat(response.at("/usage/output_tokens_details/reasoning_tokens").asInt()).isEqualTo(3);
    // Items are numbered in order, each event pointing at its own.
    assertThat(s.named("response.output_item.added")).extracting(e -> e.json().get("output_index").asInt())
        .containsExactly(0, 1, 2);
  }

  @Test
  void responsesCutByMaxOutputTokensEndIncomplete() throws Exception {
    Stream s = post("/v1/responses", "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"input\":\"hi\",\"max_output_tokens\":3}",
        "ttft=10ms itl=2ms tokens=10");

    Event last = s.events().getLast();
    assertThat(last.name()).isEqualTo("response.incomplete");
    assertThat(last.flags()).isEqualTo(EventKind.TERMINATOR);
    assertThat(last.json().at("/response/incomplete_details/reason").asText()).isEqualTo("max_output_tokens");
    assertThat(EventKind.usage(last.kind())).isEqualTo(3);
  }

  @Test
  void aCutMidStreamEndsWithoutTheTerminatorInEveryDialect() throws Exception {
    for (String[] api : List.of(new String[] {"/v1/messages", MESSAGES}, new String[] {"/v1/responses", RESPONSES})) {
      Stream s = post(api[0], api[1], "ttft=10ms itl=5ms tokens=10 drop_after=3");

      assertThat(countKinds(s, EventKind.GENERATED)).as(api[0]).isEqualTo(3);
      assertThat(countKinds(s, EventKind.TERMINATOR)).as(api[0]).isZero();
      assertThat(s.complete()).as("no terminating chunk: the cut shows as one (%s)", api[0]).isFalse();
    }
  }

  @Test
  void anInBandErrorIsInEachDialectsOwnShapeAndStamped() throws Exception {
    Stream a = post("/v1/messages", MESSAGES, "ttft=10ms itl=5ms tokens=10 error_after=2");
    Event error = a.events().getLast();
    assertThat(error.name()).isEqualTo("error");
    assertThat(error.id()).startsWith("tp.");
    assertThat(error.flags()).isEqualTo(EventKind.ERROR);
    assertThat(error.json().get("type").asText()).isEqualTo("error");
    assertThat(error.json().at("/error/type").asText()).isEqualTo("api_error");
    assertThat(error.json().at("/error/message").asText()).contains("Injected fault");
    assertThat(countKinds(a, EventKind.GENERATED)).isEqualTo(2);
    assertThat(countKinds(a, EventKind.TERMINATOR)).isZero();
    assertThat(a.complete()).as("the HTTP body ends properly; the stream's events say it failed").isTrue();
    assertStampedInOrder(a);

    Stream r = post("/v1/responses", RESPONSES, "ttft=10ms itl=5ms tokens=10 error_after=2");
    error = r.events().getLast();
    assertThat(error.name()).isEqualTo("error");
    assertThat(error.flags()).isEqualTo(EventKind.ERROR);
    assertThat(error.json().get("type").asText()).isEqualTo("error");
    assertThat(error.json().get("code").asText()).isEqualTo("injected_fault");
    assertThat(countKinds(r, EventKind.GENERATED)).isEqualTo(2);
    assertThat(countKinds(r, EventKind.TERMINATOR)).isZero();
    assertStampedInOrder(r);
  }

  @Test
  void anthropicWithoutMaxTokensIs400InAnthropicsErrorShape() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/messages",
        "{\"model\":\"tokenpipe-sim\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(400);
      JsonNode body = Json.MAPPER.readTree(c.body());
      assertThat(body.get("type").asText()).isEqualTo("error");
      assertThat(body.at("/error/type").asText()).isEqualTo("invalid_request_error");
      assertThat(body.at("/error/message").asText()).contains("max_tokens");
    }
  }

  @ParameterizedTest(name = "{0} {1} -> {2}")
  @CsvSource(delimiter = '|', value = {
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} | 400 | max_tokens",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":10,\"messages\":[]} | 400 | messages: at least one message is required",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":10} | 400 | messages: Field required",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":10,\"messages\":\"hi\"} | 400 | messages: Input should be a valid list",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":2000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":10},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} | 400 | budget_tokens",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":1500,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1500},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} | 400 | budget_tokens",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":10,\"tools\":[{}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} | 400 | tools.0.name",
      "/v1/messages | {\"model\":\"other\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} | 404 | does not exist",
      "/v1/messages | {not json | 400 | JSON",
      "/v1/responses | {\"model\":\"tokenpipe-sim\"} | 400 | input",
      "/v1/responses | {\"model\":\"tokenpipe-sim\",\"input\":5} | 400 | input",
      "/v1/responses | {\"model\":\"tokenpipe-sim\",\"input\":\"hi\",\"max_output_tokens\":-1} | 400 | max_output_tokens",
      "/v1/responses | {\"model\":\"tokenpipe-sim\",\"input\":\"hi\",\"reasoning\":\"high\"} | 400 | reasoning",
      "/v1/responses | {\"model\":\"tokenpipe-sim\",\"input\":\"hi\",\"stream\":\"yes\"} | 400 | stream",
  })
  void badRequestsAreAnsweredInTheApisOwnErrorShape(String path, String body, int status, String mentions) throws Exception {
    try (RawClient c = RawClient.post(sim.port(), path, body)) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(status);
      JsonNode error = Json.MAPPER.readTree(c.body());
      if (path.equals("/v1/messages")) {
        assertThat(error.get("type").asText()).as("%s", error).isEqualTo("error");
        assertThat(error.at("/error/type").asText()).isEqualTo(status == 404 ? "not_found_error" : "invalid_request_error");
        assertThat(error.at("/error/message").asText()).contains(mentions);
      } else {
        assertThat(error.has("type")).as("OpenAI's shape: %s", error).isFalse();
        assertThat(error.at("/error/type").asText()).isEqualTo("invalid_request_error");
        assertThat(error.at("/error/param").asText() + error.at("/error/message").asText()).contains(mentions);
      }
    }
  }

  @Test
  void chatInBandErrorKeepsOpenAisShape() throws Exception {
    Stream s = post("/v1/chat/completions", SimStreamingTest.CHAT, "ttft=10ms itl=5ms tokens=10 error_after=2");
    Event error = s.events().getLast();
    assertThat(error.name()).isEqualTo("error");
    assertThat(error.flags()).isEqualTo(EventKind.ERROR);
    assertThat(error.json().at("/error/code").asText()).isEqualTo("injected_fault");
    assertThat(countKinds(s, EventKind.CONTENT)).isEqualTo(2);
    assertThat(s.body()).doesNotContain("[DONE]");
    assertStampedInOrder(s);
  }

  @Test
  void anInjectedStatusIsInTheApisErrorShape() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/messages", MESSAGES, "X-Tokenpipe-Sim: error_rate=1 error_status=429")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(429);
      assertThat(c.head()).contains("retry-after: 1");
      JsonNode body = Json.MAPPER.readTree(c.body());
      assertThat(body.get("type").asText()).isEqualTo("error");
      assertThat(body.at("/error/type").asText()).isEqualTo("rate_limit_error");
    }
    try (RawClient c = RawClient.post(sim.port(), "/v1/responses", RESPONSES, "X-Tokenpipe-Sim: error_rate=1 error_status=500")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(500);
      assertThat(Json.MAPPER.readTree(c.body()).at("/error/code").asText()).isEqualTo("injected_fault");
    }
  }

  @Test
  void nonStreamingBodiesInEachApisShape() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/messages", MESSAGES.replace("\"stream\":true", "\"stream\":false"),
        "X-Tokenpipe-Sim: ttft=10ms itl=1ms tokens=6 reasoning=2 tool_call=2")) {
      assertThat(c.readToEnd()).isTrue();
      JsonNode m = Json.MAPPER.readTree(c.body());
      assertThat(m.get("type").asText()).isEqualTo("message");
      assertThat(m.get("content")).extracting(j -> j.get("type").asText()).containsExactly("thinking", "text", "tool_use");
      assertThat(m.at("/content/2/input/input").asText()).isNotEmpty();
      assertThat(m.get("stop_reason").asText()).isEqualTo("tool_use");
      assertThat(m.at("/usage/output_tokens").asInt()).isEqualTo(6);
    }
    try (RawClient c = RawClient.post(sim.port(), "/v1/responses", RESPONSES.replace("\"stream\":true", "\"stream\":false"),
        "X-Tokenpipe-Sim: ttft=10ms itl=1ms tokens=4")) {
      assertThat(c.readToEnd()).isTrue();
      JsonNode r = Json.MAPPER.readTree(c.body());
      assertThat(r.get("object").asText()).isEqualTo("response");
      assertThat(r.get("status").asText()).isEqualTo("completed");
      assertThat(r.at("/output/0/content/0/text").asText()).isNotEmpty();
      assertThat(r.at("/usage/output_tokens").asInt()).isEqualTo(4);
    }
  }

  @Test
  void chatStreamsReasoningAndAToolCallToo() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{}}}]}";
    Stream s = post("/v1/chat/completions", body, "ttft=10ms itl=2ms tokens=6 reasoning=2 tool_call=2");

    List<Integer> kinds = s.events().stream().map(Event::flags).filter(f -> (f & EventKind.GENERATED) != 0).toList();
    assertThat(kinds).containsExactly(EventKind.REASONING, EventKind.REASONING, EventKind.CONTENT, EventKind.CONTENT,
        EventKind.TOOL_CALL, EventKind.TOOL_CALL);
    StringBuilder args = new StringBuilder();
    String name = null;
    String finish = null;
    for (Event e : s.events()) {
      if (e.data().startsWith("{")) {
        JsonNode call = e.json().at("/choices/0/delta/tool_calls/0/function");
        args.append(call.path("arguments").asText());
        name = name == null && call.has("name") ? call.get("name").asText() : name;
        finish = e.json().at("/choices/0/finish_reason").isTextual() ? e.json().at("/choices/0/finish_reason").asText() : finish;
      }
    }
    assertThat(name).isEqualTo("get_weather");
    assertThat(Json.MAPPER.readTree(args.toString()).get("input").asText()).isNotEmpty();
    assertThat(finish).isEqualTo("tool_calls");
    assertStampedInOrder(s);
  }

  @Test
  void theFirstTokenComesAfterTheTtftWhileTheOpeningEventsComeAtOnce() throws Exception {
    for (String[] api : List.of(new String[] {"/v1/messages", MESSAGES}, new String[] {"/v1/responses", RESPONSES})) {
      Stream s = post(api[0], api[1], "ttft=300ms itl=5ms tokens=3");
      long open = stamp(s.events().getFirst()).emitMicros();
      long first = s.events().stream().filter(e -> EventKind.generated(e.kind())).map(e -> stamp(e).emitMicros())
          .findFirst().orElseThrow();
      assertThat((first - open) / 1000).as(api[0]).isBetween(280L, 1500L);
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  static Stream post(String path, String body, String profile) throws Exception {
    return post(sim.port(), path, body, profile);
  }

  /** One request to the sim on {@code port}, read to its end and cut into events, each classified. */
  static Stream post(int port, String path, String body, String profile) throws Exception {
    try (RawClient c = RawClient.post(port, path, body, "X-Tokenpipe-Sim: " + profile)) {
      boolean ended = c.readToEnd();
      String raw = c.body();
      String dechunked = dechunk(raw);
      List<Event> events = new ArrayList<>();
      EventClassifier classifier = new EventClassifier();
      for (String block : dechunked.split("\n\n")) {
        if (block.isBlank()) {
          continue;
        }
        String name = null;
        String id = null;
        List<String> data = new ArrayList<>();
        for (String line : block.split("\n")) {
          if (line.startsWith("event: ")) {
            name = line.substring(7);
          } else if (line.startsWith("id: ")) {
            id = line.substring(4);
          } else if (line.startsWith("data: ")) {
            data.add(line.substring(6));
          }
        }
        String d = String.join("\n", data);
        events.add(new Event(name, id, d, classifier.of(name == null ? "message" : name, d)));
      }
      return new Stream(c.status(), c.head(), events, ended && raw.endsWith("0\r\n\r\n"), dechunked);
    }
  }

  /** The body of a chunked response, as far as it arrived. */
  static String dechunk(String chunked) {
    StringBuilder out = new StringBuilder();
    byte[] b = chunked.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int i = 0;
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    while (i < b.length) {
      int eol = indexOf(b, i);
      if (eol < 0) {
        break;
      }
      int size = Integer.parseInt(new String(b, i, eol - i, java.nio.charset.StandardCharsets.US_ASCII).trim(), 16);
      if (size == 0) {
        break;
      }
      int start = eol + 2;
      bytes.write(b, start, Math.min(size, b.length - start));
      i = start + size + 2;
    }
    out.append(bytes.toString(java.nio.charset.StandardCharsets.UTF_8));
    return out.toString();
  }

  private static int indexOf(byte[] b, int from) {
    for (int i = from; i + 1 < b.length; i++) {
      if (b[i] == '\r' && b[i + 1] == '\n') {
        return i;
      }
    }
    return -1;
  }

  static EmissionStamp stamp(Event e) {
    return EmissionStamp.parse(e.id()).orElseThrow(() -> new AssertionError("no stamp on " + e));
  }

  /** Every event stamped, the stamps' sequence counting from 0 and their times never going back. */
  static void assertStampedInOrder(Stream s) {
    long last = 0;
    for (int i = 0; i < s.events().size(); i++) {
      EmissionStamp st = stamp(s.events().get(i));
      assertThat(st.seq()).as("stamp of event %d", i).isEqualTo(i);
      assertThat(st.emitMicros()).isGreaterThanOrEqualTo(last);
      last = st.emitMicros();
    }
  }

  static void assertTypeIsTheEventName(Stream s) throws Exception {
    for (Event e : s.events()) {
      assertThat(e.json().get("type").asText()).as("%s", e).isEqualTo(e.name());
    }
  }

  static void assertSequenceNumbers(Stream s) throws Exception {
    List<Integer> seq = new ArrayList<>();
    for (Event e : s.events()) {
      seq.add(e.json().get("sequence_number").asInt());
    }
    List<Integer> expected = new ArrayList<>();
    for (int i = 0; i < seq.size(); i++) {
      expected.add(i);
    }
    assertThat(seq).as(s.names().stream().collect(Collectors.joining(", "))).isEqualTo(expected);
  }

  static long countKinds(Stream s, int kind) {
    return s.events().stream().filter(e -> EventKind.has(e.kind(), kind)).count();
  }
}
