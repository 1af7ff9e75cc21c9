package dev.tokenpipe.sim;

/** The generation endpoints of the simulated model. */
enum SimApi {
  /** {@code POST /v1/chat/completions}, OpenAI chat completion chunks. */
  CHAT("/v1/chat/completions"),
  /** {@code POST /v1/completions}, OpenAI legacy completion chunks. */
  COMPLETIONS("/v1/completions"),
  /** {@code POST /v1/stream}, one plain {@code data: <token>} event per token. */
  TOKENS("/v1/stream");

  final String path;

  SimApi(String path) {
    this.path = path;
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
