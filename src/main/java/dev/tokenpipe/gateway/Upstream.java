package dev.tokenpipe.gateway;

import java.net.URI;
import java.util.Locale;

/**
 * One upstream model server, from a base URL such as {@code http://10.0.0.5:8000} or
 * {@code http://10.0.0.5:8000/v1}.
 *
 * @param name the base URL as given, for logs and metrics labels (never contains credentials)
 * @param host host name or address to connect to
 * @param port TCP port
 * @param pathPrefix prepended to the client's path; a trailing {@code /v1} of the base URL is dropped
 *     because the client path already starts with {@code /v1}
 */
public record Upstream(String name, String host, int port, String pathPrefix) {

  /** @throws IllegalArgumentException with a one-line reason for anything but a plain http URL */
  public static Upstream parse(String baseUrl) {
    URI uri;
    try {
      uri = URI.create(baseUrl.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a URL: '" + baseUrl + "'");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http")) {
      throw new IllegalArgumentException("upstream '" + baseUrl + "': only http:// upstreams are supported"
          + " (terminate TLS in front of the model server or use a sidecar)");
    }
    if (uri.getHost() == null) {
      throw new IllegalArgumentException("upstream '" + baseUrl + "' has no host");
    }
    if (uri.getUserInfo() != null) {
      throw new IllegalArgumentException("upstream URLs must not carry credentials; use --upstream-key-env");
    }
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (path.endsWith("/v1")) {
      path = path.substring(0, path.length() - 3);
    }
    int port = uri.getPort() > 0 ? uri.getPort() : 80;
    return new Upstream(scheme + "://" + uri.getHost() + ":" + port + path, uri.getHost(), port, path);
  }

  /** The Host header value toward this upstream. */
  public String authority() {
    return port == 80 ? host : host + ":" + port;
  }

  /** The request target for a client path such as {@code /v1/chat/completions?x=1}. */
  public String target(String clientUri) {
    return pathPrefix + clientUri;
  }
}
