package dev.tokenpipe.sim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The requests a start-up warm-up sends the simulated model (the sim's own, and serve's through its gateway to the
 * built-in model): one short stream of each API it speaks, path to JSON body, so that no client's first request
 * pays its API's first use (a first Messages request took 11-15 ms to its first byte through a fresh serve against
 * 3-8 ms after). Chat asks for usage and a token bound, as clients do (bench, the SDKs): without them the first
 * client still ran the usage chunk's path cold (docs/benchmarks.md, "Cold start"). Sent with
 * {@link StreamProfile#WARM_UP}.
 */
public final class WarmUpRequests {
  private WarmUpRequests() {}

  public static final String CHAT = "/v1/chat/completions";

  /** Path to body for {@code model}, chat first. */
  public static Map<String, String> of(String model) {
    String common = "\"model\":\"" + model + "\",\"stream\":true,";
    Map<String, String> requests = new LinkedHashMap<>();
    requests.put(CHAT, "{" + common + "\"stream_options\":{\"include_usage\":true},\"max_tokens\":8,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    requests.put("/v1/messages", "{" + common + "\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    requests.put("/v1/responses", "{" + common + "\"max_output_tokens\":8,\"input\":\"hi\"}");
    requests.put("/v1/completions", "{" + common + "\"max_tokens\":8,\"prompt\":\"hi\"}");
    return requests;
  }
}
