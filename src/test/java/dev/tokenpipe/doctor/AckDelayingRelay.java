package dev.tokenpipe.doctor;

import java.io.IOException;
import java.net.Socket;
import jdk.net.ExtendedSocketOptions;

/**
 * A TCP relay whose socket towards the server delays its ACKs, as a receiver on a real network does: after
 * every read it turns {@code TCP_QUICKACK} off again (Linux re-enables quick ACKs by itself, e.g. after the
 * delayed-ACK timer fires). Loopback otherwise ACKs at once, which hides Nagle stalls. Bytes are forwarded to
 * the client immediately with {@code TCP_NODELAY}, so the relay adds no holding of its own.
 */
final class AckDelayingRelay extends LoopbackRelay {

  AckDelayingRelay(int upstreamPort) throws IOException {
    super(upstreamPort);
    start();
  }

  static boolean supported() {
    try (Socket s = new Socket()) {
      return s.supportedOptions().contains(ExtendedSocketOptions.TCP_QUICKACK);
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  void relay(Socket client, Socket upstream) throws IOException {
    upstream.setOption(ExtendedSocketOptions.TCP_QUICKACK, false);
    copy(client, upstream, () -> {});
    copy(upstream, client, () -> upstream.setOption(ExtendedSocketOptions.TCP_QUICKACK, false));
  }
}
