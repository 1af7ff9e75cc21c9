package dev.tokenpipe.sim;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;

/**
 * The generation endpoints of the simulated model. Each is one {@link Dialect} (its path, its error shapes),
 * how its request body is read, and the {@link StreamFormat} that writes its events; everything else (timing,
 * faults, backpressure, stamps) is the same for all. A new API is one class holding its request reader and
 * its format, plus its line here.
 */
enum SimApi {
  /** {@code POST /v1/chat/completions}, OpenAI chat completion chunks. */
  CHAT(Dialects.OPENAI_CHAT, true, SimRequest::openAi, ChunkFormat::new),
  /** {@code POST /v1/completions}, OpenAI legacy completion chunks. */
  COMPLETIONS(Dialects.OPENAI_COMPLETIONS, false, SimRequest::openAi, ChunkFormat::new),
  /** {@code POST /v1/stream}, one plain {@code data: <token>} event per token. */
  TOKENS(Dialects.TOKENS, false, SimRequest::openAi, ChunkFormat::new),
  /** {@code POST /v1/messages}, Anthropic Messages events. */
  MESSAGES(Dialects.ANTHROPIC_MESSAGES, true, MessagesFormat::request, MessagesFormat::new),
  /** {@code POST /v1/responses}, OpenAI Responses events. */
  RESPONSES(Dialects.OPENAI_RESPONSES, true, ResponsesFormat::request, ResponsesFormat::new);

  /** Reads an API's request body (already a JSON object, its model and profile checked) into a request. */
  interface Reader {
    /** @throws dev.tokenpipe.openai.ApiException a 400 naming the first bad field */
    SimRequest read(SimApi api, com.fasterxml.jackson.databind.JsonNode root, String model, StreamProfile profile);
  }

  /** Makes the wire shape of one generation. */
  interface Formats {
    StreamFormat create(SimRequest request, OutputPlan plan, long createdEpochSeconds);
  }

  final String path;
  final Dialect dialect;
  /** Whether the API carries reasoning and tool calls (else its whole output is content). */
  final boolean parts;
  final Reader reader;
  private final Formats formats;

  SimApi(Dialect dialect, boolean parts, Reader reader, Formats formats) {
    this.path = dialect.path();
    this.dialect = dialect;
    this.parts = parts;
    this.reader = reader;
    this.formats = formats;
  }

  /** The wire shape of one generation of this API. */
  StreamFormat format(SimRequest request, OutputPlan plan, long createdEpochSeconds) {
    return formats.create(request, plan, createdEpochSeconds);
  }

  static SimApi forPath(String path) {
    for (SimApi api : values()) {
      if (api.path.equals(path)) {
        return api;
      }
    }
    return null;
  }
}
