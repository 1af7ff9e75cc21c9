package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Compression in front of a plain SSE app (no probe route, no anti-buffering headers), with real NGINX and Apache:
 * the verdict follows the measurement. A compressor that flushes per event (NGINX gzip with proxy_buffering off,
 * Apache mod_deflate behind mod_proxy) is a warning with its fix and exit 0; NGINX gzip with its default
 * buffering holds the whole response: exit 1 with the NGINX fix.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CompressionDoctorTest {
  static PlainSseApp app;
  static ProxyProcess nginxUnbuffered;
  static ProxyProcess nginxBuffered;
  static ProxyProcess apacheDeflate;

  @BeforeAll
  static void start() throws Exception {
    app = new PlainSseApp(40, 50);
    if (Files.isExecutable(Path.of(NginxDoctorTest.NGINX))) {
      nginxUnbuffered = nginx("gzip-unbuffered", "            gzip on;\n            gzip_types text/event-stream;\n            proxy_buffering off;");
      nginxBuffered = nginx("gzip-buffered", "            gzip on;\n            gzip_types text/event-stream;");
    }
    if (Files.isExecutable(Path.of(ApacheDoctorTest.APACHE))) {
      apacheDeflate = ProxyProcess.start("apache-deflate-plain", "apache2.conf.template", "httpd.conf", app.port(),
          Map.of("extra", "AddOutputFilterByType DEFLATE text/event-stream", "proxypass", ""),
          List.of(ApacheDoctorTest.APACHE, "-f", "${config}", "-DFOREGROUND"));
    }
  }

  static ProxyProcess nginx(String name, String extra) throws Exception {
    return ProxyProcess.start("nginx-" + name, "nginx.conf.template", "nginx.conf", app.port(), Map.of("extra", extra),
        List.of(NginxDoctorTest.NGINX, "-e", "${dir}/startup-error.log", "-c", "${config}", "-p", "${dir}"));
  }

  @AfterAll
  static void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {nginxUnbuffered, nginxBuffered, apacheDeflate, app}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @Test
  void nginxGzipFlushedPerEventIsAWarningNotBuffering() throws Exception {
    ProxyProcess.requireBinary(NginxDoctorTest.NGINX, "nginx");
    DoctorRun run = DoctorRun.run("--model", "plain", nginxUnbuffered.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(run.json().get("mode").asText()).isEqualTo("endpoint");
    assertThat(run.json().get("stats").get("content_encoding").asText()).isEqualTo("gzip");
    assertThat(run.json().get("stats").get("events_per_read").asDouble()).isLessThan(1.5);
    var compressed = run.finding("compressed-stream");
    assertThat(compressed.get("holds_tokens").asBoolean()).isFalse();
    assertThat(compressed.get("layer").asText()).isEqualTo("nginx");
    assertThat(compressed.get("fixes").get(0).get("snippet").asText()).contains("gzip_types");
    assertThat(run.findingIds()).doesNotContain("held-until-end", "clock-bursts", "size-bursts", "events-held");
    assertThat(run.out().lines().findFirst().orElseThrow()).startsWith("measured: 2 real streaming requests on the model path");
    assertThat(run.out()).contains("verdict: CLEAN", "[MEDIUM] Event stream is compressed");
  }

  @Test
  void nginxGzipWithDefaultBufferingHoldsTheResponse() throws Exception {
    ProxyProcess.requireBinary(NginxDoctorTest.NGINX, "nginx");
    DoctorRun run = DoctorRun.run("--model", "plain", nginxBuffered.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
    var held = run.finding("held-until-end");
    assertThat(held.get("layer").asText()).isEqualTo("nginx");
    assertThat(held.get("numbers").get("late_events").asDouble()).isGreaterThanOrEqualTo(32);
    assertThat(held.get("fixes").get(0).get("snippet").asText()).contains("proxy_buffering off;", "gzip off;");
    assertThat(run.out()).contains("verdict: BUFFERED", "layer: NGINX");
  }

  @Test
  void apacheDeflateFlushedPerEventIsAWarningNotBuffering() throws Exception {
    ProxyProcess.requireBinary(ApacheDoctorTest.APACHE, "apache2");
    DoctorRun run = DoctorRun.run("--model", "plain", apacheDeflate.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript()).isZero();
    assertThat(run.json().get("stats").get("content_encoding").asText()).isEqualTo("gzip");
    var compressed = run.finding("compressed-stream");
    assertThat(compressed.get("holds_tokens").asBoolean()).isFalse();
    assertThat(compressed.get("layer").asText()).isEqualTo("apache");
    assertThat(compressed.get("fixes").get(0).get("snippet").asText()).contains("no-gzip=1");
    assertThat(run.findingIds()).doesNotContain("held-until-end");
  }
}
