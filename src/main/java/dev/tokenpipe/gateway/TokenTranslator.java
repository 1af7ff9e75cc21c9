package dev.tokenpipe.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sse.SseEncoder;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseListener;
import java.util.function.Consumer;

/**
 * The simple token API, {@code POST /v1/stream {"prompt": "..."}}: asks the upstream for a streamed chat
 * completion and turns each chunk that carries content into one {@code data: <token>} event (a token with
 * line breaks becomes several {@code data:} lines, as the SSE spec requires), ending with
 * {@code data: [DONE]}. The upstream's event id is kept, so emission stamps survive the translation.
 *
 * <p>Unlike the byte relay this parses before it writes (there is nothing to forward unchanged), but it
 * still writes each event the moment the upstream event that carries it is complete.
 */
final class TokenTranslator implements SseListener {
  /** Body fields of the client request that are passed on to the chat completion. */
  private static final String[] PASSED_FIELDS = {"max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "tokenpipe_sim"};

  private final Consumer<String> emit;
  private final Consumer<String> emitError;
  private final StreamScanner.Sink books;
  private long readNanos;
  private boolean done;

  /**
   * @param emit writes one complete SSE event to the client
   * @param emitError ends the stream with an in-band error carrying this OpenAI error JSON
   */
  TokenTranslator(Consumer<String> emit, Consumer<String> emitError, StreamScanner.Sink books) {
    this.emit = emit;
    this.emitError = emitError;
    this.books = books;
  }

  void readAt(long nanos) {
    this.readNanos = nanos;
  }

  boolean sawDone() {
    return done;
  }

  @Override
  public void onEvent(SseEvent event) {
    if (done) {
      return; // this API's stream has ended: what a sloppy upstream sends after its [DONE] is not ours to relay
    }
    Chunk chunk = Chunk.classify(event.type(), event.data(), false);
    String id = event.lastEventId().isEmpty() ? null : event.lastEventId();
    if (chunk.done()) {
      done = true;
      emit.accept(SseEncoder.data(SseEncoder.DONE));
    } else if (chunk.hasText()) { // reasoning and tool calls have no place in the simple API
      emit.accept(SseEncoder.event(null, id, chunk.content()));
    }
    books.onChunk(chunk, readNanos);
    if (chunk.error() != null) {
      emitError.accept(chunk.error());
    }
  }

  /**
   * The chat completion request for a {@code /v1/stream} body.
   *
   * @param model the configured model, or null to take the client's {@code model} field, else {@code fallbackModel}
   * @throws ApiException 400 when the prompt is missing or not a string, or no model is known
   */
  static String upstreamBody(String clientBody, String model, String fallbackModel) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(clientBody);
    } catch (Exception e) {
      throw new ApiException(ApiError.invalidRequest("We could not parse the JSON body of your request.", null));
    }
    if (root == null || !root.isObject()) {
      throw new ApiException(ApiError.invalidRequest("The request body must be a JSON object.", null));
    }
    JsonNode prompt = root.get("prompt");
    if (prompt == null || !prompt.isTextual()) {
      throw new ApiException(ApiError.invalidRequest(prompt == null
          ? "Missing required parameter: 'prompt'." : "Invalid type for 'prompt': expected a string.", "prompt"));
    }
    String m = model != null ? model : root.path("model").isTextual() ? root.get("model").asText() : fallbackModel;
    if (m == null) {
      throw new ApiException(ApiError.invalidRequest(
          "Missing required parameter: 'model' (or start the gateway with --model).", "model"));
    }
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.put("model", m);
    out.put("stream", true);
    out.putObject("stream_options").put("include_usage", true);
    out.putArray("messages").addObject().put("role", "user").put("content", prompt.asText());
    for (String field : PASSED_FIELDS) {
      if (root.has(field)) {
        out.set(field, root.get(field));
      }
    }
    return out.toString();
  }
}
