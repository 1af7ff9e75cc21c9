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
 * Debian's NGINX 1.22 in front of the sim, in three configurations: gzip on text/event-stream (holds the whole
 * response), the fix (no gzip for event streams, proxy_buffering off), and a 2 s proxy_read_timeout for the idle
 * test.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NginxDoctorTest {
  static final String NGINX = "/usr/sbin/nginx";
  static SimServer sim;
  static ProxyProcess gzip;
  static ProxyProcess fixed;
  static ProxyProcess shortTimeout;

  @BeforeAll
  static void start() throws Exception {
    ProxyProcess.requireBinary(NGINX, "nginx");
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    gzip = nginx("gzip", "            gzip on;\n            gzip_types text/event-stream;");
    fixed = nginx("fixed", "            gzip on;\n            gzip_types text/plain application/json;\n            proxy_buffering off;");
    shortTimeout = nginx("idle", "            proxy_buffering off;\n            proxy_read_timeout 2s;");
  }

  static ProxyProcess nginx(String name, String extra) throws Exception {
    return ProxyProcess.start("nginx-" + name, "nginx.conf.template", "nginx.conf", sim.port(), Map.of("extra", extra),
        List.of(NGINX, "-e", "${dir}/startup-error.log", "-c", "${config}", "-p", "${dir}"));
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {gzip, fixed, shortTimeout, sim}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception ignored) {
        // best effort
      }
    }
  }

  @Test
  void gzipOnEventStreamsIsHeldUntilTheEndAndBlamedOnNginx() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", gzip.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    assertThat(run.findingIds()).as(run.transcript()).contains("held-until-end", "compressed-stream");
    var held = run.finding("held-until-end");
    assertThat(held.get("layer").asText()).isEqualTo("nginx");
    assertThat(held.get("layer_basis").asText()).contains("Server: nginx");
    assertThat(held.get("numbers").get("late_events").asDouble()).isGreaterThanOrEqualTo(36);
    assertThat(held.get("numbers").get("first_event_hold_ms").asDouble()).isGreaterThan(1000);
    assertThat(held.get("fixes").get(0).get("snippet").asText()).contains("proxy_buffering off;", "gzip off;");
    assertThat(run.finding("compressed-stream").get("fixes").get(0).get("snippet").asText()).contains("gzip_types");
    assertThat(run.json().get("stats").get("content_encoding").asText()).isEqualTo("gzip");
    assertThat(run.out()).contains("verdict: BUFFERED", "[HIGH] Whole response held until the end", "layer: NGINX");
  }

  @Test
  void gzipHeldUntilTheEndThroughAFarLinkIsStillHeld() throws Exception {
    // The same NGINX 60 ms away each way, its head held with the answer (so the round trip bounds nothing): doctor
    // takes out only what the last event took, sent with the end, and the whole answer's holds stay.
    try (DelayLine far = new DelayLine(gzip.port(), 60)) {
      DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", "http://127.0.0.1:" + far.port() + "/v1/chat/completions");

      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
      assertThat(run.json().get("stats").get("path_delay_ms").asDouble()).isBetween(55.0, 90.0);
      assertThat(run.finding("held-until-end").get("numbers").get("first_event_hold_ms").asDouble()).isGreaterThan(1000);
    }
  }

  @Test
  void streamingSafeConfigPasses() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", fixed.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(run.json().get("mode").asText()).isEqualTo("probe");
    assertThat(run.json().get("layers").get(0).get("layer").asText()).isEqualTo("nginx");
    assertThat(run.json().get("stats").get("events_per_read").asDouble()).isLessThan(1.3);
    assertThat(run.json().get("stats").get("hold_p50_ms").asDouble()).isLessThan(25);
  }

  @Test
  void idleTestFindsTheReadTimeoutThatCutsAQuietStream() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "20", "--idle-test", "4s", shortTimeout.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    var cut = run.finding("idle-cut");
    assertThat(cut.get("layer").asText()).isEqualTo("nginx");
    assertThat(cut.get("numbers").get("cut_after_ms").asDouble()).isBetween(1500.0, 3900.0);
    assertThat(cut.get("fixes").get(0).get("snippet").asText()).contains("proxy_read_timeout");
    assertThat(run.findingIds()).doesNotContain("held-until-end", "clock-bursts");
  }
}
