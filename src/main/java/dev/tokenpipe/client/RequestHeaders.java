package dev.tokenpipe.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The request headers every client command (bench, chat, doctor) builds the same way: the user's
 * {@code -H 'Name: value'} flags, then the API key from an environment variable, never from a
 * flag, so it stays out of shell history and process lists.
 */
public final class RequestHeaders {
  private RequestHeaders() {}

  /**
   * Appends each {@code -H} flag to {@code into}.
   *
   * @throws IllegalArgumentException with a one-line message for a flag without a name and a colon
   */
  public static void addFlags(List<Map.Entry<String, String>> into, List<String> flags) {
    for (String h : flags) {
      int colon = h.indexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("header must look like 'Name: value', not '" + h + "'");
      }
      into.add(Map.entry(h.substring(0, colon).trim(), h.substring(colon + 1).trim()));
    }
  }

  /**
   * {@code headers} plus {@code Authorization: Bearer <key>} when the environment variable
   * {@code keyEnv} holds a key and no Authorization header was given explicitly.
   */
  public static List<Map.Entry<String, String>> withApiKey(List<Map.Entry<String, String>> headers, String keyEnv) {
    List<Map.Entry<String, String>> out = new ArrayList<>(headers);
    String key = keyEnv == null ? null : System.getenv(keyEnv);
    if (key != null && !key.isBlank() && headers.stream().noneMatch(e -> e.getKey().equalsIgnoreCase("Authorization"))) {
      out.add(Map.entry("Authorization", "Bearer " + key.trim()));
    }
    return out;
  }
}
