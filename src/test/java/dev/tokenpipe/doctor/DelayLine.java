package dev.tokenpipe.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay on loopback that delivers every read a fixed time after it came in, each direction alike: a network
 * link's one-way delay (a server in another region) without any holding. Every read keeps its own write and
 * flush, so the pacing of the bytes is what it was, only later.
 */
final class DelayLine extends LoopbackRelay {
  private static final byte[] END = new byte[0];

  private final long delayNanos;

  DelayLine(int upstreamPort, long oneWayMillis) throws IOException {
    super(upstreamPort);
    this.delayNanos = TimeUnit.MILLISECONDS.toNanos(oneWayMillis);
    start();
  }

  @Override
  void relay(Socket client, Socket upstream) {
    delay(client, upstream);
    delay(upstream, client);
  }

  private record Due(long atNanos, byte[] bytes) {}

  /** One direction: a reader stamps each read with when it is due, a writer sends it then. */
  private void delay(Socket from, Socket to) {
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
        for (Due d; (d = line.take()).bytes() != END; ) {
          TimeUnit.NANOSECONDS.sleep(Math.max(0, d.atNanos() - System.nanoTime()));
          out.write(d.bytes());
          out.flush();
        }
      } catch (IOException | InterruptedException ignored) {
        // the peer's close
      } finally {
        closeQuietly(from, to);
      }
    });
  }
}
