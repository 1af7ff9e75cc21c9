package dev.tokenpipe.gateway;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.Choices;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.probe.ProbeRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * What the gateway does with a (normalised) path: answer it itself, translate it, or proxy it.
 *
 * @see RequestPath
 */
enum Route {
  HEALTHZ("GET, HEAD"),
  READYZ("GET, HEAD"),
  METRICS("GET, HEAD"),
  PROBE("GET"),
  /** {@code POST /v1/stream}, the simple token API. */
  TOKENS("POST"),
  /** {@code /v1/*} (OpenAI-compatible) and {@code /api/*} (Ollama's native API): relayed to the upstream base. */
  PROXY(null),
  NOT_FOUND(null);

  static final String STREAM_PATH = "/v1/stream";
  /** Ollama's native endpoints that stream tokens unless the body says {@code "stream": false}. */
  private static final Set<String> STREAM_BY_DEFAULT = Set.of("/api/chat", "/api/generate");
  /**
   * Ollama's endpoints that stream progress ({@code {"status":...}} lines ending with {@code {"status":"success"}}), not
   * tokens: no first token to wait for, no terminator to check, no event to hold for a failover. Relayed as any
   * stream the client did not ask the gateway to judge, line by line as it comes.
   */
  private static final Set<String> PROGRESS_STREAMS = Set.of("/api/pull", "/api/push", "/api/create");

  /** The {@code Allow} header of a 405 on this route; null where the upstream decides. */
  final String allow;

  Route(String allow) {
    this.allow = allow;
  }

  static Route of(String path) {
    return switch (path) {
      case "/healthz" -> HEALTHZ;
      case "/readyz" -> READYZ;
      case "/metrics" -> METRICS;
      case ProbeRequest.PATH -> PROBE;
      case STREAM_PATH -> TOKENS;
      default -> path.startsWith("/v1/") || path.startsWith("/api/") ? PROXY : NOT_FOUND;
    };
  }

  /**
   * The API a request target speaks, which decides the shape of the errors its client is sent: the dialect
   * that claims the path, Ollama's for its other {@code /api/*} endpoints, OpenAI's otherwise. The one answer
   * to "which shape" for every error the gateway itself sends, also from the connection's handlers before
   * the router (the body aggregator's 413, the request clock's 408).
   *
   * @param target the request target; null when no request head came whole (a 408 mid-head): OpenAI's
   */
  static Dialect dialect(String target) {
    if (target == null) {
      return Dialects.OPENAI_CHAT;
    }
    String path = pathOf(target);
    Dialect d = Dialects.forPath(path);
    if (d != null) {
      return d;
    }
    return path.startsWith("/api/") ? Dialects.OLLAMA : Dialects.OPENAI_CHAT;
  }

  /** The {@code api} label of a proxied request whose path is no token API's ({@link #apiLabel}). */
  static final String OTHER_API = "other";

  /**
   * The {@code api} label of a proxied request (metrics, access log): {@code dialect}'s when the path is a token
   * API's, else {@value #OTHER_API} (a model list, embeddings, Ollama's tags). Those were counted as chats, one more
   * per bench run (its model discovery); {@link #dialect} still gives them an API's error shape.
   */
  static String apiLabel(String target, Dialect dialect) {
    return Dialects.forPath(pathOf(target)) != null ? dialect.flag() : OTHER_API;
  }

  /** A request target without its query. */
  static String pathOf(String target) {
    int query = target.indexOf('?');
    return query < 0 ? target : target.substring(0, query);
  }

  /** The gateway's own endpoints: answered here, also while draining. */
  boolean local() {
    return this == HEALTHZ || this == READYZ || this == METRICS;
  }

  /**
   * Whether a proxied request asks for a stream of generated tokens: a JSON body with {@code "stream": true}, or, on
   * Ollama's native {@code /api/chat}, {@code /api/generate}, any body without {@code "stream": false}, which is
   * Ollama's default. Never Ollama's progress streams ({@link #PROGRESS_STREAMS}).
   */
  static boolean asksForStream(String path, FullHttpRequest req) {
    if (!HttpMethod.POST.equals(req.method()) || PROGRESS_STREAMS.contains(path)) {
      return false;
    }
    boolean byDefault = STREAM_BY_DEFAULT.contains(path);
    if (!req.content().isReadable()) {
      return byDefault;
    }
    // From the body's bytes: decoding it to a String first copied the whole prompt (long contexts are 100 KB to
    // 1 MB) and read it char by char, on the event loop (StreamFlagBenchmark).
    Boolean stream;
    try (JsonParser p = Json.MAPPER.createParser((InputStream) new ByteBufInputStream(req.content().duplicate()))) {
      stream = topLevelStream(p);
    } catch (Exception notUtf8OrMalformed) {
      // The byte parser also rejects bytes that are not UTF-8, which a String decode replaces: Ollama's Go server
      // streams such a body, so the flag is read as the decoded text says. Malformed JSON is the upstream's to
      // judge; its 400 passes through unchanged.
      try (JsonParser p = Json.MAPPER.createParser(req.content().toString(StandardCharsets.UTF_8))) {
        stream = topLevelStream(p);
      } catch (Exception malformed) {
        return false;
      }
    }
    return stream == null ? byDefault : stream;
  }

  /** How many choices the request's body asks for ({@link Choices#requested}). */
  static int requestedChoices(ByteBuf body) {
    return Choices.requested(new ByteBufInputStream(body.duplicate()));
  }

  /**
   * The last top-level {@code "stream"} member's boolean, or null when there is none or it is no boolean; reads
   * the whole root value so that malformed JSON throws. What {@code readTree(body).get("stream")} answered, without
   * building the tree: the body's tree was an eighth of what the gateway allocated per request (JFR,
   * docs/benchmarks.md "Per request").
   *
   * @throws java.io.IOException on malformed JSON (Jackson's {@code StreamReadException})
   */
  static Boolean topLevelStream(JsonParser p) throws java.io.IOException {
    if (p.nextToken() != JsonToken.START_OBJECT) {
      p.skipChildren(); // an array or a scalar (or nothing): no members, but it must still parse
      p.finishToken(); // a root string is read lazily: a cut one throws only here
      return null;
    }
    Boolean stream = null;
    for (JsonToken t; (t = p.nextToken()) != JsonToken.END_OBJECT; ) {
      if (t != JsonToken.FIELD_NAME) { // the parser throws on a cut object; never loop on a null token
        throw new com.fasterxml.jackson.core.JsonParseException(p, "expected a member name, got " + t);
      }
      boolean isStream = "stream".equals(p.currentName());
      t = p.nextToken();
      if (isStream) {
        stream = t == JsonToken.VALUE_TRUE ? Boolean.TRUE : t == JsonToken.VALUE_FALSE ? Boolean.FALSE : null;
      }
      p.skipChildren();
    }
    return stream;
  }
}
