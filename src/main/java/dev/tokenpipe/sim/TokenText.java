package dev.tokenpipe.sim;

import dev.tokenpipe.openai.Json;
import dev.tokenpipe.tokens.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The simulated model's output: the real BPE tokens of a bundled public-domain text (Austen,
 * Dickens, Melville, Carroll), read in a loop from a per-stream offset. Each token is also kept
 * pre-escaped for JSON, so the hot path never escapes strings.
 */
final class TokenText {
  private static final TokenText INSTANCE = load();

  private final String[] tokens;
  private final String[] jsonEscaped;

  private TokenText(List<String> tokens) {
    this.tokens = tokens.toArray(String[]::new);
    this.jsonEscaped = new String[this.tokens.length];
    for (int i = 0; i < this.tokens.length; i++) {
      String q = Json.quote(this.tokens[i]);
      jsonEscaped[i] = q.substring(1, q.length() - 1);
    }
  }

  static TokenText get() {
    return INSTANCE;
  }

  private static TokenText load() {
    try (InputStream in = TokenText.class.getResourceAsStream("corpus.txt")) {
      if (in == null) {
        throw new IllegalStateException("corpus.txt missing from the jar");
      }
      return new TokenText(Tokenizer.cl100k().split(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  int size() {
    return tokens.length;
  }

  /** Token at position {@code i} of the endless text. */
  String token(long i) {
    return tokens[Math.floorMod(i, tokens.length)];
  }

  /** The same token as JSON string content (without quotes). */
  String jsonToken(long i) {
    return jsonEscaped[(int) Math.floorMod(i, (long) tokens.length)];
  }
}
