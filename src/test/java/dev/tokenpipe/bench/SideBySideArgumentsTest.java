package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.BenchScript;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * bench/side-by-side.sh refuses bad arguments with a one-line usage error and exit 64 before it starts
 * anything. Its check is a regex and {@code [ -lt ]}, but the values are later used in bash arithmetic, where a
 * leading 0 means octal: seconds "018" (or WARM=08s) passed a check of digits alone, the script started the sim,
 * both gateways and both benches, slept through the warm-up, and then died with "value too great for base"; and
 * a number too large for [ -lt ] made that test fail with status 2, which an "||" chain took as "not too small".
 *
 * <p>Run on a copy of the script and bench/lib.sh next to stubs (tokenpipe, taskset, curl, jq; a "gateway" is a
 * sleep the script's own EXIT trap kills), so no server is started.
 */
class SideBySideArgumentsTest {
  @TempDir
  Path dir;

  @ParameterizedTest(name = "concurrency={0} seconds={1} pairs={2} WARM={3}")
  @CsvSource({
      "150, 018, 1, 1s",
      "150, 10, 1, 08s",
      "99999999999999999999, 10, 1, 1s",
  })
  void aBadArgumentIsAOneLineUsageErrorWithExit64BeforeAnythingStarts(String c, String secs, String pairs, String warm)
      throws Exception {
    assertRefusedBeforeAnythingStarts(warm, "a.jar", "b.jar", c, secs, pairs);
  }

  /**
   * A and B are each a jar file that exists, nginx or floor; two NGINX would be one config and one pid file for both.
   */
  @ParameterizedTest(name = "A={0} B={1}")
  @CsvSource({
      "nginx, nginx",
      "a.jar, nginy",
      "flor, nginx",
      "missing.jar, nginx",
  })
  void aGatewayThatIsNeitherAJarNorNginxNorTheFloorIsAUsageError(String a, String b) throws Exception {
    assertRefusedBeforeAnythingStarts("1s", a, b, "150", "10", "1");
  }

  @Test
  void anArgumentPastPairsIsAUsageError() throws Exception {
    assertRefusedBeforeAnythingStarts("1s", "a.jar", "b.jar", "150", "10", "1", "extra");
  }

  private void assertRefusedBeforeAnythingStarts(String warm, String a, String b, String... rest) throws Exception {
    BenchScript sandbox = new BenchScript(dir, "side-by-side.sh");
    sandbox.launcher("[ \"$1\" = serve ] && exec sleep 20; exit 0") // a gateway lives (the script reads its /proc stat)
        .tool("taskset", "shift 2; exec \"$@\"")
        .tool("curl", "exit 0")
        .tool("jq", "exit 0")
        .tool("nginx", sandbox.record("nginx"));
    Files.writeString(dir.resolve("a.jar"), "");
    Files.writeString(dir.resolve("b.jar"), "");
    List<String> args = new ArrayList<>(List.of(gateway(a), gateway(b)));
    args.addAll(List.of(rest));

    BenchScript.Result r = sandbox.run(Map.of("WARM", warm), 30, args.toArray(String[]::new));

    assertThat(r.exit()).as("exit status; stderr: %s; started: %s", r.err(), r.started()).isEqualTo(64);
    assertThat(r.err().lines().count()).as("stderr lines: %s", r.err()).isEqualTo(1);
    assertThat(r.started()).as("commands started before the argument was refused").isEmpty();
  }

  /** A jar's name becomes its path in the test's directory; anything else is passed as it is. */
  private String gateway(String name) {
    return name.endsWith(".jar") ? dir.resolve(name).toString() : name;
  }
}
