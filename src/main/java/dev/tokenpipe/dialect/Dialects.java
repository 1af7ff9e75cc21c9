package dev.tokenpipe.dialect;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** The dialects tokenpipe speaks, and how a path or an {@code --api} value names one. */
public final class Dialects {
  public static final Dialect OPENAI_CHAT = new OpenAiChat();
  public static final Dialect OPENAI_COMPLETIONS = new OpenAiCompletions();
  public static final Dialect TOKENS = new TokenApi();
  public static final Dialect OLLAMA = new Ollama();
  public static final Dialect ANTHROPIC_MESSAGES = new AnthropicMessages();
  public static final Dialect OPENAI_RESPONSES = new OpenAiResponses();
  /**
   * Ollama's {@code /api/generate}: {@link #OLLAMA} with a {@code prompt} request instead of {@code messages}. Not
   * in {@link #ALL} (same flag; {@link #forPath} names {@link #OLLAMA} for both): {@link Dialect#at} picks it.
   */
  public static final Dialect OLLAMA_GENERATE = new Ollama(true);

  /** Every dialect, most specific path first (completions is tested after chat completions). */
  public static final List<Dialect> ALL = List.of(OPENAI_CHAT, OPENAI_COMPLETIONS, TOKENS, OLLAMA,
      ANTHROPIC_MESSAGES, OPENAI_RESPONSES);

  private Dialects() {}

  /** The dialect a request path speaks, or null when none claims it. */
  public static Dialect forPath(String path) {
    for (Dialect d : ALL) {
      if (d.speaks(path)) {
        return d;
      }
    }
    return null;
  }

  /** The dialect a path speaks, OpenAI chat when none claims it (the most common API behind a base URL). */
  public static Dialect forPathOrChat(String path) {
    Dialect d = forPath(path);
    return d == null ? OPENAI_CHAT : d;
  }

  /**
   * The dialect an {@code --api} value names ({@code openai-chat}, {@code anthropic-messages}, ...; case and
   * {@code _} vs {@code -} ignored).
   *
   * @throws IllegalArgumentException naming the valid values
   */
  public static Dialect parse(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    for (Dialect d : ALL) {
      if (d.flag().equals(v)) {
        return d;
      }
    }
    throw new IllegalArgumentException("unknown API '" + value + "' (use " + flags() + ")");
  }

  /** The valid {@code --api} values, comma-separated. */
  public static String flags() {
    return ALL.stream().map(Dialect::flag).collect(Collectors.joining(", "));
  }
}
