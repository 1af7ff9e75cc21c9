package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The launcher's collector per command ({@code ./tokenpipe}; docs/benchmarks.md, "The load side's collector"):
 * the gateway and everything else get generational ZGC with its soft heap target, the load side ({@code sim},
 * {@code bench}) the Parallel collector, and a collector flag of the user's replaces either. Read from the
 * JVM's own {@code -XX:+PrintCommandLineFlags} on a {@code --help} run of a pinned copy of the built jar.
 *
 * <p>Needs {@code target/tokenpipe.jar} ({@code ./mvnw -DskipTests package}; .ci/run builds it): missing, the
 * test fails in CI and is skipped elsewhere.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LauncherCollectorTest {
  static Path jar;

  @BeforeAll
  static void findTheJar() {
    jar = Path.of(System.getProperty("tokenpipe.build.dir", "target"), "tokenpipe.jar").toAbsolutePath();
    if (!Files.exists(jar)) {
      if ("true".equals(System.getenv("CI"))) {
        fail("missing " + jar + ": build it with ./mvnw -DskipTests package (.ci/run does)");
      }
      Assumptions.abort("no jar at " + jar + " (./mvnw -DskipTests package builds it)");
    }
  }

  @ParameterizedTest(name = "{0} with [{1}] runs {2}")
  @CsvSource(delimiter = '|', value = {
      "serve  |                    | UseZGC",
      "doctor |                    | UseZGC",
      "sim    |                    | UseParallelGC",
      "bench  |                    | UseParallelGC",
      "sim    | -XX:+UseSerialGC   | UseSerialGC",
      "serve  | -XX:+UseSerialGC   | UseSerialGC"})
  void eachCommandGetsItsCollector(String command, String userOpts, String collector) throws Exception {
    String opts = "-XX:+PrintCommandLineFlags" + (userOpts == null ? "" : " " + userOpts);
    ProcessBuilder pb = new ProcessBuilder("./tokenpipe", command, "--help").redirectErrorStream(true);
    pb.environment().put("TOKENPIPE_JAR", jar.toString());
    pb.environment().put("TOKENPIPE_JAVA_OPTS", opts);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String flags = out.lines().filter(l -> l.contains("-XX:")).findFirst().orElse("");
    assertThat(flags).as(out).contains("-XX:+" + collector);
    for (String other : new String[] {"UseZGC", "UseParallelGC", "UseSerialGC", "UseG1GC"}) {
      if (!other.equals(collector)) {
        assertThat(flags).as("only one collector").doesNotContain("-XX:+" + other);
      }
    }
  }
}
