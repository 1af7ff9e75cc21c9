package dev.tokenpipe.doctor;

import java.io.IOException;
import java.net.Socket;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay on loopback that closes each connection a fixed time after it was accepted, whatever is in flight:
 * a proxy's total (or read) timeout as a long stream meets it.
 */
final class CuttingRelay extends LoopbackRelay {
  private final ScheduledExecutorService cutter = Executors.newSingleThreadScheduledExecutor();
  private final long cutAfterMillis;

  CuttingRelay(int upstreamPort, long cutAfterMillis) throws IOException {
    super(upstreamPort);
    this.cutAfterMillis = cutAfterMillis;
    start();
  }

  @Override
  void relay(Socket client, Socket upstream) {
    copy(client, upstream, () -> {});
    copy(upstream, client, () -> {});
    cutter.schedule(() -> closeQuietly(client, upstream), cutAfterMillis, TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() throws IOException {
    super.close();
    cutter.shutdownNow();
  }
}
