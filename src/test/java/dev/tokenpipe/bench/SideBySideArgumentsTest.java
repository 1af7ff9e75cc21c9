package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

  private static void stub(Path file, String body) throws IOException {
    Files.writeString(file, "#!/usr/bin/env bash\n" + body + "\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

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
    Path repo = Path.of("").toAbsolutePath();
    Files.createDirectories(dir.resolve("bench"));
    Files.copy(repo.resolve("bench/side-by-side.sh"), dir.resolve("bench/side-by-side.sh"));
    Files.copy(repo.resolve("bench/lib.sh"), dir.resolve("bench/lib.sh"));
    Path started = dir.resolve("started");
    stub(dir.resolve("tokenpipe"), "[ \"$1\" = --version ] && exit 0; echo \"$1\" >> '" + started + "';"
        + " [ \"$1\" = serve ] && exec sleep 20; exit 0"); // a gateway lives (the script reads its /proc stat)
    Path bin = Files.createDirectories(dir.resolve("bin"));
    stub(bin.resolve("taskset"), "shift 2; exec \"$@\"");
    stub(bin.resolve("curl"), "exit 0");
    stub(bin.resolve("jq"), "exit 0");
    stub(bin.resolve("nginx"), "echo nginx >> '" + started + "'");
    Files.writeString(dir.resolve("a.jar"), "");
    Files.writeString(dir.resolve("b.jar"), "");

    List<String> cmd = new ArrayList<>(List.of("bash", dir.resolve("bench/side-by-side.sh").toString(),
        gateway(a), gateway(b)));
    cmd.addAll(List.of(rest));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(false);
    pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    pb.environment().put("WARM", warm);
    Process p = pb.start();
    boolean ended = p.waitFor(30, TimeUnit.SECONDS);
    if (!ended) {
      p.destroyForcibly();
    }
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    List<String> startedCommands = Files.exists(started) ? Files.readAllLines(started) : List.of();

    assertThat(ended).as("the script ended").isTrue();
    assertThat(p.exitValue()).as("exit status; stderr: %s; started: %s", err, startedCommands).isEqualTo(64);
    assertThat(err.lines().count()).as("stderr lines: %s", err).isEqualTo(1);
    assertThat(startedCommands).as("commands started before the argument was refused").isEmpty();
  }

  /** A jar's name becomes its path in the test's directory; anything else is passed as it is. */
  private String gateway(String name) {
    return name.endsWith(".jar") ? dir.resolve(name).toString() : name;
  }
}
