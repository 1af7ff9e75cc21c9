package dev.tokenpipe.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Which model id bench, chat and doctor put in a generated request body: the {@code --model} flag when given,
 * else the first {@code data[].id} of {@code GET <scheme://host:port>/v1/models} on the target, else
 * {@value #DEFAULT_MODEL}. Without this, a real server (vLLM, TGI, ...) answers the hard-coded default with
 * 404 model_not_found.
 *
 * <p>Transport: {@link java.net.http.HttpClient}, not {@link StreamingClient}. This is one small,
 * non-streaming JSON GET before any measurement starts; its timing is irrelevant, and {@code HttpClient}
 * already aggregates the body, applies connect and response deadlines and does TLS with the JDK's trust store
 * (as StreamingClient does), while StreamingClient is built to time event streams and hands out no body.
 * It is pinned to HTTP/1.1 so that no {@code h2c} upgrade is offered to servers that mishandle one.
 */
public final class ModelDiscovery {
  /** The model id used when none is given and none can be discovered (the sim's default model). */
  public static final String DEFAULT_MODEL = "tokenpipe-sim";
  /** Deadline of the whole discovery request: connect, response head and body. */
  static final Duration TIMEOUT = Duration.ofSeconds(3);
  /** Headers the JDK client sets itself (or refuses), and Accept-Encoding: a gzipped answer would be unreadable. */
  private static final Set<String> SKIPPED_HEADERS =
      Set.of("host", "content-length", "connection", "expect", "upgrade", "transfer-encoding", "accept-encoding", "te");

  /** How the model id was chosen; {@link #key()} is the value of bench's JSON field {@code model_source}. */
  public enum Source {
    FLAG, DISCOVERED, DEFAULT;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * The model to use and where it came from.
   *
   * @param failure why discovery fell back to the default (one line); null unless discovery was tried and failed
   */
  public record Choice(String model, Source source, String failure) {}

  private ModelDiscovery() {}

  /**
   * Chooses the model id for a run.
   *
   * @param flag        the {@code --model} value, null when not given
   * @param generated   the body is generated with a model field ({@link ClientApi#namesModel()}, no {@code -d});
   *                    when false nothing is asked and the default is returned without a failure
   * @param target      the run's endpoint; only scheme, host and port are used
   * @param headers     the run's headers (API key included), sent with the GET
   */
  public static Choice choose(String flag, boolean generated, HttpTarget target, List<Map.Entry<String, String>> headers) {
    if (flag != null) {
      return new Choice(flag, Source.FLAG, null);
    }
    if (!generated) {
      return new Choice(DEFAULT_MODEL, Source.DEFAULT, null);
    }
    try {
      return new Choice(discover(target, headers), Source.DISCOVERED, null);
    } catch (DiscoveryFailed e) {
      return new Choice(DEFAULT_MODEL, Source.DEFAULT, e.getMessage());
    }
  }

  /** The first model id the target lists, or {@link DiscoveryFailed} with a one-line reason. */
  static String discover(HttpTarget target, List<Map.Entry<String, String>> headers) throws DiscoveryFailed {
    URI uri;
    try {
      uri = new URI(target.tls() ? "https" : "http", null, target.host(), target.port(), "/v1/models", null, null);
    } catch (URISyntaxException e) {
      throw new DiscoveryFailed("bad URL: " + e.getMessage());
    }
    HttpRequest.Builder request = HttpRequest.newBuilder(uri).GET().timeout(TIMEOUT).header("Accept", "application/json");
    for (Map.Entry<String, String> h : headers) {
      String name = h.getKey().toLowerCase(Locale.ROOT);
      if (SKIPPED_HEADERS.contains(name) || name.equals("accept")) {
        continue;
      }
      try {
        request.header(h.getKey(), h.getValue());
      } catch (IllegalArgumentException restricted) {
        // a header the JDK client will not send; the run itself still sends it
      }
    }
    HttpClient client = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(TIMEOUT)
        .followRedirects(HttpClient.Redirect.NORMAL)
        .build();
    try {
      CompletableFuture<HttpResponse<byte[]>> pending = client.sendAsync(request.build(), HttpResponse.BodyHandlers.ofByteArray());
      HttpResponse<byte[]> response;
      try {
        response = pending.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        pending.cancel(true);
        throw new DiscoveryFailed("no answer within " + TIMEOUT.toSeconds() + " s");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DiscoveryFailed("interrupted");
      } catch (ExecutionException e) {
        throw new DiscoveryFailed(describe(e.getCause(), target));
      }
      if (response.statusCode() != 200) {
        throw new DiscoveryFailed("HTTP " + response.statusCode());
      }
      JsonNode root;
      try {
        root = Json.MAPPER.readTree(response.body());
      } catch (IOException e) {
        throw new DiscoveryFailed("response is not JSON");
      }
      if (root == null || !root.isObject()) {
        throw new DiscoveryFailed("response is not JSON");
      }
      JsonNode data = root.path("data");
      if (!data.isArray() || data.isEmpty()) {
        throw new DiscoveryFailed("no models listed");
      }
      String id = data.get(0).path("id").asText("");
      if (id.isBlank()) {
        throw new DiscoveryFailed("the first model has no id");
      }
      return id;
    } finally {
      client.shutdownNow();
    }
  }

  private static String describe(Throwable cause, HttpTarget target) {
    if (cause instanceof HttpConnectTimeoutException) {
      return "connect timed out: " + target.hostHeader();
    }
    if (cause instanceof HttpTimeoutException) {
      return "no answer within " + TIMEOUT.toSeconds() + " s";
    }
    for (Throwable c = cause; c != null; c = c.getCause()) {
      if (c instanceof java.nio.channels.UnresolvedAddressException || c instanceof java.net.UnknownHostException) {
        return "unknown host: " + target.host();
      }
    }
    if (cause instanceof java.net.ConnectException) {
      return "cannot connect to " + target.hostHeader();
    }
    String m = cause.getMessage();
    return cause.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.lines().findFirst().orElse(""));
  }

  /** Discovery did not produce a model id; the message is one line. */
  static final class DiscoveryFailed extends Exception {
    DiscoveryFailed(String message) {
      super(message, null, false, false);
    }
  }
}
