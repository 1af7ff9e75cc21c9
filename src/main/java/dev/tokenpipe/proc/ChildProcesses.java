package dev.tokenpipe.proc;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Helpers for the real programs tokenpipe starts beside itself (NGINX for the demo; proxies in
 * tests): a free loopback port to give them, and stopping one with every process it forked.
 */
public final class ChildProcesses {
  private ChildProcesses() {}

  /** A port that was free on 127.0.0.1 a moment ago. */
  public static int freeLoopbackPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /**
   * SIGTERM (a fast shutdown for NGINX and HAProxy), SIGKILL after 5 s, then any worker process it
   * forked that is still alive, so nothing outlives the run.
   */
  public static void stopTree(Process process) {
    List<ProcessHandle> children = process.descendants().toList();
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    for (ProcessHandle c : children) {
      if (c.isAlive()) {
        c.destroyForcibly();
      }
    }
  }
}
