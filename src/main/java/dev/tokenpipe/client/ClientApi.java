package dev.tokenpipe.client;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a client command (bench, chat, doctor) speaks, as its {@code --api} flag names it: one {@link Dialect}
 * of the seam, or {@code raw}. The dialect decides the generated request body ({@link Dialect#streamRequest}),
 * how the key is sent ({@link Dialect#authHeaders}), whether the body names a model, and which environment
 * variable holds the key by default. How a response stream is read (generated events, usage, the terminator,
 * errors) does not depend on it: {@link ExchangeHandler} and {@link ChunkContent} read every dialect's events
 * with the one shared definition of {@link dev.tokenpipe.dialect.EventClassifier}.
 *
 * <p>{@code raw} means "whatever body the user gives, any framing": the body is the prompt text (bench's
 * {@code -d}), no stream is required and every event counts as one token. A raw request still sends its key the
 * way the URL path's dialect does (OpenAI's {@code Authorization: Bearer} when the path names none).
 *
 * @param dialect the dialect; for raw, the one the URL path speaks (only its auth is used)
 * @param raw     the body is the user's and the response may be anything
 */
public record ClientApi(Dialect dialect, boolean raw) {
  /** The {@code --api} values besides the dialects' flags. */
  public static final String RAW = "raw";
  public static final String AUTO = "auto";
  /**
   * The help text's list of {@code --api} values (an annotation needs a constant; ClientApiTest holds it to
   * {@link Dialects#ALL}).
   */
  public static final String VALUES =
      "openai-chat, openai-completions, stream, ollama, anthropic-messages, openai-responses, raw or auto";
  /** The key's environment variable when {@code --api-key-env} is not given, for every dialect but Anthropic's. */
  public static final String OPENAI_KEY_ENV = "OPENAI_API_KEY";
  /** The key's environment variable for {@code anthropic-messages}, as Anthropic's SDKs read it. */
  public static final String ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY";

  public ClientApi {
    if (dialect == null) {
      throw new IllegalArgumentException("a client API needs a dialect (raw uses the path's)");
    }
  }

  /** The API a dialect speaks, with generated bodies. */
  public static ClientApi of(Dialect dialect) {
    return new ClientApi(dialect, false);
  }

  /**
   * The API an {@code --api} value names for a request path.
   *
   * @param value a dialect flag ({@code openai-chat}, {@code anthropic-messages}, ...; case and {@code _} vs
   *              {@code -} ignored), {@code raw}, or {@code auto} (also null or blank): by the path's last
   *              segments ({@link Dialects#forPath}), OpenAI chat when the path names none; either way the
   *              dialect as the path speaks it ({@link Dialect#at}: Ollama's {@code /api/generate} takes a prompt)
   * @param path  the URL path, e.g. {@code /v1/messages}
   * @throws IllegalArgumentException one line naming the valid values
   */
  public static ClientApi parse(String value, String path) {
    String p = path == null ? "" : path;
    Dialect byPath = Dialects.forPathOrChat(p).at(p);
    if (value == null || value.isBlank()) {
      return of(byPath);
    }
    String v = value.trim().toLowerCase(Locale.ROOT);
    if (v.equals(AUTO)) {
      return of(byPath);
    }
    if (v.equals(RAW)) {
      return new ClientApi(byPath, true);
    }
    try {
      return of(Dialects.parse(v).at(p));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown API '" + value.trim() + "' (use " + VALUES + ")");
    }
  }

  /**
   * For a request to a URL without a path (or {@code /}) that the server answered 404: one clause saying where this
   * API is on that server ("the URL has no path; the openai-chat API is at http://host:8000/v1/chat/completions"),
   * else null. Such a URL is a base URL, as SDKs take it; the request went to {@code /}. Shared by bench, chat and
   * doctor.
   */
  public String noPathHint(HttpTarget target, int status) {
    if (status != 404 || raw || !target.path().equals("/")) {
      return null;
    }
    return "the URL has no path; the " + flag() + " API is at " + target.withPath(dialect.path());
  }

  /** The {@code --api} value this is: the dialect's flag, or {@code raw}; bench reports it as {@code api}. */
  public String flag() {
    return raw ? RAW : dialect.flag();
  }

  /** True when the request asks for a stream (a response that is not one is an error): every API but raw. */
  public boolean expectsStream() {
    return !raw;
  }

  /** True when a generated body names a model, so one is discovered when {@code --model} is not given. */
  public boolean namesModel() {
    return !raw && dialect.namesModel();
  }

  /**
   * The request body for one prompt: the dialect's streaming request, or for raw the prompt's UTF-8 bytes.
   *
   * @param model     model id, may be null when {@link #namesModel()} is false
   * @param maxTokens output token bound; {@code <= 0} = the API's default
   */
  public byte[] body(String model, String prompt, int maxTokens) {
    return raw ? prompt.getBytes(StandardCharsets.UTF_8) : dialect.streamRequest(model, prompt, maxTokens);
  }

  /**
   * The environment variable holding the key: {@code flag} when given, else {@value #ANTHROPIC_KEY_ENV} for
   * Anthropic Messages and {@value #OPENAI_KEY_ENV} for every other API.
   */
  public String keyEnv(String flag) {
    if (flag != null && !flag.isBlank()) {
      return flag.trim();
    }
    return dialect == Dialects.ANTHROPIC_MESSAGES ? ANTHROPIC_KEY_ENV : OPENAI_KEY_ENV;
  }

  /**
   * {@code headers} plus the key from the environment variable {@code keyEnvFlag} (see {@link #keyEnv}) sent as
   * the dialect sends it; see {@link RequestHeaders#withApiKey(List, String, Dialect)}.
   */
  public List<Map.Entry<String, String>> withApiKey(List<Map.Entry<String, String>> headers, String keyEnvFlag) {
    return RequestHeaders.withApiKey(headers, keyEnv(keyEnvFlag), dialect);
  }
}
