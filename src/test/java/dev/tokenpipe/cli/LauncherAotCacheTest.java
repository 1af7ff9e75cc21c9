package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.tokenpipe.proc.ChildProcesses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's JDK AOT cache ({@code ./tokenpipe}, docs/serve.md "Start-up"), on a pinned copy of the built
 * jar ({@code TOKENPIPE_JAR}) with the cache in a temporary folder ({@code TOKENPIPE_AOT_DIR}), one real
 * training run in all: by default and with {@code TOKENPIPE_AOT=0} none is made; with {@code TOKENPIPE_AOT=1}
 * the first {@code serve} records one and the JVM maps it (on JDK 25 and later; before, none is made); a cache
 * the JVM refuses (here: garbage under its name) changes nothing a user sees, no JVM warning, no retraining, a
 * normal start.
 *
 * <p>Needs {@code target/tokenpipe.jar} ({@code ./mvnw -DskipTests package}; .ci/run builds it): missing, the
 * test fails in CI and is skipped elsewhere.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class LauncherAotCacheTest {
  static final boolean CI = "true".equals(System.getenv("CI"));
  @TempDir static Path work;
  static Path jar;

  @BeforeAll
  static void pinTheJar() throws Exception {
    Path built = Path.of(System.getProperty("tokenpipe.build.dir", "target"), "tokenpipe.jar");
    if (!Files.exists(built)) {
      if (CI) {
        fail("missing " + built + ": build it with ./mvnw -DskipTests package (.ci/run does)");
      }
      Assumptions.abort("no jar at " + built + " (./mvnw -DskipTests package builds it)");
    }
    jar = Files.copy(built, work.resolve("pinned.jar"));
  }

  record Started(Process process, String output) {}

  /** {@code ./tokenpipe serve} on a free port until it says it listens; the caller stops it. */
  static Started serve(Path aotDir, Map<String, String> extraEnv) throws Exception {
    int port = ChildProcesses.freeLoopbackPort();
    Path log = Files.createTempFile(work, "serve", ".log");
    ProcessBuilder pb = new ProcessBuilder("./tokenpipe", "serve", "--port", String.valueOf(port))
        .redirectErrorStream(true).redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("TOKENPIPE_"));
    env.put("JAVA_HOME", System.getProperty("java.home"));
    env.put("TOKENPIPE_JAR", jar.toString());
    env.put("TOKENPIPE_AOT_DIR", aotDir.toString());
    env.putAll(extraEnv);
    Process p = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.readString(log).contains("listening on")) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        ChildProcesses.stopTree(p);
        fail("serve did not start: " + Files.readString(log));
      }
      Thread.sleep(50);
    }
    return new Started(p, Files.readString(log));
  }

  static List<Path> caches(Path dir) throws Exception {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.toString().endsWith(".aot")).toList();
    }
  }

  /** Whether the running JVM mapped {@code cache} (Linux: /proc/PID/maps names the file of each mapping). */
  static boolean mapped(Process p, Path cache) throws Exception {
    Path maps = Path.of("/proc", String.valueOf(p.pid()), "maps");
    Assumptions.assumeTrue(Files.exists(maps), "no /proc to see the mapping in");
    return Files.readString(maps).contains(cache.toString());
  }

  @Test
  void offMakesNoneTheFirstServeRecordsOneAndARefusedCacheChangesNothingVisible() throws Exception {
    Path dir = work.resolve("aot");
    Started byDefault = serve(dir, Map.of());
    ChildProcesses.stopTree(byDefault.process());
    Started off = serve(dir, Map.of("TOKENPIPE_AOT", "0"));
    ChildProcesses.stopTree(off.process());
    assertThat(caches(dir)).as("by default and with TOKENPIPE_AOT=0").isEmpty();
    assertThat(byDefault.output() + off.output()).doesNotContain("AOT cache");

    Started first = serve(dir, Map.of("TOKENPIPE_AOT", "1"));
    try {
      if (Runtime.version().feature() < 25) {
        assertThat(caches(dir)).as("no AOT cache flags before JDK 25").isEmpty();
        return;
      }
      assertThat(first.output()).contains("tokenpipe: AOT cache recorded in").doesNotContain("[aot]", "[warning]");
      assertThat(caches(dir)).hasSize(1);
      assertThat(mapped(first.process(), caches(dir).getFirst())).as("the JVM uses the cache: %s", first.output()).isTrue();
    } finally {
      ChildProcesses.stopTree(first.process());
    }

    Path cache = caches(dir).getFirst();
    Files.write(cache, new byte[64 * 1024]); // same name, not a cache: the JVM refuses it
    Started refused = serve(dir, Map.of("TOKENPIPE_AOT", "1"));
    try {
      assertThat(refused.output()).as("no JVM warning, no second training")
          .doesNotContain("[aot]", "[cds]", "[warning]", "[error]", "recording");
      assertThat(mapped(refused.process(), cache)).isFalse();
    } finally {
      ChildProcesses.stopTree(refused.process());
    }
  }
}
