package dev.tokenpipe.dialect;

import static dev.tokenpipe.dialect.EventKind.CONTENT;
import static dev.tokenpipe.dialect.EventKind.ERROR;
import static dev.tokenpipe.dialect.EventKind.REASONING;
import static dev.tokenpipe.dialect.EventKind.FINISHED;
import static dev.tokenpipe.dialect.EventKind.TERMINATOR;
import static dev.tokenpipe.dialect.EventKind.TOOL_CALL;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** Every shape of docs/metrics.md "What counts as a generated token", through all three input variants. */
class EventClassifierTest {

  static Stream<Arguments> shapes() {
    return Stream.of(
        // OpenAI chat completions
        row("message", "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}", CONTENT, -1, "Hi"),
        row("message", "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":null}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}", FINISHED, -1, ""),
        row("message", "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\".\"},\"finish_reason\":\"stop\"}]}", CONTENT | FINISHED, -1, "."),
        row("message", "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,\"total_tokens\":10}}", 0, 7, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}", CONTENT, -1, "a"),
        row("message", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}", REASONING, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"content\":null}}]}", REASONING, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\"}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
            + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}", TOOL_CALL, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}}]}",
            TOOL_CALL, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\"}}]}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"function_call\":{\"name\":\"f\"}}}]}", TOOL_CALL, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"\"}},{\"delta\":{\"content\":\"second\"}}]}", CONTENT, -1, "second"),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"x\",\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}}]}",
            CONTENT | TOOL_CALL, -1, "x"),
        // legacy completions
        row("message", "{\"choices\":[{\"text\":\" there\",\"index\":0,\"logprobs\":null}]}", CONTENT, -1, " there"),
        row("message", "{\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}", FINISHED, -1, ""),
        row("message", "[DONE]", TERMINATOR, -1, ""),
        row("message", " [DONE] ", TERMINATOR, -1, ""),
        row("message", "[DONE]x", 0, -1, ""),
        // Ollama NDJSON (no SSE type)
        row(null, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"ol\"},\"done\":false}", CONTENT, -1, "ol"),
        row(null, "{\"model\":\"m\",\"response\":\"gen\",\"done\":false}", CONTENT, -1, "gen"),
        row(null, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"eval_count\":12}",
            TERMINATOR, 12, ""),
        row(null, "{\"error\":\"model 'x' not found\"}", ERROR, -1, ""),
        row(null, "{\"error\":\"\"}", 0, -1, ""),
        // OpenAI-style error objects
        row("message", "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}", ERROR, -1, ""),
        row("message", "{\"choices\":[],\"error\":null}", 0, -1, ""),
        row("error", "boom", ERROR, -1, ""),
        row("error", "{\"message\":\"x\"}", ERROR, -1, ""),
        // Anthropic Messages
        row("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}", 0, -1, ""),
        row("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
            0, -1, ""),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}",
            CONTENT, -1, "Hello"),
        row("content_block_delta", "{\"delta\":{\"text\":\"Hello\",\"type\":\"text_delta\"},\"index\":0,\"type\":\"content_block_delta\"}",
            CONTENT, -1, "Hello"),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let\"}}",
            REASONING, -1, ""),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
            + "\"partial_json\":\"{\\\"location\\\":\"}}", TOOL_CALL, -1, ""),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}",
            0, -1, ""),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"Eq\"}}",
            0, -1, ""),
        row("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"thinking_delta\",\"text\":\"wrong field\"}}", 0, -1, ""),
        row("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
            + "\"usage\":{\"output_tokens\":15}}", 0, 15, ""),
        row("message_stop", "{\"type\":\"message_stop\"}", TERMINATOR, -1, ""),
        row("ping", "{\"type\": \"ping\"}", 0, -1, ""),
        row("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", ERROR, -1, ""),
        row("message", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", ERROR, -1, ""),
        // OpenAI Responses
        row("response.created", "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null},"
            + "\"sequence_number\":0}", 0, -1, ""),
        row("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,"
            + "\"content_index\":0,\"delta\":\"Hi\",\"sequence_number\":4}", CONTENT, -1, "Hi"),
        row("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"delta\":\"\"}", 0, -1, ""),
        row("response.reasoning_text.delta", "{\"type\":\"response.reasoning_text.delta\",\"delta\":\"think\"}", REASONING, -1, ""),
        row("response.reasoning_summary_text.delta", "{\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"sum\"}",
            REASONING, -1, ""),
        row("response.function_call_arguments.delta", "{\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\","
            + "\"delta\":\"{\\\"a\"}", TOOL_CALL, -1, ""),
        row("response.output_text.done", "{\"type\":\"response.output_text.done\",\"text\":\"Hi there\"}", 0, -1, ""),
        row("response.completed", "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\","
            + "\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}],"
            + "\"usage\":{\"input_tokens\":5,\"output_tokens\":9,\"total_tokens\":14}}}", TERMINATOR, 9, ""),
        row("response.incomplete", "{\"type\":\"response.incomplete\",\"response\":{\"usage\":{\"output_tokens\":3}}}", TERMINATOR, 3, ""),
        row("response.failed", "{\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\"}}}",
            TERMINATOR | ERROR, -1, ""),
        row("error", "{\"type\":\"error\",\"code\":\"ERR_SOMETHING\",\"message\":\"Something went wrong\",\"param\":null}", ERROR, -1, ""),
        // the SSE event type stands in when the data names none
        row("message_stop", "{}", TERMINATOR, -1, ""),
        row("message_stop", "{\"type\":\"ping\"}", 0, -1, ""),
        // tricky but valid JSON
        row("message", "{\"id\":\"\\\"content\\\":\\\"x\\\"}\",\"choices\":[{\"delta\":{\"content\":\"}\"}}]}", CONTENT, -1, "}"),
        row("message", "{\"choices\":[{\"delta\":{\"con\\u0074ent\":\"\\u00e9\\n\\ud83d\\ude00\"}}]}", CONTENT, -1, "é\n😀"),
        row("message", "{\"x\":{\"choices\":[{\"delta\":{\"content\":\"nested\"}}]},\"choices\":[]}", 0, -1, ""),
        row("message", " \r\n\t{ \"choices\" : [ { \"delta\" : { \"content\" : \"ws\" } } ] } \n", CONTENT, -1, "ws"),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]} trailing", CONTENT, -1, "a"),
        row("message", "{\"usage\":{\"completion_tokens\":7.0}}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":-3}}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":1e3}}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":\"7\"}}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":0}}", 0, 0, ""),
        row(null, "{\"done\":\"true\"}", 0, -1, ""),
        // malformed: never throws, classified as nothing (or error for an SSE error event)
        row("message", "{not json", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"cut", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"x\",}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"x\"}]}}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"\\q\"}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"\\u00zz\"}}]}", 0, -1, ""),
        row("message", "{\"choices\":[{\"delta\":{\"content\":\"raw\ttab\"}}]}", 0, -1, ""),
        row("message", "{\"done\":tru}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":01}}", 0, -1, ""),
        row("message", "{\"usage\":{\"completion_tokens\":1.}}", 0, -1, ""),
        row("message", "{\"a\":nul}", 0, -1, ""),
        row("message", "{\"error\":{\"message\":\"x\"}", 0, -1, ""),
        row("error", "{\"error\":{\"message\":\"x\"", ERROR, -1, ""),
        row("message", "{'single':'quotes'}", 0, -1, ""),
        row("message", "{\"a\" 1}", 0, -1, ""),
        row("message", "", 0, -1, ""),
        row("message", "   ", 0, -1, ""),
        row("message", "plain token", 0, -1, ""),
        row("message", "[1,2]", 0, -1, ""),
        row("message", "\"string\"", 0, -1, ""),
        row("message", "{", 0, -1, ""),
        row("message", "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}", 0, -1, ""),
        row("message", "{\"a\":" + "{\"b\":".repeat(2000) + "1" + "}".repeat(2000) + ",\"choices\":[{\"text\":\"t\"}]}", 0, -1, ""));
  }

  private static Arguments row(String type, String data, int flags, long usage, String content) {
    return Arguments.of(type, data, flags, usage, content);
  }

  @ParameterizedTest(name = "[{index}] {0} {1}")
  @MethodSource("shapes")
  void classifiesEveryShapeTheSameThroughEveryInput(String type, String data, int flags, long usage, String content) {
    long expected = EventKind.of(flags, usage);
    EventClassifier c = new EventClassifier();
    assertThat(EventKind.describe(c.of(type, data))).as("CharSequence").isEqualTo(EventKind.describe(expected));
    assertThat(c.text(CONTENT)).isEqualTo(content);

    byte[] utf8 = data.getBytes(UTF_8);
    byte[] padded = new byte[utf8.length + 7];
    System.arraycopy(utf8, 0, padded, 3, utf8.length);
    padded[0] = '{';
    padded[padded.length - 1] = '}';
    assertThat(EventKind.describe(c.of(type, padded, 3, utf8.length))).as("byte[]").isEqualTo(EventKind.describe(expected));
    assertThat(c.text(CONTENT)).isEqualTo(content);

    ByteBuf direct = Unpooled.directBuffer(padded.length).writeBytes(padded);
    try {
      assertThat(EventKind.describe(c.of(type, direct, 3, utf8.length))).as("direct ByteBuf").isEqualTo(EventKind.describe(expected));
      assertThat(c.text(CONTENT)).isEqualTo(content);
      assertThat(direct.readerIndex()).isZero();
      assertThat(direct.refCnt()).isEqualTo(1);
    } finally {
      direct.release();
    }
    ByteBuf heap = Unpooled.wrappedBuffer(padded);
    assertThat(EventKind.describe(c.of(type, heap, 3, utf8.length))).as("heap ByteBuf").isEqualTo(EventKind.describe(expected));
    assertThat(EventKind.describe(EventClassifier.classify(type, data))).as("static").isEqualTo(EventKind.describe(expected));
  }

  @Test
  void textOfEachKind() {
    EventClassifier c = new EventClassifier();
    c.of("message", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"why\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
        + "\"arguments\":\"{}\"}}]}}]}");
    assertThat(c.text(REASONING)).isEqualTo("why");
    assertThat(c.text(TOOL_CALL)).isEqualTo("f");
    assertThat(c.text(CONTENT)).isEmpty();
    c.of("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}");
    assertThat(c.text(TOOL_CALL)).isEqualTo("{\"a\"");
    c.of("message", "{not json");
    assertThat(c.text(TOOL_CALL)).isEmpty();
  }

  @Test
  void smallAndLargeEventsThroughStringsAndDirectBuffers() {
    EventClassifier c = new EventClassifier();
    for (int size : new int[] {10, 600, EventClassifier.SCRATCH_MAX - 40, EventClassifier.SCRATCH_MAX + 1, 100_000}) {
      String text = "é".repeat(size / 2);
      byte[] data = ("{\"choices\":[{\"delta\":{\"content\":\"" + text + "\"}}],\"usage\":{\"completion_tokens\":" + size + "}}")
          .getBytes(UTF_8);
      ByteBuf direct = Unpooled.directBuffer(data.length + 2).writeByte('{').writeBytes(data).writeByte('x');
      try {
        long kind = c.of("message", direct, 1, data.length);
        assertThat(EventKind.describe(kind)).as("size %d", size).isEqualTo("CONTENT usage=" + size);
        assertThat(c.text(CONTENT)).isEqualTo(text);
        assertThat(c.of("message", direct, 1, data.length - 1)).as("cut").isEqualTo(EventKind.NONE);
        String asString = new String(data, UTF_8);
        assertThat(EventKind.describe(c.of("message", asString))).as("string size %d", size).isEqualTo("CONTENT usage=" + size);
        assertThat(c.text(CONTENT)).isEqualTo(text);
        assertThat(EventKind.describe(c.of("message", new StringBuilder(asString)))).isEqualTo("CONTENT usage=" + size);
        assertThat(c.text(CONTENT)).isEqualTo(text);
      } finally {
        direct.release();
      }
    }
  }

  @Test
  void packingKeepsFlagsAndUsageApart() {
    long e = EventKind.of(CONTENT | TERMINATOR, 123_456_789_012L);
    assertThat(EventKind.usage(e)).isEqualTo(123_456_789_012L);
    assertThat(EventKind.has(e, CONTENT)).isTrue();
    assertThat(EventKind.has(e, ERROR)).isFalse();
    assertThat(EventKind.generated(e)).isTrue();
    assertThat(EventKind.generated(EventKind.of(TERMINATOR | ERROR, 5))).isFalse();
    assertThat(EventKind.usage(EventKind.NONE)).isEqualTo(-1);
    assertThat(EventKind.usage(EventKind.of(0, -1))).isEqualTo(-1);
    assertThat(EventKind.describe(EventKind.of(REASONING | TOOL_CALL, 0))).isEqualTo("REASONING|TOOL_CALL usage=0");
  }
}
