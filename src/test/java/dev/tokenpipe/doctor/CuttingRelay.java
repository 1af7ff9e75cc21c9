package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay on loopback that closes each connection a fixed time after it was accepted, whatever is in flight:
 * a proxy's total (or read) timeout as a long stream meets it.
 */
final class CuttingRelay implements AutoCloseable {
  private final ServerSocket server;
  private final ScheduledExecutorService cutter = Executors.newSingleThreadScheduledExecutor();

  CuttingRelay(int upstreamPort, long cutAfterMillis) throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().start(() -> {
      while (!server.isClosed()) {
        try {
          Socket client = server.accept();
          Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
          pump(client, upstream);
          pump(upstream, client);
          cutter.schedule(() -> {
            closeQuietly(client);
            closeQuietly(upstream);
          }, cutAfterMillis, TimeUnit.MILLISECONDS);
        } catch (IOException e) {
          return; // closed
        }
      }
    });
  }

  int port() {
    return server.getLocalPort();
  }

  private static void pump(Socket from, Socket to) {
    Thread.ofVirtual().start(() -> {
      byte[] buf = new byte[16384];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buf)) >= 0; ) {
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException ignored) {
        // the cut, or the peer's close
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    });
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // already closed
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    cutter.shutdownNow();
  }
}
