package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * A TCP relay on loopback in front of {@code upstreamPort}, the shape of the doctor tests' stand-ins for a layer:
 * each accepted connection gets its own upstream connection ({@code TCP_NODELAY} on both), and the subclass moves the
 * bytes ({@link #relay}). Subclasses call {@link #start} at the end of their constructor, once their fields are set.
 */
abstract class LoopbackRelay implements AutoCloseable {
  private final ServerSocket server;
  private final int upstreamPort;

  LoopbackRelay(int upstreamPort) throws IOException {
    this.upstreamPort = upstreamPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  /** Starts accepting. */
  final void start() {
    Thread.ofVirtual().start(() -> {
      while (!server.isClosed()) {
        try {
          Socket client = server.accept();
          Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
          client.setTcpNoDelay(true);
          upstream.setTcpNoDelay(true);
          relay(client, upstream);
        } catch (IOException e) {
          return; // closed
        }
      }
    });
  }

  /** Moves the bytes of one connection both ways; returns at once (the work goes on in threads of its own). */
  abstract void relay(Socket client, Socket upstream) throws IOException;

  int port() {
    return server.getLocalPort();
  }

  /** What a read does before its bytes go on: nothing by default. */
  interface AfterRead {
    void run() throws IOException;
  }

  /** Copies {@code from} to {@code to} read by read, each written and flushed as it came; closes both at the end. */
  static void copy(Socket from, Socket to, AfterRead afterRead) {
    Thread.ofVirtual().start(() -> {
      byte[] buf = new byte[16384];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buf)) >= 0; ) {
          afterRead.run();
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException ignored) {
        // a cut, or the peer's close
      } finally {
        closeQuietly(from, to);
      }
    });
  }

  static void closeQuietly(Socket... sockets) {
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
