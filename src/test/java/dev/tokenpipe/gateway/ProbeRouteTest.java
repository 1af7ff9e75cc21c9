package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.probe.ProbeLimiter;
import dev.tokenpipe.testing.RawClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * serve's {@code /tokenpipe/probe} on a public port: it obeys {@code --api-keys-file}, rejects probes over the
 * size and duration bounds, caps running probes per client, waits for an unwritable client instead of
 * queueing, advertises the heartbeat, and {@code --probe off} removes it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProbeRouteTest {
  static GatewayServer secured;
  static GatewayServer off;

  @BeforeAll
  static void start() {
    secured = GatewayServer.start(GatewayConfig.defaults().withPort(0).withAuth(Set.of("sk-probe"), null)
        .withHeartbeat(Duration.ofMillis(300), Duration.ZERO));
    off = GatewayServer.start(GatewayConfig.defaults().withPort(0).withProbe(false));
  }

  @AfterAll
  static void stop() {
    secured.close();
    off.close();
  }

  @Test
  void withoutAKeyTheProbeIs401AndStreamsNothing() throws Exception {
    try (RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?interval=1ms&count=10000&size=400")) {
      c.readToEnd();
      assertThat(c.status()).isEqualTo(401);
      assertThat(c.body()).contains("\"error\"").doesNotContain("tp.");
    }
    try (RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?count=3", "Authorization: Bearer sk-wrong")) {
      c.readToEnd();
      assertThat(c.status()).isEqualTo(401);
    }
  }

  @Test
  void withTheKeyItStreamsAndAdvertisesTheHeartbeat() throws Exception {
    try (RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?interval=1s&count=2&size=64",
        "Authorization: Bearer sk-probe")) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).isEqualTo(200);
      assertThat(c.head()).contains("x-tokenpipe-probe: serve", "x-tokenpipe-heartbeat: 300ms");
      assertThat(c.body()).contains("id: tp.0.", "id: tp.1.", "data: [DONE]");
      // one second quiet between the two events, heartbeat every 300 ms: 2-3 pings in between
      int pings = c.body().split(": ping", -1).length - 1;
      assertThat(pings).isBetween(2, 4);
    }
  }

  @Test
  void probesOverTheSizeOrDurationBoundAre400() throws Exception {
    for (String q : List.of("interval=1ms&count=10000&size=65536", "interval=1ms&count=65&size=65536",
        "interval=120s&count=4", "interval=121s&count=2")) {
      try (RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?" + q, "Authorization: Bearer sk-probe")) {
        c.readToEnd();
        assertThat(c.status()).as(q).isEqualTo(400);
        assertThat(c.body()).as(q).contains("Invalid probe parameter").doesNotContain("tp.");
      }
    }
    try (RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?interval=1ms&count=64&size=65536",
        "Authorization: Bearer sk-probe")) {
      assertThat(c.readToEnd()).isTrue(); // exactly 4 MiB is allowed
      assertThat(c.status()).isEqualTo(200);
    }
  }

  @Test
  void aClientThatDoesNotReadMakesTheProbeWaitInsteadOfQueueing() throws Exception {
    // 4 MiB asked at 1 ms per 64 KB event; the client reads nothing for 1.5 s through a small receive buffer.
    try (RawClient c = RawClient.request(secured.port(), "GET", "/tokenpipe/probe?interval=1ms&count=64&size=65536", null,
        16_384, "Authorization: Bearer sk-probe")) {
      Thread.sleep(1500);
      assertThat(c.readToEnd()).isTrue();
      Matcher m = Pattern.compile("id: tp\\.(\\d+)\\.(\\d+)").matcher(c.all());
      List<Long> stamps = new ArrayList<>();
      while (m.find()) {
        stamps.add(Long.parseLong(m.group(2)));
      }
      assertThat(stamps).hasSize(64);
      // Written as fast as asked, all 64 events would be stamped within ~64 ms; waiting for writability, the
      // last ones were only emitted once the client read again.
      assertThat(stamps.getLast() - stamps.getFirst()).isGreaterThan(1_000_000L);
    }
  }

  @Test
  void runningProbesPerClientAreCapped() throws Exception {
    List<RawClient> open = new ArrayList<>();
    try {
      for (int i = 0; i < ProbeLimiter.MAX_PER_CLIENT; i++) {
        RawClient c = RawClient.get(secured.port(), "/tokenpipe/probe?interval=5s&count=2&size=32", "Authorization: Bearer sk-probe");
        open.add(c);
        assertThat(c.readUntil("id: tp.0.")).isTrue();
      }
      try (RawClient extra = RawClient.get(secured.port(), "/tokenpipe/probe?count=2", "Authorization: Bearer sk-probe")) {
        extra.readToEnd();
        assertThat(extra.status()).isEqualTo(429);
        assertThat(extra.body()).contains("too_many_probes");
      }
    } finally {
      for (RawClient c : open) {
        c.close();
      }
    }
    // closed probes give their slots back
    Thread.sleep(300);
    try (RawClient again = RawClient.get(secured.port(), "/tokenpipe/probe?interval=1ms&count=2", "Authorization: Bearer sk-probe")) {
      assertThat(again.readToEnd()).isTrue();
      assertThat(again.status()).isEqualTo(200);
    }
  }

  /**
   * The probe's access line is written when its stream ends, like a proxied stream's, with the stream's duration
   * and how it ended. Before, it was written as the response head went out: {@code duration_ms=1.6
   * outcome=local} for a probe that ran 2.9 s.
   */
  @Test
  void theAccessLineIsWrittenWhenTheProbeEndsWithItsDuration() throws Exception {
    String path = "/tokenpipe/probe?interval=100ms&count=11&size=64";
    try (AccessLogCapture log = new AccessLogCapture();
        RawClient c = RawClient.get(secured.port(), path, "Authorization: Bearer sk-probe")) {
      assertThat(c.readUntil("id: tp.0.")).isTrue();
      assertThat(log.lines()).as("no line while the probe runs").noneMatch(l -> path.equals(l.get("path")));
      assertThat(c.readToEnd()).isTrue();
      long ranMillis = (System.nanoTime() - c.sentNanos) / 1_000_000;
      Map<String, String> line = log.await(path, Duration.ofSeconds(5));
      assertThat(line).containsEntry("status", "200").containsEntry("outcome", "done").containsEntry("api", "-");
      // 10 intervals of 100 ms between the first event and the last
      assertThat(Double.parseDouble(line.get("duration_ms"))).isBetween(950.0, ranMillis + 50.0);
    }
  }

  @Test
  void aProbeWhoseClientLeavesIsLoggedCancelledWhenItLeaves() throws Exception {
    String path = "/tokenpipe/probe?interval=100ms&count=50&size=64";
    try (AccessLogCapture log = new AccessLogCapture()) {
      try (RawClient c = RawClient.get(secured.port(), path, "Authorization: Bearer sk-probe")) {
        assertThat(c.readUntil("id: tp.3.")).isTrue(); // 300 ms in; then the client leaves
        assertThat(log.lines()).as("no line while the probe runs").noneMatch(l -> path.equals(l.get("path")));
      }
      Map<String, String> line = log.await(path, Duration.ofSeconds(5));
      assertThat(line).containsEntry("status", "200").containsEntry("outcome", "cancelled");
      assertThat(Double.parseDouble(line.get("duration_ms"))).isBetween(300.0, 2_000.0);
    }
  }

  @Test
  void probeOffIs404() throws Exception {
    try (RawClient c = RawClient.get(off.port(), "/tokenpipe/probe?count=2")) {
      c.readToEnd();
      assertThat(c.status()).isEqualTo(404);
      assertThat(c.body()).contains("unknown_url");
    }
  }
}
