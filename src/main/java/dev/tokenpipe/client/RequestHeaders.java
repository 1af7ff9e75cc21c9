package dev.tokenpipe.client;

import dev.tokenpipe.dialect.Dialect;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The request headers every client command (bench, chat, doctor) builds the same way: the user's
 * {@code -H 'Name: value'} flags, then the API key from an environment variable, never from a
 * flag, so it stays out of shell history and process lists, in the headers of the dialect spoken.
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
   * {@code headers} plus the key as {@code dialect} sends it ({@link Dialect#authHeaders}: OpenAI and most
   * APIs {@code Authorization: Bearer <key>}, Anthropic {@code x-api-key} and {@code anthropic-version}), when
   * the environment variable {@code keyEnv} holds a key and none of the dialect's key headers was given with
   * {@code -H}. The dialect's headers that carry no secret ({@code anthropic-version}) are added even without
   * a key, since the API requires them on every request, unless given with {@code -H}. The key is trimmed and
   * never logged.
   */
  public static List<Map.Entry<String, String>> withApiKey(
      List<Map.Entry<String, String>> headers, String keyEnv, Dialect dialect) {
    List<Map.Entry<String, String>> out = new ArrayList<>(headers);
    String key = keyEnv == null ? null : System.getenv(keyEnv);
    boolean keyGiven = dialect.authHeaderNames().stream().anyMatch(n -> given(headers, n));
    boolean send = key != null && !key.isBlank() && !keyGiven;
    for (Map.Entry<String, String> h : dialect.authHeaders(send ? key.trim() : "")) {
      boolean secret = dialect.authHeaderNames().stream().anyMatch(n -> n.equalsIgnoreCase(h.getKey()));
      if ((send || !secret) && !given(headers, h.getKey())) {
        out.add(h);
      }
    }
    return out;
  }

  private static boolean given(List<Map.Entry<String, String>> headers, String name) {
    return headers.stream().anyMatch(e -> e.getKey().equalsIgnoreCase(name));
  }
}
