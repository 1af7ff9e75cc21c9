package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.FileProblem;
import dev.tokenpipe.openai.ApiError;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Client authentication with keys sent as {@code Authorization: Bearer <key>} (OpenAI's way) or
 * {@code x-api-key: <key>} (Anthropic's, what its SDK sends) ({@code --api-keys-file}, one key per line;
 * {@code #} starts a comment, on a line of its own or after a key).
 * Keys are compared in constant time and never logged; an empty set means authentication is off.
 */
final class ApiKeys {
  /** Anthropic's key header. */
  static final String X_API_KEY = "x-api-key";

  private final List<byte[]> keys;

  ApiKeys(Set<String> keys) {
    this.keys = new ArrayList<>();
    keys.forEach(k -> this.keys.add(k.getBytes(StandardCharsets.UTF_8)));
  }

  /** @throws IllegalArgumentException naming the option, the file and why: no such file, no key in it, ... */
  static Set<String> load(Path file) {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException("--api-keys-file " + file + ": " + FileProblem.reason(e));
    }
    Set<String> out = new java.util.LinkedHashSet<>();
    for (int i = 0; i < lines.size(); i++) {
      String k = lines.get(i).strip();
      if (k.isEmpty() || k.startsWith("#")) {
        continue;
      }
      // A bearer key has no spaces (RFC 6750 §2.1): what follows one on its line is a comment, or two keys run
      // together, which is refused rather than guessed at. The message never shows the line: it holds a key.
      String[] words = k.split("\\s+", 2);
      if (words.length == 2 && !words[1].startsWith("#")) {
        throw new IllegalArgumentException("--api-keys-file " + file + ": line " + (i + 1)
            + " holds more than a key (a key has no spaces; a comment after a key starts with #)");
      }
      out.add(words[0]);
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("--api-keys-file " + file + ": no keys in it (one bearer key per line)");
    }
    return out;
  }

  boolean enabled() {
    return !keys.isEmpty();
  }

  /** Null when the request may pass, else the OpenAI-style 401 to answer with. */
  ApiError check(HttpHeaders headers) {
    if (keys.isEmpty()) {
      return null;
    }
    String auth = headers.get(HttpHeaderNames.AUTHORIZATION);
    String key;
    if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
      key = auth.substring(7);
    } else if (headers.contains(X_API_KEY)) {
      key = headers.get(X_API_KEY);
    } else {
      return unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization header"
          + " using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an x-api-key header.");
    }
    byte[] given = key.strip().getBytes(StandardCharsets.UTF_8);
    boolean ok = false;
    for (byte[] k : keys) {
      ok |= MessageDigest.isEqual(k, given); // no early exit: timing does not reveal which key matched
    }
    return ok ? null : unauthorized("Incorrect API key provided.");
  }

  private static ApiError unauthorized(String message) {
    return new ApiError(HttpResponseStatus.UNAUTHORIZED, message, "invalid_request_error", null, "invalid_api_key");
  }
}
