package dev.tokenpipe.doctor;

import dev.tokenpipe.doctor.KnowledgeBase.Fix;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Names the layer behind a finding: first a layer the response headers identify that is known to cause the
 * problem, else the most likely layer for the timing signature (from {@link KnowledgeBase#suspects}).
 */
public final class Attribution {

  /** A layer seen in the headers, with the header line that gave it away. */
  public record Detected(Layer layer, String evidence) {}

  /** The answer for one finding. */
  public record Blame(Layer layer, String basis, List<Fix> fixes) {}

  private static final int MAX_FIXES = 3;

  private Attribution() {}

  /** Layers named by the headers, outermost first (CDN, proxy, runtime, model), each once. */
  public static List<Detected> detect(List<Trace.Header> headers) {
    Map<Layer, Detected> found = new LinkedHashMap<>();
    for (Trace.Header h : headers) {
      for (Layer layer : Layer.values()) {
        if (found.containsKey(layer)) {
          continue;
        }
        for (Layer.Fingerprint fp : layer.fingerprints()) {
          String match = fp.match(h.name(), h.value());
          if (match != null) {
            found.put(layer, new Detected(layer, match));
            break;
          }
        }
      }
    }
    List<Detected> out = new ArrayList<>(found.values());
    out.sort(Comparator.comparing(d -> d.layer().kind()));
    return out;
  }

  /**
   * Who most likely causes {@code problem}.
   *
   * @param detected  layers from the headers ({@link #detect})
   * @param signature words for the basis when no header decides, e.g. "bursts on a ~200 ms clock"
   * @param prefer    a layer the behaviour points to more strongly than any header (e.g. the sender's TCP stack
   *                  for Nagle stalls), or null
   */
  public static Blame blame(Problem problem, List<Detected> detected, String signature, Layer prefer) {
    return blame(problem, List.of(), detected, signature, prefer);
  }

  /**
   * {@link #blame(Problem, List, String, Layer)} for a signature narrower than its problem: {@code signatureSuspects}
   * (measured to leave exactly this signature) come before the problem's usual suspects, which are only typical of
   * it, so a layer doctor has evidence of is never named after one it has none of. A header that names a layer with a
   * fix for {@code problem} still comes first: it is evidence too.
   */
  public static Blame blame(Problem problem, List<Layer> signatureSuspects, List<Detected> detected, String signature,
      Layer prefer) {
    Layer layer = null;
    String basis;
    if (prefer != null) {
      layer = prefer;
      basis = signature;
    } else {
      for (Detected d : detected) {
        if (KnowledgeBase.fix(d.layer(), problem) != null) {
          layer = d.layer();
          break;
        }
      }
      if (layer != null) {
        basis = "response header '" + evidenceOf(detected, layer) + "'";
      } else {
        List<Layer> suspects = signatureSuspects.isEmpty() ? KnowledgeBase.suspects(problem) : signatureSuspects;
        layer = suspects.isEmpty() ? Layer.APP : suspects.getFirst();
        basis = "no header names a layer that does this; " + signature + " is typical of " + layer.displayName();
      }
    }
    List<Fix> fixes = new ArrayList<>();
    addFix(fixes, layer, problem);
    if (layer == Layer.NGINX) {
      addFix(fixes, Layer.INGRESS_NGINX, problem);
    }
    for (Detected d : detected) {
      addFix(fixes, d.layer(), problem);
    }
    for (Layer s : signatureSuspects) {
      addFix(fixes, s, problem);
    }
    for (Layer s : KnowledgeBase.suspects(problem)) {
      addFix(fixes, s, problem);
    }
    return new Blame(layer, basis, fixes);
  }

  private static void addFix(List<Fix> fixes, Layer layer, Problem problem) {
    Fix f = KnowledgeBase.fix(layer, problem);
    if (f != null && fixes.size() < MAX_FIXES && fixes.stream().noneMatch(x -> x.layer() == layer)) {
      fixes.add(f);
    }
  }

  private static String evidenceOf(List<Detected> detected, Layer layer) {
    return detected.stream().filter(d -> d.layer() == layer).map(Detected::evidence).findFirst().orElse("");
  }
}
