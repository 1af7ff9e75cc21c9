package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Debian's Caddy 2.6 in front of the sim. Measured: its reverse_proxy flushes text/event-stream per write and
 * {@code encode gzip} leaves event streams uncompressed, so doctor must pass it (no false alarm on a proxy that
 * is safe by default) and name it from its Server header.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CaddyDoctorTest {
  static final String CADDY = "/usr/bin/caddy";
  static SimServer sim;
  static ProxyProcess encodeGzip;

  @BeforeAll
  static void start() throws Exception {
    ProxyProcess.requireBinary(CADDY, "caddy");
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    encodeGzip = ProxyProcess.start("caddy-gzip", "Caddyfile.template", "Caddyfile", sim.port(), Map.of("extra", "\tencode gzip"),
        List.of(CADDY, "run", "--adapter", "caddyfile", "--config", "${config}"));
  }

  @AfterAll
  static void stop() {
    if (encodeGzip != null) {
      encodeGzip.close();
    }
    if (sim != null) {
      sim.close();
    }
  }

  @Test
  void reverseProxyWithEncodeGzipStreamsEventsAndPasses() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", "-c", "3", encodeGzip.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("layers").get(0).get("layer").asText()).isEqualTo("caddy");
    assertThat(run.json().get("stats").get("content_encoding").asText()).isEmpty();
    assertThat(run.json().get("stats").get("events_per_read").asDouble()).isLessThan(1.3);
  }
}
