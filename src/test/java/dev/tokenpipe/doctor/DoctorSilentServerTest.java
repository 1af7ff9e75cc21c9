package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server that accepts connections and never answers. The probe-route check (two events 1 ms apart, which a
 * tokenpipe origin answers at once) waited the whole --timeout before the real requests waited it again: 66 s for
 * the default 30 s; and the line said "no response within the request timeout", not which or how long.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DoctorSilentServerTest {
  @Test
  void aSilentServerCostsOneTimeoutNotTwoAndTheLineSaysWhichTimeout() throws Exception {
    List<Socket> held = new CopyOnWriteArrayList<>();
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread accept = Thread.ofVirtual().start(() -> {
        try {
          while (true) {
            held.add(server.accept()); // never read, never answered
          }
        } catch (Exception closed) {
          // the test is over
        }
      });
      long t0 = System.nanoTime();
      DoctorRun run = DoctorRun.run("--timeout", "20s", "--model", "m",
          "http://127.0.0.1:" + server.getLocalPort() + "/v1/chat/completions");
      double seconds = (System.nanoTime() - t0) / 1e9;

      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(2);
      assertThat(run.err().strip().lines()).as(run.err()).hasSize(1);
      assertThat(run.err()).contains("no response within --timeout 20.0s: the server took the connection and sent nothing");
      // Before: 20 s for the route check, then 20 s for the real requests. Now the check waits 5 s at most.
      assertThat(seconds).as(run.transcript()).isBetween(20.0, 34.0);
      accept.interrupt();
    } finally {
      for (Socket s : held) {
        s.close();
      }
    }
  }
}
