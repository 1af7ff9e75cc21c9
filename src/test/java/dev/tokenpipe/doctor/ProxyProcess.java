package dev.tokenpipe.doctor;

import dev.tokenpipe.proc.ChildProcesses;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real proxy (nginx, haproxy, caddy, apache2) started by a test as a child process in the foreground, with a
 * config generated from a template in {@code src/test/resources/dev/tokenpipe/doctor/} into its own temp dir
 * (pid file, logs, temp paths), on a free port. {@link #close} stops it and every process it forked.
 * Public for {@code dev.tokenpipe.deploy.DeployConfigTest}, which runs the shipped deploy/ configs with it.
 */
public final class ProxyProcess implements AutoCloseable {
  private final String name;
  private final Process process;
  private final int port;
  private final Path dir;

  private ProxyProcess(String name, Process process, int port, Path dir) {
    this.name = name;
    this.process = process;
    this.port = port;
    this.dir = dir;
  }

  /**
   * Skips the calling test when {@code binary} is missing, unless env {@code CI=true}, where a missing proxy is a
   * failure (CI must install it: see docs/doctor.md).
   */
  public static void requireBinary(String binary, String debianPackage) {
    if (Files.isExecutable(Path.of(binary))) {
      return;
    }
    String msg = binary + " is not installed (Debian package '" + debianPackage + "'); skipping the " + debianPackage + " tests";
    if ("true".equals(System.getenv("CI"))) {
      fail(msg + " - but CI=true, where it is required");
    }
    Assumptions.abort(msg);
  }

  /**
   * Starts a proxy.
   *
   * @param template resource name of the config template; {@code ${dir}}, {@code ${port}}, {@code ${upstream}} and
   *                 every key of {@code vars} are replaced
   * @param config   file name of the generated config in the temp dir
   * @param command  the command line; {@code ${config}} and {@code ${dir}} are replaced
   */
  static ProxyProcess start(String name, String template, String config, int upstreamPort, Map<String, String> vars,
      List<String> command) throws IOException, InterruptedException {
    String text;
    try (InputStream in = ProxyProcess.class.getResourceAsStream(template)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource " + template);
      }
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    return startWithText(name, text, config, upstreamPort, vars, command);
  }

  /** As {@link #start}, with the template's text given instead of a resource name. */
  public static ProxyProcess startWithText(String name, String text, String config, int upstreamPort,
      Map<String, String> vars, List<String> command) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("tp-doctor-" + name + "-");
    int port = freePort();
    text = text.replace("${dir}", dir.toString()).replace("${port}", String.valueOf(port))
        .replace("${upstream}", String.valueOf(upstreamPort));
    for (Map.Entry<String, String> v : vars.entrySet()) {
      text = text.replace("${" + v.getKey() + "}", v.getValue());
    }
    Path configFile = dir.resolve(config);
    Files.writeString(configFile, text);
    List<String> cmd = new ArrayList<>();
    for (String c : command) {
      cmd.add(c.replace("${config}", configFile.toString()).replace("${dir}", dir.toString()));
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("output.log").toFile());
    pb.environment().put("HOME", dir.toString());
    pb.environment().put("XDG_DATA_HOME", dir.toString());
    pb.environment().put("XDG_CONFIG_HOME", dir.toString());
    ProxyProcess p = new ProxyProcess(name, pb.start(), port, dir);
    p.awaitListening();
    return p;
  }

  public int port() {
    return port;
  }

  public String url(String path) {
    return "http://127.0.0.1:" + port + path;
  }

  private void awaitListening() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        close();
        fail(name + " exited with " + process.exitValue() + " at start:\n" + log());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    close();
    fail(name + " did not listen on " + port + " within 15 s:\n" + log());
  }

  public String log() {
    StringBuilder sb = new StringBuilder();
    try (var files = Files.list(dir)) {
      for (Path f : files.filter(f -> f.toString().endsWith(".log")).toList()) {
        sb.append("--- ").append(f.getFileName()).append('\n').append(Files.readString(f));
      }
    } catch (IOException e) {
      sb.append("(cannot read logs: ").append(e.getMessage()).append(')');
    }
    return sb.toString();
  }

  static int freePort() throws IOException {
    return ChildProcesses.freeLoopbackPort();
  }

  /** Stops the proxy (SIGTERM, then SIGKILL after 5 s) and the worker processes it forked. */
  @Override
  public void close() {
    ChildProcesses.stopTree(process);
  }
}
