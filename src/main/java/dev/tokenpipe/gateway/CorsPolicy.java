package dev.tokenpipe.gateway;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * {@code --cors-origins}: which browser origins may call the gateway (Fetch standard, "CORS protocol").
 * The gateway then owns CORS: it answers preflights itself and sets the {@code Access-Control-*}
 * headers of every response, replacing any the upstream sent. Without the option it does neither, and
 * the upstream's own CORS headers pass through unchanged.
 *
 * <p>No credentials mode: {@code Access-Control-Allow-Credentials} is never sent. A bearer key in an
 * {@code Authorization} request header is not a credential in the Fetch sense and works.
 *
 * @param origins allowed origins, each {@code scheme://host[:port]} lower-cased, or {@code *} for any;
 *     empty = CORS off
 */
record CorsPolicy(Set<String> origins) {
  /**
   * Response headers a browser script may read: those the official SDKs of both APIs the gateway speaks read. Their
   * retry logic reads {@code x-should-retry}, {@code retry-after-ms} and {@code retry-after} (openai and
   * @anthropic-ai/sdk, client.mjs); Anthropic's request id is {@code request-id}. Named one by one: the wildcard
   * {@code *} is not honoured by every browser still in use.
   */
  static final String EXPOSE = String.join(", ", Stream.concat(Stream.of("x-request-id", "request-id",
      "retry-after", "retry-after-ms", "x-should-retry", "openai-processing-ms", "openai-model", "openai-organization",
      "openai-version", "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
      "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"),
      Stream.of("requests", "tokens", "input-tokens", "output-tokens").flatMap(kind ->
          Stream.of("limit", "remaining", "reset").map(field -> "anthropic-ratelimit-" + kind + "-" + field))).toList());
  /** How long a browser may cache a preflight's answer, in seconds. */
  static final int MAX_AGE_SECONDS = 600;
  static final String ALLOWED_HEADERS_DEFAULT = "authorization, content-type";
  private static final Pattern HEADER_LIST = Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~-]+(\\s*,\\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*");

  CorsPolicy {
    origins = Set.copyOf(origins);
  }

  /**
   * @param list the option's values, e.g. {@code https://app.example.com,http://localhost:3000} or {@code *}
   * @throws IllegalArgumentException for an entry that is not {@code *} nor {@code http(s)://host[:port]}
   */
  static CorsPolicy of(List<String> list) {
    Set<String> out = list.stream().map(String::trim).filter(s -> !s.isEmpty()).map(s -> {
      String o = s.toLowerCase(Locale.ROOT);
      while (o.endsWith("/")) {
        o = o.substring(0, o.length() - 1);
      }
      if (!o.equals("*") && !o.matches("https?://[^/?#\\s]+")) {
        throw new IllegalArgumentException("--cors-origins: '" + s + "' is not an origin such as https://app.example.com, or *");
      }
      return o;
    }).collect(Collectors.toSet());
    return new CorsPolicy(out);
  }

  boolean enabled() {
    return !origins.isEmpty();
  }

  boolean any() {
    return origins.contains("*");
  }

  /** The {@code Access-Control-Allow-Origin} value for a request's {@code Origin}, or null when not allowed. */
  String allowOrigin(String origin) {
    if (origin == null || !enabled()) {
      return null;
    }
    if (any()) {
      return "*";
    }
    return origins.contains(origin.toLowerCase(Locale.ROOT)) ? origin : null;
  }

  /** A CORS preflight (an {@code OPTIONS} with {@code Origin} and {@code Access-Control-Request-Method}). */
  static boolean isPreflight(String method, HttpHeaders h) {
    return "OPTIONS".equals(method) && h.contains("Origin") && h.contains("Access-Control-Request-Method");
  }

  /** The {@code Access-Control-Allow-Headers} of a preflight's answer: the requested ones, when well-formed. */
  static String allowHeaders(HttpHeaders h) {
    String asked = h.get("Access-Control-Request-Headers");
    return asked != null && HEADER_LIST.matcher(asked.trim()).matches() ? asked.trim() : ALLOWED_HEADERS_DEFAULT;
  }
}
