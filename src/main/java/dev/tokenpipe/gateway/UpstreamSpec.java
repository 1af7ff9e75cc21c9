package dev.tokenpipe.gateway;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code --upstream} value: a base URL ({@link Upstream#parse}) with an optional relative weight after
 * an {@code =}, e.g. {@code http://10.0.0.5:8000/v1=3}. Without one the weight is 1, so every old value
 * means what it meant.
 *
 * @param weight relative capacity, 1..{@value #MAX_WEIGHT}: a weight-3 upstream takes about three times
 *     the streams of a weight-1 one when they are equally fast
 */
public record UpstreamSpec(Upstream upstream, int weight) {
  static final int MAX_WEIGHT = 100;
  /** A trailing {@code =...} without a slash: meant as a weight, whatever follows it (a base URL has no query). */
  private static final Pattern WEIGHTED = Pattern.compile("([^?]*)=([^/=?]*)");

  /** @throws IllegalArgumentException with a one-line reason for a bad URL or weight */
  public static UpstreamSpec parse(String spec) {
    String s = spec.trim();
    Matcher m = WEIGHTED.matcher(s);
    if (!m.matches() || !m.group(1).contains("://")) {
      return new UpstreamSpec(Upstream.parse(s), 1);
    }
    int weight;
    try {
      weight = Integer.parseInt(m.group(2));
    } catch (NumberFormatException e) {
      weight = -1;
    }
    if (weight < 1 || weight > MAX_WEIGHT) {
      throw new IllegalArgumentException("upstream '" + s + "': the weight after '=' must be a whole number 1.."
          + MAX_WEIGHT + ", not '" + m.group(2) + "'");
    }
    return new UpstreamSpec(Upstream.parse(m.group(1)), weight);
  }
}
