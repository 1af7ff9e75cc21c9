package dev.tokenpipe.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One of the repository's {@code bench/*.sh} scripts run on a copy (with {@code bench/lib.sh}) in {@code dir}, next to
 * stubs: a launcher ({@code dir/tokenpipe}, which the scripts run as {@code $here/tokenpipe}) and tools on the
 * {@code PATH} ({@code curl}, {@code jq}, {@code taskset}, ...), so a test drives a script's own logic (its argument
 * checks, its waits, its summary) without starting a server. The launcher notes each command it is given in
 * {@link Result#started}.
 */
public final class BenchScript {
  private final Path dir;
  private final Path script;
  private final Path bin;
  private final Path started;

  /** Copies {@code bench/<name>} and {@code bench/lib.sh} from the working directory (the repository) into {@code dir}. */
  public BenchScript(Path dir, String name) throws IOException {
    this.dir = dir;
    Path repo = Path.of("").toAbsolutePath();
    Files.createDirectories(dir.resolve("bench"));
    this.script = dir.resolve("bench/" + name);
    Files.copy(repo.resolve("bench/" + name), script);
    Files.copy(repo.resolve("bench/lib.sh"), dir.resolve("bench/lib.sh"));
    this.bin = Files.createDirectories(dir.resolve("bin"));
    this.started = dir.resolve("started");
  }

  /** A stub's line that appends {@code what} (a shell word) to {@link Result#started}. */
  public String record(String what) {
    return "echo \"" + what + "\" >> '" + started + "'";
  }

  /**
   * The stub launcher: {@code --version} (the scripts' build check) succeeds; any other command is recorded, then
   * {@code body} (bash, {@code $1} the command) runs.
   */
  public BenchScript launcher(String body) throws IOException {
    stub(dir.resolve("tokenpipe"), "[ \"$1\" = --version ] && exit 0\n" + record("$1") + "\n" + body);
    return this;
  }

  /** A stub {@code name} on the script's {@code PATH}, a bash script of {@code body}. */
  public BenchScript tool(String name, String body) throws IOException {
    stub(bin.resolve(name), body);
    return this;
  }

  /** Whether anything a stub records was called. */
  public boolean startedAnything() {
    return Files.exists(started);
  }

  private void stub(Path file, String body) throws IOException {
    Files.writeString(file, "#!/usr/bin/env bash\n" + body + "\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  public record Result(int exit, String out, String err, List<String> started) {}

  /**
   * Runs {@code bash bench/<name> args...} with {@code env} added, and waits at most {@code timeoutSeconds} (then
   * kills it and its children, and fails the test). Output goes through files, so a script that writes much never
   * blocks on a pipe.
   */
  public Result run(Map<String, String> env, long timeoutSeconds, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("bash", script.toString()));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(dir, "out", ".txt");
    Path err = Files.createTempFile(dir, "err", ".txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    pb.environment().putAll(env);
    Process p = pb.start();
    boolean ended = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
    if (!ended) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
    }
    String errText = Files.readString(err, StandardCharsets.UTF_8).strip();
    assertThat(ended).as("the script ended within %d s; stderr: %s", timeoutSeconds, errText).isTrue();
    return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), errText,
        Files.exists(started) ? Files.readAllLines(started) : List.of());
  }
}
