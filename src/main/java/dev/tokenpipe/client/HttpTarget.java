package dev.tokenpipe.client;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * Where a request goes, parsed once from a URL such as {@code http://127.0.0.1:8000/v1/chat/completions}.
 *
 * @param tls        true for {@code https}
 * @param host       host name or address literal (without brackets)
 * @param port       TCP port, the scheme's default when the URL has none
 * @param pathAndQuery request target written on the request line, at least {@code "/"}
 */
public record HttpTarget(boolean tls, String host, int port, String pathAndQuery) {

  /** @throws IllegalArgumentException with a one-line message for anything but an http(s) URL with a host */
  public static HttpTarget parse(String url) {
    URI uri;
    try {
      uri = new URI(url.trim());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("not a URL: '" + url + "' (" + e.getReason() + ")");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException("URL must start with http:// or https://: '" + url + "'");
    }
    if (uri.getHost() == null) {
      throw new IllegalArgumentException("URL has no host: '" + url + "'");
    }
    if (!connectablePort(uri.getPort())) {
      throw new IllegalArgumentException("URL port must be 1..65535: '" + url + "'");
    }
    boolean tls = scheme.equals("https");
    int port = uri.getPort() > 0 ? uri.getPort() : tls ? 443 : 80;
    String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
    String query = uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery();
    String host = uri.getHost();
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new HttpTarget(tls, host, port, path + query);
  }

  /** The path without the query, for choosing an API by endpoint. */
  public String path() {
    int q = pathAndQuery.indexOf('?');
    return q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
  }

  /** The Host header value: the port is omitted when it is the scheme's default. */
  public String hostHeader() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return (tls && port == 443) || (!tls && port == 80) ? h : h + ":" + port;
  }

  /** The same server with another path (e.g. {@code /v1/models}). */
  public HttpTarget withPath(String newPathAndQuery) {
    return new HttpTarget(tls, host, port, newPathAndQuery);
  }

  @Override
  public String toString() {
    return (tls ? "https://" : "http://") + hostHeader() + pathAndQuery;
  }

  /**
   * True for a URL's port that can be connected to: none given (-1) or 1..65535. java.net.URI takes any digits,
   * and a connect to port 0 or 99999 fails late, on an event loop (bench waited there for good).
   */
  public static boolean connectablePort(int urlPort) {
    return urlPort == -1 || (urlPort >= 1 && urlPort <= 65_535);
  }
}
