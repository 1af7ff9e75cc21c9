package dev.tokenpipe.demo;

import dev.tokenpipe.proc.ChildProcesses;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A real NGINX run by the demo as one foreground child process ({@code daemon off; master_process off}), with a
 * config generated from {@code nginx.conf.template} into the demo's temp dir (pid file, logs and temp paths there
 * too), listening on two free loopback ports: the "before" server block (gzip on event streams) and the "after"
 * one (streaming-safe). {@link #close} stops it and anything it forked.
 */
final class NginxProcess implements AutoCloseable {
  static final String TEMPLATE = "nginx.conf.template";
  static final Path DEBIAN_PATH = Path.of("/usr/sbin/nginx");
  private static final long START_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final Process process;
  private final Path dir;
  private final int beforePort;
  private final int afterPort;

  private NginxProcess(Process process, Path dir, int beforePort, int afterPort) {
    this.process = process;
    this.dir = dir;
    this.beforePort = beforePort;
    this.afterPort = afterPort;
  }

  /** NGINX failed to start: the message is one line with the reason from its error log. */
  static final class StartFailed extends Exception {
    StartFailed(String message) {
      super(message);
    }
  }

  /** The nginx binary: {@code nginx} on PATH, else Debian's {@code /usr/sbin/nginx} (not on a user's PATH). */
  static Optional<Path> find() {
    String path = System.getenv("PATH");
    if (path != null) {
      for (String d : path.split(java.io.File.pathSeparator)) {
        if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nginx"))) {
          return Optional.of(Path.of(d, "nginx"));
        }
      }
    }
    return Files.isExecutable(DEBIAN_PATH) ? Optional.of(DEBIAN_PATH) : Optional.empty();
  }

  /**
   * Starts NGINX and waits until both server blocks accept connections.
   *
   * @param dir            an empty directory for the config, pid file, logs and temp paths
   * @param beforeUpstream port of the "before" origin (the group-committing sim)
   * @param afterUpstream  port of the "after" origin (the gateway)
   */
  static NginxProcess start(Path binary, Path dir, int beforeUpstream, int afterUpstream)
      throws IOException, StartFailed, InterruptedException {
    int before = freePort();
    int after = freePort();
    String text;
    try (InputStream in = NginxProcess.class.getResourceAsStream(TEMPLATE)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + TEMPLATE);
      }
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    text = text.replace("${dir}", dir.toString())
        .replace("${before_port}", String.valueOf(before)).replace("${after_port}", String.valueOf(after))
        .replace("${before_upstream}", String.valueOf(beforeUpstream))
        .replace("${after_upstream}", String.valueOf(afterUpstream));
    Path config = dir.resolve("nginx.conf");
    Files.writeString(config, text);
    // -e: errors found before the config is read must not go to the packaged /var/log/nginx/error.log.
    ProcessBuilder pb = new ProcessBuilder(List.of(binary.toString(), "-e", dir.resolve("startup-error.log").toString(),
        "-c", config.toString(), "-p", dir.toString()))
        .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("output.log").toFile());
    NginxProcess nginx = new NginxProcess(pb.start(), dir, before, after);
    try {
      nginx.awaitListening();
      return nginx;
    } catch (StartFailed | InterruptedException | RuntimeException e) {
      nginx.close();
      throw e;
    }
  }

  int beforePort() {
    return beforePort;
  }

  int afterPort() {
    return afterPort;
  }

  long pid() {
    return process.pid();
  }

  /** {@code nginx -v}'s version, e.g. "nginx/1.22.1", or "nginx". */
  static String version(Path binary) {
    try {
      Process p = new ProcessBuilder(binary.toString(), "-v").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      p.waitFor(5, TimeUnit.SECONDS);
      int i = out.indexOf("nginx/");
      return i >= 0 ? out.substring(i).split("\\s")[0] : "nginx";
    } catch (IOException e) {
      return "nginx";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "nginx";
    }
  }

  private void awaitListening() throws StartFailed, InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT_NANOS;
    boolean beforeUp = false;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new StartFailed("nginx exited with " + process.exitValue() + " at start: " + firstLogLine());
      }
      beforeUp = beforeUp || accepts(beforePort);
      if (beforeUp && accepts(afterPort)) {
        return;
      }
      Thread.sleep(30);
    }
    throw new StartFailed("nginx did not listen within 10 s: " + firstLogLine());
  }

  private static boolean accepts(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      return true;
    } catch (IOException notYet) {
      return false;
    }
  }

  /** The first error line NGINX logged (e.g. "bind() to 127.0.0.1:80 failed"), for the one-line note. */
  String firstLogLine() {
    for (String name : List.of("startup-error.log", "error.log", "output.log")) {
      try {
        Path f = dir.resolve(name);
        if (Files.exists(f)) {
          Optional<String> line = Files.readAllLines(f).stream().filter(l -> !l.isBlank()).findFirst();
          if (line.isPresent()) {
            return line.get().trim();
          }
        }
      } catch (IOException ignored) {
        // next log
      }
    }
    return "no log output";
  }

  static int freePort() throws IOException {
    return ChildProcesses.freeLoopbackPort();
  }

  /** SIGTERM (NGINX's fast shutdown), SIGKILL after 5 s; then any process it forked. */
  @Override
  public void close() {
    ChildProcesses.stopTree(process);
  }
}
