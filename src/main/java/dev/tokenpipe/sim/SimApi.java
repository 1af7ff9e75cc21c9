package dev.tokenpipe.sim;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;

/**
 * The generation endpoints of the simulated model: each is one {@link Dialect} (its path, its error shapes)
 * and the {@link StreamFormat} that writes its events.
 */
enum SimApi {
  /** {@code POST /v1/chat/completions}, OpenAI chat completion chunks. */
  CHAT(Dialects.OPENAI_CHAT),
  /** {@code POST /v1/completions}, OpenAI legacy completion chunks. */
  COMPLETIONS(Dialects.OPENAI_COMPLETIONS),
  /** {@code POST /v1/stream}, one plain {@code data: <token>} event per token. */
  TOKENS(Dialects.TOKENS),
  /** {@code POST /v1/messages}, Anthropic Messages events. */
  MESSAGES(Dialects.ANTHROPIC_MESSAGES),
  /** {@code POST /v1/responses}, OpenAI Responses events. */
  RESPONSES(Dialects.OPENAI_RESPONSES);

  final String path;
  final Dialect dialect;

  SimApi(Dialect dialect) {
    this.path = dialect.path();
    this.dialect = dialect;
  }

  /** The wire shape of one generation of this API. */
  StreamFormat format(SimRequest request, OutputPlan plan, long createdEpochSeconds) {
    return switch (this) {
      case CHAT, COMPLETIONS, TOKENS -> new ChunkFormat(request, plan, createdEpochSeconds);
      case MESSAGES -> new MessagesFormat(request, plan);
      case RESPONSES -> new ResponsesFormat(request, plan, createdEpochSeconds);
    };
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
