package dev.tokenpipe.dialect;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Property: for thousands of random events of every dialect (random field order, whitespace, unicode escapes
 * in keys and values, strings that contain {@code "content"} or braces, unknown nested fields, several choices,
 * nulls, wrong types, and random cuts and edits that make the JSON malformed), the hand-written scanner gives
 * exactly what a plain Jackson-tree reading of docs/metrics.md's definition gives, through every input variant.
 */
class EventClassifierPropertyTest {

  private static final int EVENTS = 10_000;

  private static final String[] STRINGS = {
      "", "", "Hi", " ", "\"content\":\"x\"", "}", "{", "]", "[", "\\", "é", "日本", "😀", "\u0000", "\n", "content",
      "[DONE]", "true", "delta", "\"choices\":[{\"delta\":{\"content\":\"y\"}}]}", "tool_calls", ",", ":", "\t", "\u2028"};
  private static final String[] TYPES = {
      "content_block_delta", "message_stop", "message_start", "message_delta", "content_block_start", "ping", "error",
      "response.output_text.delta", "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
      "response.function_call_arguments.delta", "response.completed", "response.incomplete", "response.failed",
      "response.created", "response.output_text.done", "chat.completion.chunk"};
  private static final String[] SSE_TYPES = {
      null, "message", "message", "error", "message_stop", "content_block_delta", "response.completed", "ping",
      "response.output_text.delta"};
  private static final String[] KEYS = {
      "content", "delta", "choices", "type", "text", "usage", "error", "done", "response", "message", "id", "x",
      "reasoning", "function", "arguments", "name", "output_tokens", "completion_tokens", "eval_count"};

  @Test
  void scannerAgreesWithJacksonTreeReference() {
    int generated = 0;
    int malformed = 0;
    int[] kinds = new int[5];
    EventClassifier c = new EventClassifier();
    for (int seed = 0; seed < EVENTS; seed++) {
      Random rnd = new Random(seed);
      String sseType = SSE_TYPES[rnd.nextInt(SSE_TYPES.length)];
      Object event = event(rnd);
      String data = event instanceof String s ? s : new Writer(rnd).write(event);
      if (rnd.nextInt(8) == 0) {
        data = mutate(data, rnd);
      }
      Expected want = reference(sseType, data);
      malformed += want.malformed ? 1 : 0;
      check(seed, sseType, data, "CharSequence", c.of(sseType, data), c, want);

      byte[] utf8 = data.getBytes(UTF_8);
      byte[] padded = new byte[utf8.length + 4];
      System.arraycopy(utf8, 0, padded, 2, utf8.length);
      padded[0] = padded[padded.length - 1] = '"'; // a scanner reading outside its range would see these
      padded[1] = padded[padded.length - 2] = '{';
      check(seed, sseType, data, "byte[]", c.of(sseType, padded, 2, utf8.length), c, want);
      ByteBuf direct = Unpooled.directBuffer(padded.length).writeBytes(padded);
      try {
        check(seed, sseType, data, "direct ByteBuf", c.of(sseType, direct, 2, utf8.length), c, want);
      } finally {
        direct.release();
      }
      generated += EventKind.generated(want.kind) ? 1 : 0;
      for (int k = 0; k < 5; k++) {
        kinds[k] += (want.kind & (1 << k)) != 0 ? 1 : 0;
      }
    }
    // The generator must exercise every kind and both sides of the malformed line.
    assertThat(generated).isGreaterThan(EVENTS / 10);
    for (int k = 0; k < 5; k++) {
      assertThat(kinds[k]).as("events of kind bit %d", k).isGreaterThan(EVENTS / 100);
    }
    assertThat(malformed).isGreaterThan(EVENTS / 50).isLessThan(EVENTS / 4);
  }

  /** Compares without building a description per event (10,000 events x 3 variants must stay fast). */
  private static void check(int seed, String sseType, String data, String variant, long got, EventClassifier c, Expected want) {
    String[] texts = {c.text(EventKind.CONTENT), c.text(EventKind.REASONING), c.text(EventKind.TOOL_CALL)};
    if (got != want.kind || !java.util.Arrays.equals(texts, want.texts)) {
      String what = "seed " + seed + " " + variant + " type " + sseType + " data " + show(data);
      assertThat(EventKind.describe(got)).as(what).isEqualTo(EventKind.describe(want.kind));
      assertThat(texts).as(what + " texts").containsExactly(want.texts);
    }
  }

  // --- reference: the definition read off a Jackson tree ------------------------------------------------

  private record Expected(long kind, String[] texts, boolean malformed) {}

  private static Expected reference(String sseType, String data) {
    int err = "error".equals(sseType) ? EventKind.ERROR : 0;
    String[] none = {"", "", ""};
    String trimmed = trimJsonWhitespace(data);
    if (trimmed.equals("[DONE]")) {
      return new Expected(EventKind.of(EventKind.TERMINATOR | err, -1), none, false);
    }
    if (trimmed.isEmpty() || trimmed.charAt(0) != '{') {
      return new Expected(EventKind.of(err, -1), none, false);
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(data);
    } catch (Exception e) {
      return new Expected(EventKind.of(err, -1), none, true);
    }
    // Texts per kind, in the precedence order of the definition; the first non-empty string in document order.
    List<String> content = new ArrayList<>();
    List<String> reasoning = new ArrayList<>();
    List<String> tool = new ArrayList<>();
    JsonNode choices = root.get("choices");
    List<String> choiceContent = new ArrayList<>();
    boolean finished = false;
    if (choices != null && choices.isArray()) {
      for (JsonNode choice : choices) {
        if (!choice.isObject()) {
          continue;
        }
        for (Map.Entry<String, JsonNode> f : choice.properties()) {
          JsonNode v = f.getValue();
          if ((f.getKey().equals("delta") || f.getKey().equals("message")) && v.isObject()) {
            for (Map.Entry<String, JsonNode> d : v.properties()) {
              JsonNode dv = d.getValue();
              switch (d.getKey()) {
                case "content" -> add(choiceContent, dv);
                case "reasoning_content", "reasoning" -> add(reasoning, dv);
                case "tool_calls" -> {
                  if (dv.isArray()) {
                    for (JsonNode call : dv) {
                      if (call.isObject() && call.path("function").isObject()) {
                        function(call.get("function"), tool);
                      }
                    }
                  }
                }
                case "function_call" -> {
                  if (dv.isObject()) {
                    function(dv, tool);
                  }
                }
                default -> { }
              }
            }
          } else if (f.getKey().equals("text")) {
            add(choiceContent, v);
          } else if (f.getKey().equals("finish_reason") && v.isTextual()) {
            finished = true;
          }
        }
      }
    }
    content.addAll(choiceContent);
    for (Map.Entry<String, JsonNode> f : root.properties()) {
      if (f.getKey().equals("message") && f.getValue().isObject()) {
        add(content, f.getValue().get("content"));
      } else if (f.getKey().equals("response")) {
        add(content, f.getValue());
      }
    }
    String type = root.path("type").isTextual() ? root.get("type").asText() : sseType;
    type = type == null ? "" : type;
    int flags = 0;
    JsonNode delta = root.path("delta");
    switch (type) {
      case "content_block_delta" -> {
        String dt = delta.path("type").isTextual() ? delta.get("type").asText() : "";
        switch (dt) {
          case "text_delta" -> add(content, delta.get("text"));
          case "thinking_delta" -> add(reasoning, delta.get("thinking"));
          case "input_json_delta" -> add(tool, delta.get("partial_json"));
          default -> { }
        }
      }
      case "response.output_text.delta" -> add(content, delta);
      case "response.reasoning_text.delta", "response.reasoning_summary_text.delta" -> add(reasoning, delta);
      case "response.function_call_arguments.delta" -> add(tool, delta);
      case "message_stop", "response.completed", "response.incomplete" -> flags |= EventKind.TERMINATOR;
      case "response.failed" -> flags |= EventKind.TERMINATOR | EventKind.ERROR;
      case "error" -> flags |= EventKind.ERROR;
      default -> { }
    }
    flags |= content.isEmpty() ? 0 : EventKind.CONTENT;
    flags |= reasoning.isEmpty() ? 0 : EventKind.REASONING;
    flags |= tool.isEmpty() ? 0 : EventKind.TOOL_CALL;
    flags |= finished ? EventKind.FINISHED : 0;
    if (root.path("done").isBoolean() && root.get("done").booleanValue()) {
      flags |= EventKind.TERMINATOR;
    }
    JsonNode error = root.path("error");
    if (error.isObject() || (error.isTextual() && !error.asText().isEmpty())) {
      flags |= EventKind.ERROR;
    }
    long usage = count(root.path("usage").path("completion_tokens"));
    usage = usage >= 0 ? usage : count(root.path("usage").path("output_tokens"));
    usage = usage >= 0 ? usage : count(root.path("response").path("usage").path("output_tokens"));
    usage = usage >= 0 ? usage : count(root.path("eval_count"));
    String[] texts = {first(content), first(reasoning), first(tool)};
    return new Expected(EventKind.of(flags | err, usage), texts, false);
  }

  private static void function(JsonNode fn, List<String> tool) {
    for (Map.Entry<String, JsonNode> f : fn.properties()) {
      if (f.getKey().equals("name") || f.getKey().equals("arguments")) {
        add(tool, f.getValue());
      }
    }
  }

  private static void add(List<String> texts, JsonNode n) {
    if (n != null && n.isTextual() && !n.asText().isEmpty()) {
      texts.add(n.asText());
    }
  }

  private static String first(List<String> texts) {
    return texts.isEmpty() ? "" : texts.get(0);
  }

  private static long count(JsonNode n) {
    if (n.isIntegralNumber() && n.canConvertToLong() && n.longValue() >= 0 && n.longValue() < 1_000_000_000_000_000L) {
      return n.longValue();
    }
    return -1;
  }

  /** The data in ASCII with every other character as {@code <hex>} (a NUL or a lone surrogate would cut the report). */
  private static String show(String s) {
    StringBuilder sb = new StringBuilder();
    s.chars().forEach(ch -> {
      if (ch < 0x20 || ch > 0x7e) {
        sb.append(String.format("<%04x>", ch));
      } else {
        sb.append((char) ch);
      }
    });
    return sb.toString();
  }

  private static String trimJsonWhitespace(String s) {
    int a = 0;
    int b = s.length();
    while (a < b && " \t\r\n".indexOf(s.charAt(a)) >= 0) {
      a++;
    }
    while (b > a && " \t\r\n".indexOf(s.charAt(b - 1)) >= 0) {
      b--;
    }
    return s.substring(a, b);
  }

  // --- generator ----------------------------------------------------------------------------------------

  /** A random event: a Map/List/String/Number/Boolean/null tree (serialized by {@link Writer}), or raw text. */
  private static Object event(Random rnd) {
    return switch (rnd.nextInt(12)) {
      case 0, 1, 2 -> chatChunk(rnd);
      case 3 -> ollama(rnd);
      case 4, 5 -> anthropic(rnd);
      case 6, 7 -> responses(rnd);
      case 8 -> errorObject(rnd);
      case 9 -> rnd.nextBoolean() ? "[DONE]" : pick(rnd, "", " [DONE]\n", "[DONE] x", "plain token", "[1]", "42", "null");
      default -> junk(rnd, 0);
    };
  }

  private static Map<String, Object> chatChunk(Random rnd) {
    Map<String, Object> m = obj();
    maybe(rnd, m, "id", "chatcmpl-" + rnd.nextInt(1000));
    maybe(rnd, m, "object", rnd.nextBoolean() ? "chat.completion.chunk" : "text_completion");
    maybe(rnd, m, "created", (long) rnd.nextInt(2_000_000_000));
    maybe(rnd, m, "model", str(rnd));
    List<Object> choices = new ArrayList<>();
    int n = rnd.nextInt(10) == 0 ? 2 + rnd.nextInt(2) : rnd.nextInt(6) == 0 ? 0 : 1;
    for (int i = 0; i < n; i++) {
      Map<String, Object> choice = obj();
      choice.put("index", (long) i);
      if (rnd.nextInt(5) == 0) {
        choice.put("text", maybeNull(rnd, str(rnd)));
      } else {
        choice.put(rnd.nextInt(8) == 0 ? "message" : "delta", rnd.nextInt(20) == 0 ? junk(rnd, 1) : delta(rnd));
      }
      maybe(rnd, choice, "finish_reason", rnd.nextBoolean() ? null : "stop");
      maybe(rnd, choice, "logprobs", rnd.nextBoolean() ? null : map("content", List.of(map("token", "content"))));
      choices.add(rnd.nextInt(30) == 0 ? str(rnd) : shuffled(rnd, choice));
    }
    m.put("choices", rnd.nextInt(30) == 0 ? null : choices);
    if (rnd.nextInt(3) == 0) {
      m.put("usage", rnd.nextInt(3) == 0 ? null : usage(rnd, "completion_tokens"));
    }
    maybe(rnd, m, "system_fingerprint", junk(rnd, 1));
    return shuffled(rnd, m);
  }

  private static Object delta(Random rnd) {
    Map<String, Object> d = obj();
    maybe(rnd, d, "role", "assistant");
    if (rnd.nextInt(3) > 0) {
      d.put("content", maybeNull(rnd, str(rnd)));
    }
    if (rnd.nextInt(5) == 0) {
      d.put(rnd.nextBoolean() ? "reasoning_content" : "reasoning", maybeNull(rnd, str(rnd)));
    }
    if (rnd.nextInt(5) == 0) {
      List<Object> calls = new ArrayList<>();
      for (int i = rnd.nextInt(3); i >= 0; i--) {
        Map<String, Object> call = obj();
        call.put("index", (long) i);
        maybe(rnd, call, "id", "call_" + i);
        maybe(rnd, call, "type", "function");
        call.put("function", rnd.nextInt(15) == 0 ? str(rnd) : function(rnd));
        calls.add(shuffled(rnd, call));
      }
      d.put("tool_calls", rnd.nextInt(15) == 0 ? null : calls);
    }
    if (rnd.nextInt(12) == 0) {
      d.put("function_call", function(rnd));
    }
    maybe(rnd, d, "refusal", null);
    maybe(rnd, d, "extra", junk(rnd, 1));
    return shuffled(rnd, d);
  }

  private static Map<String, Object> function(Random rnd) {
    Map<String, Object> f = obj();
    maybe(rnd, f, "name", maybeNull(rnd, str(rnd)));
    maybe(rnd, f, "arguments", rnd.nextInt(10) == 0 ? map("a", 1L) : maybeNull(rnd, str(rnd)));
    return shuffled(rnd, f);
  }

  private static Map<String, Object> ollama(Random rnd) {
    Map<String, Object> m = obj();
    m.put("model", "llama");
    m.put("created_at", "2025-01-01T00:00:00Z");
    if (rnd.nextBoolean()) {
      Map<String, Object> msg = obj();
      msg.put("role", "assistant");
      msg.put("content", rnd.nextInt(10) == 0 ? List.of() : maybeNull(rnd, str(rnd)));
      maybe(rnd, msg, "thinking", str(rnd));
      m.put("message", shuffled(rnd, msg));
    } else {
      m.put("response", rnd.nextInt(10) == 0 ? junk(rnd, 1) : str(rnd));
    }
    m.put("done", rnd.nextInt(10) == 0 ? "true" : rnd.nextBoolean());
    maybe(rnd, m, "eval_count", number(rnd));
    return shuffled(rnd, m);
  }

  private static Map<String, Object> anthropic(Random rnd) {
    Map<String, Object> m = obj();
    String type = rnd.nextInt(4) == 0 ? pick(rnd, TYPES) : "content_block_delta";
    if (rnd.nextInt(15) > 0) {
      m.put("type", rnd.nextInt(30) == 0 ? null : type);
    }
    switch (type) {
      case "message_start" -> m.put("message", map("id", "msg_1", "type", "message", "role", "assistant",
          "content", List.of(), "usage", usage(rnd, "output_tokens")));
      case "message_delta" -> {
        m.put("delta", map("stop_reason", "end_turn"));
        m.put("usage", usage(rnd, "output_tokens"));
      }
      case "error" -> m.put("error", map("type", "overloaded_error", "message", "Overloaded"));
      default -> {
        m.put("index", (long) rnd.nextInt(3));
        Map<String, Object> d = obj();
        String dt = pick(rnd, "text_delta", "thinking_delta", "input_json_delta", "signature_delta", "citations_delta");
        if (rnd.nextInt(10) > 0) {
          d.put("type", dt);
        }
        String field = rnd.nextInt(6) == 0 ? pick(rnd, "text", "thinking", "partial_json", "signature")
            : switch (dt) {
              case "text_delta" -> "text";
              case "thinking_delta" -> "thinking";
              case "input_json_delta" -> "partial_json";
              default -> "signature";
            };
        d.put(field, maybeNull(rnd, str(rnd)));
        m.put("delta", rnd.nextInt(20) == 0 ? str(rnd) : shuffled(rnd, d));
      }
    }
    return shuffled(rnd, m);
  }

  private static Map<String, Object> responses(Random rnd) {
    Map<String, Object> m = obj();
    String type = rnd.nextInt(3) == 0 ? pick(rnd, TYPES) : pick(rnd, "response.output_text.delta",
        "response.reasoning_text.delta", "response.reasoning_summary_text.delta", "response.function_call_arguments.delta");
    if (rnd.nextInt(15) > 0) {
      m.put("type", type);
    }
    m.put("sequence_number", (long) rnd.nextInt(100));
    if (type.startsWith("response.") && type.endsWith(".delta")) {
      m.put("item_id", "item_" + rnd.nextInt(9));
      m.put("output_index", 0L);
      m.put("delta", rnd.nextInt(15) == 0 ? junk(rnd, 1) : maybeNull(rnd, str(rnd)));
    } else {
      Map<String, Object> r = obj();
      r.put("id", "resp_1");
      r.put("status", pick(rnd, "completed", "failed", "incomplete", "in_progress"));
      maybe(rnd, r, "output", List.of(map("type", "message", "content", List.of(map("type", "output_text", "text", str(rnd))))));
      maybe(rnd, r, "error", rnd.nextBoolean() ? null : map("code", "server_error", "message", "x"));
      r.put("usage", rnd.nextInt(4) == 0 ? null : usage(rnd, "output_tokens"));
      m.put("response", rnd.nextInt(20) == 0 ? str(rnd) : shuffled(rnd, r));
    }
    return shuffled(rnd, m);
  }

  private static Map<String, Object> errorObject(Random rnd) {
    Map<String, Object> m = obj();
    m.put("error", switch (rnd.nextInt(4)) {
      case 0 -> null;
      case 1 -> str(rnd);
      default -> map("message", str(rnd), "type", "server_error", "code", rnd.nextBoolean() ? "x" : "null");
    });
    maybe(rnd, m, "type", pick(rnd, "error", "message"));
    return shuffled(rnd, m);
  }

  private static Map<String, Object> usage(Random rnd, String key) {
    Map<String, Object> u = obj();
    maybe(rnd, u, "prompt_tokens", (long) rnd.nextInt(100));
    maybe(rnd, u, "input_tokens", (long) rnd.nextInt(100));
    u.put(rnd.nextInt(5) == 0 ? pick(rnd, "completion_tokens", "output_tokens", "total_tokens") : key, number(rnd));
    maybe(rnd, u, "completion_tokens_details", map("reasoning_tokens", 3L));
    return shuffled(rnd, u);
  }

  private static Object number(Random rnd) {
    return switch (rnd.nextInt(10)) {
      case 0 -> -1L * rnd.nextInt(5);
      case 1 -> 7.0;
      case 2 -> 1e20;
      case 3 -> "7";
      case 4 -> null;
      case 5 -> 123_456_789_012_345_678L;
      case 6 -> 999_999_999_999_999L;
      default -> (long) rnd.nextInt(5000);
    };
  }

  /** Unknown structure, sometimes with the interesting keys in the wrong places. */
  private static Object junk(Random rnd, int depth) {
    int k = depth > 4 ? rnd.nextInt(5) : rnd.nextInt(8);
    return switch (k) {
      case 0 -> str(rnd);
      case 1 -> number(rnd);
      case 2 -> rnd.nextBoolean();
      case 3 -> null;
      case 4 -> rnd.nextInt(3) == 0 ? -0.5e-3 : (long) rnd.nextInt(100);
      case 5 -> {
        List<Object> l = new ArrayList<>();
        for (int i = rnd.nextInt(4); i > 0; i--) {
          l.add(junk(rnd, depth + 1));
        }
        yield l;
      }
      default -> {
        Map<String, Object> m = obj();
        for (int i = rnd.nextInt(5); i > 0; i--) {
          m.put(pick(rnd, KEYS), junk(rnd, depth + 1));
        }
        yield m;
      }
    };
  }

  /** Cuts, drops or inserts one code point (never half a surrogate pair: the byte variants must see the same text). */
  private static String mutate(String data, Random rnd) {
    if (data.isEmpty()) {
      return "{";
    }
    int[] cps = data.codePoints().toArray();
    int at = rnd.nextInt(cps.length);
    String head = new String(cps, 0, at);
    return switch (rnd.nextInt(4)) {
      case 0 -> head; // cut
      case 1 -> head + new String(cps, at + 1, cps.length - at - 1); // a character lost
      case 2 -> head + pick(rnd, "{", "}", "[", "]", "\"", ",", ":", "\\", " ", "x", "0", "-", ".", "\u0001")
          + new String(cps, at, cps.length - at);
      default -> data + pick(rnd, "}", " x", ",", "\n");
    };
  }

  /** An ordered map (Map.of's order changes from run to run, and a seed must mean one event). */
  private static Map<String, Object> map(Object... kv) {
    Map<String, Object> m = obj();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  private static Map<String, Object> obj() {
    return new LinkedHashMap<>();
  }

  private static void maybe(Random rnd, Map<String, Object> m, String key, Object value) {
    if (rnd.nextInt(3) == 0) {
      m.put(key, value);
    }
  }

  private static Object maybeNull(Random rnd, Object value) {
    return rnd.nextInt(8) == 0 ? null : value;
  }

  private static String str(Random rnd) {
    StringBuilder sb = new StringBuilder();
    for (int i = rnd.nextInt(3); i >= 0; i--) {
      sb.append(STRINGS[rnd.nextInt(STRINGS.length)]);
    }
    return sb.toString();
  }

  @SafeVarargs
  private static <T> T pick(Random rnd, T... options) {
    return options[rnd.nextInt(options.length)];
  }

  private static Map<String, Object> shuffled(Random rnd, Map<String, Object> m) {
    List<Map.Entry<String, Object>> entries = new ArrayList<>(m.entrySet());
    Collections.shuffle(entries, rnd);
    Map<String, Object> out = obj();
    for (Map.Entry<String, Object> e : entries) {
      out.put(e.getKey(), e.getValue());
    }
    return out;
  }

  /** JSON text with random whitespace and random (valid) escapes in keys and strings. */
  private static final class Writer {
    private final Random rnd;
    private final StringBuilder out = new StringBuilder();

    Writer(Random rnd) {
      this.rnd = rnd;
    }

    String write(Object v) {
      ws();
      value(v);
      ws();
      return out.toString();
    }

    private void ws() {
      if (rnd.nextInt(4) == 0) {
        for (int i = rnd.nextInt(3); i >= 0; i--) {
          out.append(" \t\r\n".charAt(rnd.nextInt(4)));
        }
      }
    }

    @SuppressWarnings("unchecked")
    private void value(Object v) {
      if (v == null) {
        out.append("null");
      } else if (v instanceof String s) {
        string(s);
      } else if (v instanceof Boolean || v instanceof Long) {
        out.append(v);
      } else if (v instanceof Double d) {
        out.append(rnd.nextBoolean() ? d.toString() : String.format(java.util.Locale.ROOT, "%.3e", d));
      } else if (v instanceof Map<?, ?> m) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<String, Object> e : ((Map<String, Object>) m).entrySet()) {
          if (!first) {
            out.append(',');
          }
          first = false;
          ws();
          string(e.getKey());
          ws();
          out.append(':');
          ws();
          value(e.getValue());
          ws();
        }
        out.append('}');
      } else if (v instanceof List<?> l) {
        out.append('[');
        for (int i = 0; i < l.size(); i++) {
          if (i > 0) {
            out.append(',');
          }
          ws();
          value(l.get(i));
          ws();
        }
        out.append(']');
      } else {
        throw new IllegalArgumentException(String.valueOf(v));
      }
    }

    private void string(String s) {
      out.append('"');
      boolean escapeLow = false;
      for (int i = 0; i < s.length(); i++) {
        char ch = s.charAt(i);
        // Both halves of a surrogate pair or neither: a lone one would not survive the trip to UTF-8 bytes.
        boolean escape = Character.isLowSurrogate(ch) ? escapeLow : rnd.nextInt(10) == 0;
        escapeLow = escape;
        if (ch == '"' || ch == '\\') {
          out.append('\\').append(escape ? "u00" + Integer.toHexString(ch) : String.valueOf(ch));
        } else if (ch < 0x20 || escape) {
          switch (escape || ch < 0x20 ? rnd.nextInt(2) : 0) {
            case 0 -> out.append(String.format(rnd.nextBoolean() ? "\\u%04x" : "\\u%04X", (int) ch));
            default -> out.append(switch (ch) {
              case '\n' -> "\\n";
              case '\t' -> "\\t";
              case '/' -> "\\/";
              default -> String.format("\\u%04x", (int) ch);
            });
          }
        } else {
          out.append(ch);
        }
      }
      out.append('"');
    }
  }
}
