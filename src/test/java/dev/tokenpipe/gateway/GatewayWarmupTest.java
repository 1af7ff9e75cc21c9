package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.proc.ChildProcesses;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.testing.RawClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The start-up warm-up ({@link Warmup}) streams through the gateway and the built-in model whatever the
 * gateway's settings, and leaves no trace a client or an operator could see: no access-log line, no metric,
 * no mark on the built-in model's health or score. It reaches the gateway over connections the gateway opened
 * itself, so nothing a client sends can pass for it.
 *
 * <p>Before: with {@code --api-keys-file} all 25 warm-up requests were refused (25 access-log lines {@code
 * status=401} and {@code rejected_total{status="401"} 25} before any client, and nothing warmed); a tight
 * {@code --max-body} refused them with 413; {@code --max-streams 1} refused one now and then with 429 (a
 * self-request's end reaches its client before the gateway freed the slot); a built-in model with injected
 * faults was marked down by the warm-up (a WARN before "listening", a passive ejection, {@code /readyz}
 * not ready for 5 s); the warm-up moved the model's first-token score; and a client's request marked {@code
 * X-Tokenpipe-Warmup} while warming was counted nowhere.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayWarmupTest {
  private static final String CHAT =
      "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  private static final Pattern NON_ZERO = Pattern.compile("(?m)^(tokenpipe_gateway_\\w+)(\\{[^}]*})? ([0-9.E-]+)$");

  @Test
  void withApiKeysTheWarmUpStreamsAndLeavesNoTrace() throws Exception {
    GatewayConfig config = GatewayConfig.defaults().withPort(0).withAuth(Set.of("sk-warm"), null);
    try (AccessLogCapture log = new AccessLogCapture(); GatewayServer g = GatewayServer.start(config)) {
      assertWarmedWithoutTrace(g, log);
      // Auth for clients is what it was: without a key 401 (and that one is logged), with the key the stream.
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
        c.readToEnd();
        assertThat(c.status()).isEqualTo(401);
      }
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "Authorization: Bearer sk-warm")) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.status()).isEqualTo(200);
        assertThat(c.body()).contains("data: [DONE]");
      }
      log.await("/v1/chat/completions", l -> l.get("status").equals("401"), Duration.ofSeconds(5));
      log.await("/v1/chat/completions", l -> l.get("status").equals("200"), Duration.ofSeconds(5));
    }
  }

  /** Settings that refused the warm-up, counted it or let it mark the model down; and two that never did. */
  @Test
  void noSettingRefusesTheWarmUpOrLetsItShow() throws Exception {
    StreamProfile sim = SimConfig.defaults().defaultProfile();
    Map<String, GatewayConfig> cases = Map.of(
        "--max-body 64 --max-streams 1", GatewayConfig.defaults().withLimits(64, 1),
        "--sim error_rate=1", GatewayConfig.defaults().withSimProfile(sim.with(Map.of("error_rate", "1"))),
        "--sim drop_after=2", GatewayConfig.defaults().withSimProfile(sim.with(Map.of("drop_after", "2"))),
        "--sim group_commit=2s", GatewayConfig.defaults().withSimProfile(sim.with(Map.of("group_commit", "2s"))),
        // The built-in model's own warm-up (before serve's) stalled into its 10 s self-request limit.
        "--sim stall_after=0 stall=30s",
        GatewayConfig.defaults().withSimProfile(sim.with(Map.of("stall_after", "0", "stall", "30s"))),
        "--cors-origins", GatewayConfig.defaults().withCorsOrigins(List.of("https://app.example")));
    List<String> failed = new java.util.ArrayList<>();
    for (Map.Entry<String, GatewayConfig> c : new java.util.TreeMap<>(cases).entrySet()) {
      long t0 = System.nanoTime();
      try (AccessLogCapture log = new AccessLogCapture(); GatewayServer g = GatewayServer.start(c.getValue().withPort(0))) {
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("start").isLessThan(Duration.ofSeconds(8));
        assertWarmedWithoutTrace(g, log);
      } catch (AssertionError e) {
        failed.add(c.getKey() + ": " + e.getMessage().lines().limit(4).reduce("", (a, b) -> a + " " + b.strip()));
      }
    }
    assertThat(failed).isEmpty();
  }

  /**
   * With real upstreams nothing is sent anywhere, not even to one that is down: it is neither refused, nor
   * counted, nor marked.
   */
  @Test
  void aRealUpstreamThatIsDownIsNeitherAskedNorMarked() throws Exception {
    int closed = ChildProcesses.freeLoopbackPort();
    GatewayConfig config = GatewayConfig.defaults().withPort(0).withAuth(Set.of("sk-warm"), null)
        .withUpstreams(List.of("http://127.0.0.1:" + closed));
    try (AccessLogCapture log = new AccessLogCapture(); GatewayServer g = GatewayServer.start(config)) {
      assertThat(log.lines()).as("access log before any client").isEmpty();
      assertNoCounts(g);
    }
  }

  /**
   * A client cannot pass for the warm-up: the warm-up used to be known by a request header, honoured while
   * warming, and a client that sent it then was counted nowhere. Now only connections the gateway opened
   * itself are the warm-up's; a client's request during the warm-up is logged like any other.
   */
  @Test
  void aClientsRequestDuringTheWarmUpIsCountedWhateverItSends() throws Exception {
    for (int attempt = 0; ; attempt++) {
      int port = ChildProcesses.freeLoopbackPort();
      try (AccessLogCapture log = new AccessLogCapture()) {
        CompletableFuture<GatewayServer> starting =
            CompletableFuture.supplyAsync(() -> GatewayServer.start(GatewayConfig.defaults().withPort(port)));
        GatewayServer g = null;
        try {
          boolean duringWarmUp = false;
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
          while (!starting.isDone() && System.nanoTime() < deadline && !duringWarmUp) {
            if (!warming(port)) {
              Thread.sleep(5);
              continue;
            }
            try (RawClient c = RawClient.post(port, "/v1/chat/completions", CHAT, "X-Tokenpipe-Warmup: 1",
                "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=2")) {
              assertThat(c.readToEnd()).isTrue();
              assertThat(c.status()).isEqualTo(200);
            }
            duringWarmUp = warming(port); // still warming after the request's end: it ran within the warm-up
          }
          g = starting.get(30, TimeUnit.SECONDS);
          if (!duringWarmUp && attempt < 5) {
            continue; // the warm-up ended before the request did: this start proves nothing, try another
          }
          assertThat(duringWarmUp).as("a request ran within the warm-up").isTrue();
          assertThat(log.await("/v1/chat/completions", Duration.ofSeconds(5))).containsEntry("outcome", "done");
          assertThat(g.metrics().scrape()).contains("tokenpipe_gateway_requests_total{api=\"openai-chat\",outcome=\"done\"} 1.0");
          return;
        } finally {
          if (g == null && starting.isDone() && !starting.isCompletedExceptionally()) {
            g = starting.join();
          }
          if (g != null) {
            g.close();
          }
        }
      }
    }
  }

  private static boolean warming(int port) {
    try (RawClient c = RawClient.get(port, "/readyz")) {
      c.readToEnd();
      return c.body().contains("\"warming\"");
    } catch (Exception notListeningYet) {
      return false;
    }
  }

  /**
   * Nothing logged, nothing counted, the model healthy and unscored; and the model served every warm-up stream
   * to its end, so the warm-up ran the streaming path.
   */
  private static void assertWarmedWithoutTrace(GatewayServer g, AccessLogCapture log) {
    String config = g.config().toString();
    assertThat(log.lines()).as("access log before any client, %s", config).isEmpty();
    assertNoCounts(g);
    assertThat(g.sim().metrics().count("completed")).as("warm-up streams the model completed, %s", config)
        .isEqualTo(Warmup.STREAMS);
  }

  private static void assertNoCounts(GatewayServer g) {
    String scrape = g.metrics().scrape();
    Matcher m = NON_ZERO.matcher(scrape);
    while (m.find()) {
      String name = m.group(1);
      double value = Double.parseDouble(m.group(3));
      switch (name) {
        case "tokenpipe_gateway_upstream_healthy", "tokenpipe_gateway_upstream_weight" ->
            assertThat(value).as(m.group()).isEqualTo(1.0);
        case "tokenpipe_gateway_upstream_ewma_first_token_seconds" ->
            assertThat(value).as(m.group() + ": the prior, unobserved").isEqualTo(UpstreamScores.PRIOR_MILLIS / 1e3);
        // The process's log appender, shared by every gateway in this JVM: other tests' lines, not this gateway's.
        case "tokenpipe_gateway_log_lines_dropped_total" -> { }
        default -> assertThat(value).as(m.group()).isZero();
      }
    }
  }
}
