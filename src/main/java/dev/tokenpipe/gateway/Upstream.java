package dev.tokenpipe.gateway;

import dev.tokenpipe.client.HttpTarget;
import java.net.URI;
import java.util.Locale;

/**
 * One upstream model server, from a base URL such as {@code http://10.0.0.5:8000},
 * {@code http://10.0.0.5:8000/v1} or {@code https://api.openai.com/v1}.
 *
 * @param name the base URL, normalized ({@code scheme://host:port/prefix}), for logs, metrics labels and
 *     error messages (never contains credentials)
 * @param host host name or address to connect to, as in the URL (an IPv6 literal keeps its brackets)
 * @param port TCP port (80 for {@code http://}, 443 for {@code https://} when the URL names none)
 * @param pathPrefix prepended to the client's path; a trailing {@code /v1} of the base URL is dropped
 *     because the client path already starts with {@code /v1}
 * @param tls {@code https://}: the connection starts with a TLS handshake ({@link UpstreamTls})
 */
public record Upstream(String name, String host, int port, String pathPrefix, boolean tls) {

  /** @throws IllegalArgumentException with a one-line reason for anything but an http or https URL */
  public static Upstream parse(String baseUrl) {
    URI uri;
    try {
      uri = URI.create(baseUrl.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a URL: '" + baseUrl + "'");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException("upstream '" + baseUrl + "': only http:// and https:// upstreams are supported");
    }
    if (uri.getHost() == null) {
      throw new IllegalArgumentException("upstream '" + baseUrl + "' has no host");
    }
    if (!HttpTarget.connectablePort(uri.getPort())) {
      throw new IllegalArgumentException("upstream '" + baseUrl + "': port must be 1..65535");
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
    boolean tls = scheme.equals("https");
    int port = uri.getPort() > 0 ? uri.getPort() : defaultPort(tls);
    return new Upstream(scheme + "://" + uri.getHost() + ":" + port + path, uri.getHost(), port, path, tls);
  }

  private static int defaultPort(boolean tls) {
    return tls ? 443 : 80;
  }

  /** The Host header value toward this upstream: host, plus the port unless it is the scheme's default. */
  public String authority() {
    return port == defaultPort(tls) ? host : host + ":" + port;
  }

  /**
   * The host as TLS sees it: without an IPv6 literal's brackets. It is the peer host for hostname
   * verification and, unless it is an IP address (RFC 6066 forbids those), the SNI server name.
   */
  public String tlsHost() {
    return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
  }

  /** The request target for a client path such as {@code /v1/chat/completions?x=1}. */
  public String target(String clientUri) {
    return pathPrefix + clientUri;
  }
}
