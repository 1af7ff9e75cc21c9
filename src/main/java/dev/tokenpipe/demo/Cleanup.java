package dev.tokenpipe.demo;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Everything the demo started (NGINX, servers, relays) and its temp dir, closed in reverse order exactly once:
 * at the end of the run, on failure, or from the Ctrl-C shutdown hook, whichever comes first.
 */
final class Cleanup implements AutoCloseable {
  private final Deque<AutoCloseable> started = new ArrayDeque<>();
  private final Path tempDir;
  private boolean closed;

  Cleanup(Path tempDir) {
    this.tempDir = tempDir;
  }

  /** Registers {@code c} to be closed; if cleanup already ran (Ctrl-C during start-up), closes it at once. */
  synchronized <T extends AutoCloseable> T add(T c) {
    if (closed) {
      closeQuietly(c);
      throw new IllegalStateException("the demo is shutting down");
    }
    started.push(c);
    return c;
  }

  /** True once cleanup ran: the demo was interrupted (or is ending) and must not start anything more. */
  synchronized boolean closed() {
    return closed;
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    while (!started.isEmpty()) {
      closeQuietly(started.pop());
    }
    deleteTree(tempDir);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception | Error e) {
      System.err.println("tokenpipe demo: while cleaning up: " + e);
    }
  }

  static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try {
      Files.walkFileTree(dir, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          Files.deleteIfExists(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
          Files.deleteIfExists(d);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      System.err.println("tokenpipe demo: could not delete " + dir + ": " + e.getMessage());
    }
  }
}
