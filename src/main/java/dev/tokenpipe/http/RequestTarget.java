package dev.tokenpipe.http;

/**
 * The request target a server acts on, whatever form the client sent it in.
 *
 * <p>RFC 9112 §3.2.2: a server must accept the absolute-form ({@code GET http://host/healthz HTTP/1.1}), which
 * clients send to a proxy and some send to any server; it names the same resource as the origin-form
 * {@code /healthz}. The authority in it is not checked against the server's own: both {@code serve} and the
 * sim answer for any host.
 */
public final class RequestTarget {
  private RequestTarget() {}

  /**
   * The origin-form of {@code target}: the path and query of an absolute-form target ({@code /} when it has no
   * path), any other target unchanged ({@code *}, or already a path).
   */
  public static String originForm(String target) {
    if (!target.startsWith("http://") && !target.startsWith("https://")) {
      return target;
    }
    int authority = target.indexOf("//") + 2;
    int slash = target.indexOf('/', authority);
    int query = target.indexOf('?', authority);
    if (slash < 0 || (query >= 0 && query < slash)) {
      return query < 0 ? "/" : "/" + target.substring(query);
    }
    return target.substring(slash);
  }
}
