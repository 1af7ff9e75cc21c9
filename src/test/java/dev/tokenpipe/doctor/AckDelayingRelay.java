package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import jdk.net.ExtendedSocketOptions;

/**
 * A TCP relay whose socket towards the server delays its ACKs, as a receiver on a real network does: after
 * every read it turns {@code TCP_QUICKACK} off again (Linux re-enables quick ACKs by itself, e.g. after the
 * delayed-ACK timer fires). Loopback otherwise ACKs at once, which hides Nagle stalls. Bytes are forwarded to
 * the client immediately with {@code TCP_NODELAY}, so the relay adds no holding of its own.
 */
final class AckDelayingRelay implements AutoCloseable {
  private final ServerSocket server;
  private final int upstreamPort;

  AckDelayingRelay(int upstreamPort) throws IOException {
    this.upstreamPort = upstreamPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "ack-relay");
    t.setDaemon(true);
    t.start();
  }

  int port() {
    return server.getLocalPort();
  }

  static boolean supported() {
    try (Socket s = new Socket()) {
      return s.supportedOptions().contains(ExtendedSocketOptions.TCP_QUICKACK);
    } catch (IOException e) {
      return false;
    }
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        Socket upstream = new Socket(InetAddress.getLoopbackAddress(), upstreamPort);
        client.setTcpNoDelay(true);
        upstream.setTcpNoDelay(true);
        upstream.setOption(ExtendedSocketOptions.TCP_QUICKACK, false);
        pump(client.getInputStream(), upstream.getOutputStream(), null, client, upstream);
        pump(upstream.getInputStream(), client.getOutputStream(), upstream, client, upstream);
      } catch (IOException e) {
        return;
      }
    }
  }

  private static void pump(InputStream in, OutputStream out, Socket delayAcksOn, Socket a, Socket b) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[16384];
      try {
        for (int n; (n = in.read(buf)) >= 0; ) {
          if (delayAcksOn != null) {
            delayAcksOn.setOption(ExtendedSocketOptions.TCP_QUICKACK, false);
          }
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException ignored) {
        // either side closed
      } finally {
        try {
          a.close();
          b.close();
        } catch (IOException ignored) {
          // closing
        }
      }
    }, "ack-relay-pump");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
