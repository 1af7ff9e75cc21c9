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
 * Debian's Apache httpd 2.4 (mod_proxy_http) in front of the sim, probe only. With mod_deflate on text/event-stream
 * the stream is compressed (mod_proxy's flush buckets still flush it per event on this version: measured), which
 * is a warning with its fix (exit 0); the fix, {@code SetEnvIf ... no-gzip=1}, leaves it uncompressed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ApacheDoctorTest {
  static final String APACHE = "/usr/sbin/apache2";
  static SimServer sim;
  static ProxyProcess deflate;
  static ProxyProcess fixed;

  @BeforeAll
  static void start() throws Exception {
    ProxyProcess.requireBinary(APACHE, "apache2");
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    deflate = apache("deflate", "AddOutputFilterByType DEFLATE text/event-stream");
    fixed = apache("fixed", "AddOutputFilterByType DEFLATE text/event-stream\nSetEnvIf Request_URI \"^/\" no-gzip=1");
  }

  static ProxyProcess apache(String name, String extra) throws Exception {
    return ProxyProcess.start("apache-" + name, "apache2.conf.template", "httpd.conf", sim.port(),
        Map.of("extra", extra, "proxypass", ""), List.of(APACHE, "-f", "${config}", "-DFOREGROUND"));
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {deflate, fixed, sim}) {
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
  void deflateOnEventStreamsIsFlaggedOnApacheAsAWarning() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", deflate.url("/v1/chat/completions"));

    // compressed, but flushed per event: a risk with its fix, not held events
    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("stats").get("events_per_read").asDouble()).isLessThan(1.5);
    var compressed = run.finding("compressed-stream");
    assertThat(compressed.get("holds_tokens").asBoolean()).isFalse();
    assertThat(compressed.get("layer").asText()).isEqualTo("apache");
    assertThat(compressed.get("layer_basis").asText()).contains("Server: Apache");
    assertThat(compressed.get("fixes").get(0).get("snippet").asText()).contains("no-gzip=1");
    assertThat(run.json().get("layers").get(0).get("layer").asText()).isEqualTo("apache");
  }

  @Test
  void noGzipForTheStreamPasses() throws Exception {
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", fixed.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("stats").get("content_encoding").asText()).isEmpty();
  }
}
