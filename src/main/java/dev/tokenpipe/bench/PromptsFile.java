package dev.tokenpipe.bench;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.tokens.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Request bodies from {@code --prompts-file}, cycled in file order. Two layouts, told apart by the first
 * non-blank character:
 *
 * <ul>
 *   <li><b>JSON array</b> ({@code [}): the ShareGPT layout, {@code [{"conversations": [{"from": "human", "value":
 *       ...}, {"from": "gpt", "value": ...}, ...]}, ...]} (roles {@code human}/{@code user} and {@code gpt}/
 *       {@code assistant}; also {@code role}/{@code content} keys). The prompt is the first human turn; the output
 *       length is the cl100k token count of the reply that follows it, sent as {@code max_tokens} (entries
 *       without a reply are skipped), as vLLM's ShareGPT benchmark does. Array elements may also be any JSONL
 *       entry below.
 *   <li><b>JSONL</b>: per line a JSON string, {@code {"prompt": ...}} or {@code {"messages": [...]}}, optionally with
 *       {@code "max_tokens"} or {@code "output_len"}, which overrides {@code --max-tokens} for that prompt.
 *       {@code messages} is for the APIs that take a conversation (OpenAI chat, Ollama, Anthropic, where
 *       {@code system} turns become the top-level {@code system}; Responses, as its {@code input}).
 * </ul>
 *
 * Every body is the API's own streaming request ({@link ClientApi#body}), so ShareGPT and prompt files work for
 * every dialect.
 *
 * Memory: the file is streamed; at most {@value #MAX_PROMPTS} bodies are kept (the first ones).
 */
final class PromptsFile {
  static final int MAX_PROMPTS = 100_000;

  private PromptsFile() {}

  /** @throws IllegalArgumentException with a one-line message (file:line or file:entry) */
  static List<byte[]> read(Path file, ClientApi kind, String model, int defaultMaxTokens) throws IOException {
    try (InputStream raw = Files.newInputStream(file)) {
      PushbackInputStream in = new PushbackInputStream(raw, 1);
      int c;
      do {
        c = in.read();
      } while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF);
      if (c < 0) {
        throw new IllegalArgumentException(file + " has no prompts");
      }
      in.unread(c);
      List<byte[]> out = c == '[' ? readArray(file, in, kind, model, defaultMaxTokens) : readLines(file, in, kind, model, defaultMaxTokens);
      if (out.isEmpty()) {
        throw new IllegalArgumentException(file + " has no prompts");
      }
      return out;
    }
  }

  private static List<byte[]> readArray(Path file, InputStream in, ClientApi kind, String model, int dflt) throws IOException {
    List<byte[]> out = new ArrayList<>();
    try (JsonParser p = Json.MAPPER.getFactory().createParser(in)) {
      p.nextToken(); // START_ARRAY
      int index = 0;
      JsonToken t;
      while ((t = p.nextToken()) != JsonToken.END_ARRAY && out.size() < MAX_PROMPTS) {
        if (t == null) {
          throw new IllegalArgumentException(file + ": the JSON array is not closed");
        }
        JsonNode entry = p.readValueAsTree();
        byte[] body = entry.has("conversations") ? shareGpt(entry.get("conversations"), kind, model)
            : entry(entry, kind, model, dflt, file + ": entry " + index);
        if (body != null) {
          out.add(body);
        }
        index++;
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    return out;
  }

  private static List<byte[]> readLines(Path file, InputStream in, ClientApi kind, String model, int dflt) throws IOException {
    List<byte[]> out = new ArrayList<>();
    BufferedReader r = new BufferedReader(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
    String line;
    int lineNo = 0;
    while ((line = r.readLine()) != null && out.size() < MAX_PROMPTS) {
      lineNo++;
      if (line.isBlank()) {
        continue;
      }
      JsonNode node;
      try {
        node = Json.MAPPER.readTree(line);
      } catch (IOException e) {
        throw new IllegalArgumentException(file + ":" + lineNo + ": not JSON");
      }
      out.add(entry(node, kind, model, dflt, file + ":" + lineNo));
    }
    return out;
  }

  /** A JSONL-style entry: a string, {"prompt"} or {"messages"}, with an optional output length. */
  private static byte[] entry(JsonNode node, ClientApi kind, String model, int dflt, String where) throws IOException {
    int maxTokens = dflt;
    if (node.isObject()) {
      JsonNode len = node.has("max_tokens") ? node.get("max_tokens") : node.get("output_len");
      if (len != null) {
        if (!len.canConvertToInt() || len.asInt() < 1) {
          throw new IllegalArgumentException(where + ": max_tokens/output_len must be a whole number >= 1");
        }
        maxTokens = len.asInt();
      }
    }
    if (node.isTextual()) {
      return kind.body(model, node.asText(), maxTokens);
    }
    String messagesField = messagesField(kind);
    if (node.isObject() && node.path("messages").isArray() && messagesField != null) {
      ObjectNode body = (ObjectNode) Json.MAPPER.readTree(kind.body(model, "", maxTokens));
      JsonNode messages = node.get("messages");
      if (kind.dialect() == Dialects.ANTHROPIC_MESSAGES) {
        messages = anthropicMessages(messages, body);
      }
      body.set(messagesField, messages);
      return Json.MAPPER.writeValueAsBytes(body);
    }
    if (node.isObject() && node.path("prompt").isTextual()) {
      return kind.body(model, node.get("prompt").asText(), maxTokens);
    }
    throw new IllegalArgumentException(where + ": expected a JSON string, {\"prompt\": ...}, {\"messages\": [...]} or {\"conversations\": [...]}");
  }

  /**
   * The request field a {@code {"messages": [...]}} entry goes into: {@code messages} for OpenAI chat, Ollama's
   * {@code /api/chat} and Anthropic, {@code input} for Responses (which takes the same role/content items); null for
   * the APIs that take one prompt string (completions, the token API, Ollama's {@code /api/generate}, raw).
   */
  private static String messagesField(ClientApi kind) {
    if (kind.raw()) {
      return null;
    }
    if (kind.dialect() == Dialects.OPENAI_CHAT || kind.dialect() == Dialects.OLLAMA
        || kind.dialect() == Dialects.ANTHROPIC_MESSAGES) {
      return "messages";
    }
    return kind.dialect() == Dialects.OPENAI_RESPONSES ? "input" : null;
  }

  /**
   * Anthropic takes no {@code system} role in {@code messages}: such turns become the top-level {@code system}
   * text of {@code body} (joined by blank lines), the other turns are kept in order.
   */
  private static JsonNode anthropicMessages(JsonNode messages, ObjectNode body) {
    com.fasterxml.jackson.databind.node.ArrayNode kept = Json.MAPPER.createArrayNode();
    StringBuilder system = new StringBuilder();
    for (JsonNode m : messages) {
      if ("system".equals(m.path("role").asText()) && m.path("content").isTextual()) {
        system.append(system.isEmpty() ? "" : "\n\n").append(m.path("content").asText());
      } else {
        kept.add(m);
      }
    }
    if (!system.isEmpty()) {
      body.put("system", system.toString());
    }
    return kept;
  }

  /** First human turn as the prompt, the reply's token count as max_tokens; null when there is no reply. */
  private static byte[] shareGpt(JsonNode turns, ClientApi kind, String model) {
    String prompt = null;
    for (JsonNode turn : turns) {
      String role = turn.has("from") ? turn.path("from").asText() : turn.path("role").asText();
      String text = turn.has("value") ? turn.path("value").asText() : turn.path("content").asText();
      boolean human = role.equals("human") || role.equals("user");
      boolean model_ = role.equals("gpt") || role.equals("assistant") || role.equals("chatgpt") || role.equals("bard");
      if (prompt == null && human) {
        prompt = text;
      } else if (prompt != null && model_) {
        int outputTokens = Math.max(1, Tokenizer.cl100k().count(text));
        return kind.body(model, prompt, outputTokens);
      }
    }
    return null;
  }
}
