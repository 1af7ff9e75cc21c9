package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay on loopback that delivers every read a fixed time after it came in, each direction alike: a network
 * link's one-way delay (a server in another region) without any holding. Every read keeps its own write and
 * flush, so the pacing of the bytes is what it was, only later; {@code TCP_NODELAY} on both sides.
 */
final class DelayLine implements AutoCloseable {
  private static final byte[] END = new byte[0];

  private final ServerSocket server;
  private final long delayNanos;

  DelayLine(int upstreamPort, long oneWayMillis) throws IOException {
    this.delayNanos = TimeUnit.MILLISECONDS.toNanos(oneWayMillis);
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().start(() -> {
      while (!server.isClosed()) {
        try {
          Socket client = server.accept();
          Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
          client.setTcpNoDelay(true);
          upstream.setTcpNoDelay(true);
          pipe(client, upstream);
          pipe(upstream, client);
        } catch (IOException e) {
          return; // closed
        }
      }
    });
  }

  int port() {
    return server.getLocalPort();
  }

  private record Due(long atNanos, byte[] bytes) {}

  private void pipe(Socket from, Socket to) {
    BlockingQueue<Due> line = new LinkedBlockingQueue<>();
    Thread.ofVirtual().start(() -> {
      byte[] buf = new byte[16384];
      try (InputStream in = from.getInputStream()) {
        for (int n; (n = in.read(buf)) >= 0; ) {
          line.add(new Due(System.nanoTime() + delayNanos, Arrays.copyOf(buf, n)));
        }
      } catch (IOException ignored) {
        // the peer's close
      }
      line.add(new Due(System.nanoTime() + delayNanos, END));
    });
    Thread.ofVirtual().start(() -> {
      try (OutputStream out = to.getOutputStream()) {
        for (;;) {
          Due d = line.take();
          long wait = d.atNanos() - System.nanoTime();
          if (wait > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
          }
          if (d.bytes() == END) {
            to.shutdownOutput();
            break;
          }
          out.write(d.bytes());
          out.flush();
        }
      } catch (IOException | InterruptedException ignored) {
        // the peer's close
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
  }
}
