package dev.tokenpipe.bench;

/**
 * Every distribution bench records, with its JSON key, its unit and what it means (docs/metrics.md is the
 * long form). Latencies are recorded in microseconds; counts as plain numbers.
 */
enum Metric {
  TTFB("ttfb", true, "request written (open loop: intended start) -> first response byte"),
  TTFT("ttft", true, "request written (open loop: intended start) -> first event with generated output (content, reasoning or tool call)"),
  TTFT_REASONING("ttft_reasoning", true, "request written -> first reasoning delta (reasoning models only)"),
  ITL("itl", true, "gap between consecutive content events, pooled over requests"),
  TPOT("tpot", true, "(E2E - TTFT) / (output tokens - 1), one sample per request"),
  E2E("e2e", true, "request written (open loop: intended start) -> stream end"),
  E2E_PER_TOKEN("e2e_per_token", true, "E2E / output tokens, per request (guidellm's TPOT, LLMPerf's ITL)"),
  TOKENS_PER_EVENT("tokens_per_event", false, "output tokens carried by one content event"),
  OUTPUT_TOKENS("output_tokens", false, "output tokens of one request"),
  ONE_WAY_DELAY("one_way_delay", true, "socket read wall clock - server emission stamp, per generated event (same host only)"),
  PARSE_DELAY("parse_delay", true, "socket read -> event parsed in this client, per event"),
  FIRST_EMITTED("first_emitted", true, "ground truth: server emission time of the first stamped event of any kind - request written"
      + " (the sim stamps its opening chunk as the request arrives: the request's way in)"),
  TTFT_EMITTED("ttft_emitted", true, "ground truth: server emission time of the first content event - request written"),
  ITL_EMITTED("itl_emitted", true, "ground truth: gap between emission stamps of consecutive content events"),
  CONNECT("connect", true, "TCP (+TLS) connect time"),
  DISPATCH_LAG("dispatch_lag", true, "open loop: request written - intended start (queueing for a connection + generator lag)"),
  LOOP_LAG("loop_lag", true, "self-check: lateness of a 10 ms timer on each generator event loop");

  final String key;
  final boolean micros;
  final String meaning;

  Metric(String key, boolean micros, String meaning) {
    this.key = key;
    this.micros = micros;
    this.meaning = meaning;
  }
}
