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

  /** The test template with {@code reverse_proxy}'s block. */
  static ProxyProcess caddyProxyBlock(String name, String block) throws Exception {
    String text = """
        {
        	admin off
        	auto_https off
        	storage file_system ${dir}/data
        }
        http://127.0.0.1:${port} {
        	reverse_proxy 127.0.0.1:${upstream} {
        ${block}
        	}
        }
        """;
    return ProxyProcess.startWithText(name, text, "Caddyfile", sim.port(), Map.of("block", block),
        List.of(CADDY, "run", "--adapter", "caddyfile", "--config", "${config}"));
  }

  @Test
  void bufferResponsesHoldsTheWholeStreamAndTheFixPrintedRemovesIt() throws Exception {
    // 'buffer_responses' holds each response until it ends; the fix doctor printed, 'flush_interval -1', left the
    // stream held to its end (measured: TTFT 1.47 s, 32 events per read with both in the block).
    try (ProxyProcess buffered = caddyProxyBlock("caddy-buffered", "\t\tbuffer_responses");
         ProxyProcess flushOnly = caddyProxyBlock("caddy-buffered-flush", "\t\tbuffer_responses\n\t\tflush_interval -1")) {
      DoctorRun run = DoctorRun.run("--no-probe", buffered.url("/v1/chat/completions"));
      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(1);
      var held = run.finding("held-until-end");
      assertThat(held.get("layer").asText()).isEqualTo("caddy");
      String fix = held.get("fixes").get(0).get("snippet").asText();
      assertThat(fix).as(run.transcript()).contains("buffer_responses");
      assertThat(held.get("fixes").get(0).get("advice").asText()).contains("buffer_responses");

      // What the old fix alone does: still held.
      assertThat(DoctorRun.run("--no-probe", flushOnly.url("/v1/chat/completions")).exitCode()).isEqualTo(1);
      // What the printed fix does: the snippet's block as it stands (comments and all), streamed.
      String block = fix.lines().filter(l -> !l.startsWith("reverse_proxy") && !l.strip().equals("}"))
          .map(l -> "\t\t" + l.strip()).collect(java.util.stream.Collectors.joining("\n"));
      try (ProxyProcess fixed = caddyProxyBlock("caddy-fixed", block)) {
        DoctorRun after = DoctorRun.run("--no-probe", fixed.url("/v1/chat/completions"));
        assertThat(after.exitCode()).as(after.transcript()).isIn(0, 2);
        assertThat(after.findingIds()).as(after.transcript()).doesNotContain("held-until-end");
        assertThat(after.json().get("stats").get("events_per_read").asDouble()).isLessThan(1.3);
      }
    }
  }
}
