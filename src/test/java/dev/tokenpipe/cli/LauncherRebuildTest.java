package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher rebuilds {@code target/tokenpipe.jar} when the sources changed, and a {@code serve} started
 * earlier may still be running from it. Maven's jar step writes the jar in place (same inode, truncated) before
 * the shade step moves it to {@code original-tokenpipe.jar}: the running JVM's jar then held the 700 KB
 * unshaded classes, and it failed on every class it had not loaded yet ({@code /metrics} and {@code /v1/stream}
 * requests got no answer). The launcher now unlinks the jar before building, so a running JVM keeps its file.
 *
 * <p>Runs the real launcher in a scratch copy whose {@code mvnw} stands in for Maven and writes the jar in place
 * as its jar step does; the test holds the old jar open, as a running JVM does, and reads it after.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LauncherRebuildTest {
  @TempDir Path repo;

  /** A scratch copy of the launcher whose {@code mvnw} runs {@code build} (bash) instead of Maven. */
  private void scratchLauncher(String build) throws Exception {
    Path root = Path.of(System.getProperty("basedir", "")).toAbsolutePath();
    Files.copy(root.resolve("tokenpipe"), repo.resolve("tokenpipe"));
    Files.createDirectories(repo.resolve("bin"));
    Files.copy(root.resolve("bin/find-jdk"), repo.resolve("bin/find-jdk"));
    Path mvnw = repo.resolve("mvnw");
    Files.writeString(mvnw, "#!/usr/bin/env bash\n" + build);
    Files.setPosixFilePermissions(mvnw, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private Process launch() throws Exception {
    ProcessBuilder pb = new ProcessBuilder("bash", repo.resolve("tokenpipe").toString(), "--version")
        .directory(repo.toFile()).redirectErrorStream(true);
    pb.environment().keySet().removeIf(k -> k.startsWith("TOKENPIPE_"));
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    return pb.start();
  }

  /**
   * Several launches at once after a source change (a script starting a sim and a serve, eight at once in a
   * review) each rebuilt the jar over the others: the shade step failed ("Could not replace original artifact")
   * and left a corrupt jar newer than the sources, so every later run failed with "Invalid or corrupt jarfile".
   * One launch builds; the others wait for it and find the jar fresh.
   */
  @Test
  void launchesAtOnceAfterAChangeBuildOnce() throws Exception {
    // A build that takes a while and counts itself; two at once would both count.
    scratchLauncher("echo x >> target/builds\nsleep 2\nprintf 'rebuilt' > target/tokenpipe.jar\n");
    Files.createDirectories(repo.resolve("target"));
    Files.createDirectories(repo.resolve("src/main"));
    Files.writeString(repo.resolve("pom.xml"), "<project/>"); // no jar yet: every launch wants one

    java.util.List<Process> launches = new java.util.ArrayList<>();
    for (int i = 0; i < 4; i++) {
      launches.add(launch());
    }
    for (Process p : launches) {
      p.getInputStream().readAllBytes();
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }

    assertThat(Files.readAllLines(repo.resolve("target/builds"))).as("builds run").hasSize(1);
    assertThat(Files.readString(repo.resolve("target/tokenpipe.jar"))).isEqualTo("rebuilt");
  }

  @Test
  void aRebuildNeverRewritesTheJarARunningProcessHasOpen() throws Exception {
    // Maven's jar step, as far as the launcher can tell: the jar rewritten through its path (same inode).
    scratchLauncher("printf 'rebuilt' > target/tokenpipe.jar\n");
    Path jar = Files.createDirectories(repo.resolve("target")).resolve("tokenpipe.jar");
    Files.writeString(jar, "the jar a running serve has open");
    Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(60)));
    Files.createDirectories(repo.resolve("src/main"));
    Files.writeString(repo.resolve("pom.xml"), "<project/>"); // newer than the jar: the launcher rebuilds

    try (FileChannel running = FileChannel.open(jar, StandardOpenOption.READ)) {
      Process p = launch();
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();

      assertThat(output).as("it rebuilt").contains("building");
      assertThat(Files.readString(jar)).as("the new jar at the path").isEqualTo("rebuilt");
      ByteBuffer held = ByteBuffer.allocate(64);
      running.read(held, 0);
      assertThat(new String(held.array(), 0, held.position(), StandardCharsets.UTF_8))
          .as("what the running process reads from its open jar").isEqualTo("the jar a running serve has open");
    }
  }
}
