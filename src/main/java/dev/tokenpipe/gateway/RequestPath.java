package dev.tokenpipe.gateway;

import dev.tokenpipe.http.RequestTarget;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A request target, checked and normalised once before routing, so that what the gateway routes on is
 * what the upstream will act on.
 *
 * <p>Dot segments ({@code .} and {@code ..}, also percent-encoded as {@code %2e}) are removed as in
 * RFC 3986 §5.2.4, and a target whose first segment changes by it (such as {@code /v1/../admin} or
 * {@code /v1/%2e%2e/admin}) is refused: a server behind us, NGINX for one, normalises the same way and
 * would otherwise serve a path outside the proxied prefix. Also refused: a dot segment hidden behind an
 * encoded slash ({@code ..%2fadmin}), a backslash or NUL (raw or encoded), a {@code ..;} segment (which
 * servlet containers read as {@code ..}) and malformed percent-encoding. A target without dot segments
 * is forwarded byte for byte.
 *
 * @param path the normalised path, still percent-encoded as the client sent it (e.g. {@code /v1/models})
 * @param uri the target to forward: {@code path} plus the client's query, if any
 */
record RequestPath(String path, String uri) {

  /** @throws ApiException a 400 {@code invalid_path} for the targets described above */
  static RequestPath parse(String target) {
    String t = RequestTarget.originForm(target);
    int q = t.indexOf('?');
    String raw = q < 0 ? t : t.substring(0, q);
    String query = q < 0 ? "" : t.substring(q);
    if (!raw.startsWith("/")) {
      return new RequestPath(raw, t); // "*" (OPTIONS) and the like: no route matches them
    }
    String[] segments = raw.substring(1).split("/", -1);
    List<String> out = new ArrayList<>(segments.length);
    boolean changed = false;
    for (int i = 0; i < segments.length; i++) {
      String decoded = decode(segments[i]);
      if (decoded.indexOf('\\') >= 0 || decoded.indexOf('\0') >= 0) {
        throw invalid("a backslash or NUL");
      }
      for (String part : decoded.split("/", -1)) {
        String beforeParam = part.contains(";") ? part.substring(0, part.indexOf(';')) : part;
        boolean dot = beforeParam.equals(".") || beforeParam.equals("..");
        if (dot && (!part.equals(decoded) || !beforeParam.equals(part))) {
          throw invalid("a dot segment behind an encoded slash or a ';'");
        }
      }
      boolean last = i == segments.length - 1;
      if (decoded.equals(".")) {
        changed = true;
        if (last) {
          out.add("");
        }
      } else if (decoded.equals("..")) {
        changed = true;
        if (out.isEmpty()) {
          throw invalid("a '..' above the root");
        }
        out.removeLast();
        if (last) {
          out.add("");
        }
      } else {
        out.add(segments[i]);
      }
    }
    if (!changed) {
      return new RequestPath(raw, t);
    }
    String normalised = "/" + String.join("/", out);
    if (out.isEmpty() || !out.getFirst().equals(segments[0])) {
      throw invalid("dot segments that leave the path's prefix /" + segments[0]);
    }
    return new RequestPath(normalised, normalised + query);
  }

  private static ApiException invalid(String what) {
    return new ApiException(new ApiError(HttpResponseStatus.BAD_REQUEST,
        "The request path contains " + what + "; not forwarded.", "invalid_request_error", null, "invalid_path"));
  }

  /** Percent-decoding of one segment (UTF-8); malformed escapes are refused. */
  private static String decode(String segment) {
    if (segment.indexOf('%') < 0) {
      return segment;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(segment.length());
    for (int i = 0; i < segment.length(); i++) {
      char c = segment.charAt(i);
      if (c != '%') {
        bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        continue;
      }
      if (i + 2 >= segment.length()) {
        throw invalid("a malformed percent-encoding");
      }
      int hi = Character.digit(segment.charAt(i + 1), 16);
      int lo = Character.digit(segment.charAt(i + 2), 16);
      if (hi < 0 || lo < 0) {
        throw invalid("a malformed percent-encoding");
      }
      bytes.write(hi << 4 | lo);
      i += 2;
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }
}
