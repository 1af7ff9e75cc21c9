package dev.tokenpipe.doctor;

import dev.tokenpipe.doctor.KnowledgeBase.Fix;
import java.util.List;
import java.util.Map;

/**
 * One thing doctor found, with the numbers that show it and what to change.
 *
 * @param problem    what was found
 * @param severity   how much it costs
 * @param summary    one line, with the key number
 * @param evidence   measured facts behind it, one per line
 * @param numbers    the same facts as named values for the JSON report (units in the names: {@code _ms}, {@code _bytes})
 * @param layer      the layer most likely responsible
 * @param layerBasis why that layer: the header that names it, or the signature that points to it
 * @param fixes      the fix for that layer first, then for other layers that leave the same signature
 */
public record Finding(
    Problem problem, Severity severity, String summary, List<String> evidence, Map<String, Double> numbers,
    Layer layer, String layerBasis, List<Fix> fixes) {

  public Finding {
    evidence = List.copyOf(evidence);
    numbers = Map.copyOf(numbers);
    fixes = List.copyOf(fixes);
  }

  /** True when this finding makes the run fail (exit code 1). */
  public boolean holdsTokens() {
    return problem.buffering() && (severity == Severity.HIGH || severity == Severity.MEDIUM);
  }
}
