package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.BenchScript;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/gateway-overhead.sh's summary, run alone on saved results ({@code SUMMARIZE="run1.tsv run2.tsv"}): the
 * rounds of several runs pool, each gateway minus NGINX is printed round by round with the median of those
 * differences and how many rounds it was behind, and the floor's latency gets a column beside serve's
 * (docs/benchmarks.md, "The tail beside the floor"). Run on a copy of the script next to a stub launcher that
 * records any call: summarizing starts nothing.
 */
class GatewayOverheadSummaryTest {
  @TempDir
  Path dir;

  private BenchScript sandbox;

  @BeforeEach
  void copyScript() throws IOException {
    sandbox = new BenchScript(dir, "gateway-overhead.sh").launcher("exit 0");
  }

  /** One results row: the script's 28 tab-separated columns, TTFT p99 in column 7, the way in's p99 in 28. */
  private static String row(String path, int round, double ttftP99, double wayInP99) {
    double[] v = new double[29];
    v[3] = 4000; // ok
    v[5] = 250_000; // content events
    v[6] = 200.8;
    v[7] = ttftP99;
    v[8] = ttftP99 + 5;
    v[9] = 20.0;
    v[10] = 25.0;
    v[11] = 35.0;
    v[12] = 0.22;
    v[13] = 4.0;
    v[14] = 15.0;
    v[15] = path.equals("direct") ? 0 : 6.5; // CPU s
    v[16] = 10_000;
    v[17] = 12_000;
    v[18] = 265_000; // serve's events counter
    v[19] = 12.0;
    v[25] = 200.5;
    v[26] = 205.0;
    v[27] = 0.3;
    v[28] = wayInP99;
    List<String> cols = new ArrayList<>(List.of(path, Integer.toString(round)));
    for (int k = 3; k <= 28; k++) {
      cols.add(k == 24 ? "false" : k >= 20 && k <= 23 ? "0.1" : String.format(Locale.ROOT, "%.3f", v[k]));
    }
    return String.join("\t", cols) + "\n";
  }

  /** A run of two rounds: serve's TTFT p99 is NGINX's plus {@code serveMinus[r]}, the floor's plus 1 ms. */
  private Path run(String name, double... serveMinus) throws IOException {
    StringBuilder rows = new StringBuilder();
    for (int r = 1; r <= serveMinus.length; r++) {
      double nginx = 207.0 + r;
      rows.append(row("direct", r, 206.0, 4.5))
          .append(row("serve", r, nginx + serveMinus[r - 1], 5.0 + r))
          .append(row("nginx", r, nginx, 5.0))
          .append(row("floor", r, nginx + 1.0, 5.5));
    }
    Path f = dir.resolve(name);
    Files.writeString(f, rows);
    return f;
  }

  private BenchScript.Result summarize(String files) throws Exception {
    return sandbox.run(Map.of("SUMMARIZE", files), 30, "300");
  }

  @Test
  void savedRunsPoolRoundByRoundAndTheFloorStandsBesideServe() throws Exception {
    Path a = run("a.tsv", 3.0, -1.0);
    Path b = run("b.tsv", 2.0, 10.0);

    BenchScript.Result r = summarize(a + " " + b);

    assertThat(r.exit()).as("exit; stderr: %s", r.err()).isZero();
    assertThat(r.out()).contains("serve-nginx   floor-nginx");
    // Rounds of the two runs stay apart (run:round), so serve is paired with NGINX of its own round.
    assertThat(r.out().lines().filter(l -> l.matches("\\s*round \\d:\\d\\s+serve\\s.*"))).containsExactly(
        "  round 1:1   serve                       +3.00     +0.00          +0.00        +1.00",
        "  round 1:2   serve                       -1.00     +0.00          +0.00        +2.00",
        "  round 2:1   serve                       +2.00     +0.00          +0.00        +1.00",
        "  round 2:2   serve                      +10.00     +0.00          +0.00        +2.00");
    // The median of the four differences (-1, 2, 3, 10), not the difference of two medians.
    assertThat(r.out()).contains("  serve  median of the rounds                +2.50     +0.00          +0.00"
        + "        +1.50   (behind NGINX at TTFT p99 in 3 of 4)");
    assertThat(r.out()).contains("  floor  median of the rounds                +1.00")
        .contains("(behind NGINX at TTFT p99 in 4 of 4)");
    assertThat(sandbox.startedAnything()).as("summarizing starts nothing").isFalse();
  }

  @Test
  void aRoundWhereAPathHadNoSuccessIsLeftOutNotReadAsZero() throws Exception {
    Path a = run("a.tsv", 3.0, -1.0, 2.0);
    // Round 2's NGINX run: no request succeeded, so bench's JSON had no latency and the row's cells are empty.
    List<String> rows = new ArrayList<>(Files.readAllLines(a));
    for (int i = 0; i < rows.size(); i++) {
      String[] c = rows.get(i).split("\t", -1);
      if (c[0].equals("nginx") && c[1].equals("2")) {
        for (int k = 5; k <= 13; k++) {
          c[k] = "";
        }
        c[25] = "";
        c[27] = "";
        rows.set(i, String.join("\t", c));
      }
    }
    Files.write(a, rows);

    BenchScript.Result r = summarize(a.toString());

    assertThat(r.exit()).as("exit; stderr: %s", r.err()).isZero();
    assertThat(r.out()).contains("  round 1:2   serve  no latency (no request succeeded on one of the paths)");
    // The median of +3 and +2, not of +3, +2 and a difference from an empty cell read as 0 (-210).
    assertThat(r.out()).contains("  serve  median of the rounds                +2.50")
        .contains("(behind NGINX at TTFT p99 in 2 of 2)");
  }

  @Test
  void aMissingResultsFileIsAOneLineErrorWithExit64() throws Exception {
    Path a = run("a.tsv", 1.0, 1.0);

    BenchScript.Result r = summarize(a + " " + dir.resolve("missing.tsv"));

    assertThat(r.exit()).as("exit; stdout: %s", r.out()).isEqualTo(64);
    assertThat(r.err()).isEqualTo("gateway-overhead: SUMMARIZE: no results in " + dir.resolve("missing.tsv"));
    assertThat(r.out()).isEmpty();
    assertThat(sandbox.startedAnything()).isFalse();
  }
}
