package dev.tokenpipe.testing;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs a script of the npm project in {@code src/test/node} (real client SDKs such as the official
 * {@code openai} package) with node, and parses the one JSON object it prints on stdout.
 *
 * <p>Needs {@code node} on the PATH and the project installed ({@code npm ci} in src/test/node, which
 * {@code .ci/run} does). When either is missing the calling test fails under {@code CI=true} and is skipped
 * with a one-line reason otherwise.
 */
public final class NodeScript {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The npm project's folder: Maven runs tests in the project's base directory. */
  public static final Path DIR = Path.of(System.getProperty("basedir", ""), "src", "test", "node").toAbsolutePath();

  /** What one run left behind: the parsed stdout, and stderr for failure messages. */
  public record Result(JsonNode json, String stderr) {}

  private NodeScript() {}

  /**
   * Skips (or, under {@code CI=true}, fails) the calling test unless node and the package {@code pkg} of
   * src/test/node are installed.
   */
  public static void require(String pkg) {
    String missing = null;
    if (node() == null) {
      missing = "node is not installed (Debian packages 'nodejs' and 'npm')";
    } else if (!Files.isRegularFile(DIR.resolve("node_modules").resolve(pkg).resolve("package.json"))) {
      missing = "the npm package '" + pkg + "' is not installed (run: cd src/test/node && npm ci)";
    }
    if (missing == null) {
      return;
    }
    if ("true".equals(System.getenv("CI"))) {
      fail(missing + " - but CI=true, where it is required (.ci/run installs it)");
    }
    Assumptions.abort(missing + "; skipping the SDK tests");
  }

  /**
   * Runs {@code node <script> <args...>} in src/test/node with {@code env} added to a minimal environment
   * (PATH and HOME only, so no credential of the machine leaks into the SDK), kills it after
   * {@code timeout}, and parses the last line of its stdout as JSON.
   *
   * @throws AssertionError when node times out, exits non-zero or prints no JSON; the message has stderr
   */
  public static Result run(String script, Map<String, String> env, Duration timeout, String... args)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(node().toString(), script));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).directory(DIR.toFile());
    Map<String, String> e = pb.environment();
    String path = e.get("PATH");
    String home = e.get("HOME");
    e.clear();
    if (path != null) {
      e.put("PATH", path);
    }
    if (home != null) {
      e.put("HOME", home);
    }
    e.putAll(env);
    Process p = pb.start();
    p.getOutputStream().close();
    CompletableFuture<String> out = drain(p.getInputStream());
    CompletableFuture<String> err = drain(p.getErrorStream());
    if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      throw new AssertionError("node " + script + " did not finish within " + timeout + "; stderr: " + err.getNow(""));
    }
    String stdout = out.join();
    String stderr = err.join();
    if (p.exitValue() != 0) {
      throw new AssertionError("node " + script + " exited " + p.exitValue() + "; stderr: " + stderr);
    }
    String[] lines = stdout.strip().split("\n");
    try {
      return new Result(JSON.readTree(lines[lines.length - 1]), stderr);
    } catch (IOException ex) {
      throw new AssertionError("node " + script + " printed no JSON: " + stdout + "; stderr: " + stderr, ex);
    }
  }

  /** Reads a pipe to its end on a thread of its own (a full pipe would block the script). */
  private static CompletableFuture<String> drain(java.io.InputStream in) {
    CompletableFuture<String> text = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try (in) {
        text.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        text.complete("");
      }
    }, "node-pipe");
    t.setDaemon(true);
    t.start();
    return text;
  }

  /** The node binary on the PATH, or null. */
  static Path node() {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path p = Path.of(dir, "node");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }
}
