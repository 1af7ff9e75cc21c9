package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.testing.RawClient;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Health over real sockets: an upstream whose port refuses connections is ejected, by active checks and by
 * the failures of real traffic, and comes back once a server listens on that port again; {@code /readyz}
 * follows (503 while no upstream is usable, 200 again after).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayHealthTest {
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @Test
  void activeChecksEjectARefusingUpstreamAndBringItBackWhenItListensAgain() throws Exception {
    int port = freePort();
    String url = "http://127.0.0.1:" + port;
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(url))
        .withHealthCheck("/v1/models", Duration.ofMillis(100)))) {
      await("ejected by 3 failed checks", () -> readyz(g) == 503, 10);
      String m = g.metrics().scrape();
      assertThat(GatewayBalancingTest.metric(m, "tokenpipe_gateway_upstream_healthy", url)).isZero();
      assertThat(m).contains("tokenpipe_gateway_upstream_ejections_total{by=\"active\",upstream=\"" + url + "\"} 1.0");
      assertThat(failedChecks(m, url)).isGreaterThanOrEqualTo(UpstreamSet.CHECK_FAILS_TO_EJECT);

      try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", port)) {
        await("back after 2 passed checks", () -> readyz(g) == 200, 10);
        assertThat(GatewayBalancingTest.metric(g.metrics().scrape(), "tokenpipe_gateway_upstream_healthy", url)).isEqualTo(1);
        assertThat(completeStream(g)).as("a stream through the returned upstream").isTrue();
      }
      await("ejected again once it is gone", () -> readyz(g) == 503, 10);
      assertThat(g.metrics().scrape()).contains("tokenpipe_gateway_upstream_ejections_total{by=\"active\",upstream=\"" + url + "\"} 2.0");
    }
  }

  @Test
  void anActivelyEjectedUpstreamGetsNoTrafficWhileAnotherServes() throws Exception {
    int port = freePort();
    String dead = "http://127.0.0.1:" + port;
    try (SimServer live = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
             .withUpstreams(List.of(dead, "http://127.0.0.1:" + live.port()))
             .withHealthCheck("/v1/models", Duration.ofMillis(100)))) {
      await("dead one ejected", () -> GatewayBalancingTest.metric(g.metrics().scrape(),
          "tokenpipe_gateway_upstream_healthy", dead) == 0, 10);
      assertThat(readyz(g)).as("one usable upstream is enough").isEqualTo(200);
      for (int i = 0; i < 20; i++) {
        assertThat(completeStream(g)).isTrue();
      }
      String m = g.metrics().scrape();
      assertThat(GatewayBalancingTest.metric(m, "tokenpipe_gateway_upstream_picks_total", dead)).as("never tried").isZero();
      assertThat(g.metrics().count("retries")).isZero();
    }
  }

  @Test
  void passiveFailuresEjectARefusingUpstreamAndItReturnsAfterItRecovers() throws Exception {
    int port = freePort();
    String url = "http://127.0.0.1:" + port;
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(url))
        .withUnhealthyFor(Duration.ofMillis(800)))) {
      assertThat(readyz(g)).isEqualTo(200);
      for (int i = 0; i < UpstreamSet.FAILURES_TO_MARK_DOWN; i++) {
        assertThat(completeStream(g)).as("refused: the client gets an error").isFalse();
      }
      assertThat(readyz(g)).as("marked down after %d refusals", UpstreamSet.FAILURES_TO_MARK_DOWN).isEqualTo(503);
      assertThat(g.metrics().scrape())
          .contains("tokenpipe_gateway_upstream_ejections_total{by=\"passive\",upstream=\"" + url + "\"} 1.0");
      try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", port)) {
        await("cool-down over", () -> readyz(g) == 200, 10);
        assertThat(completeStream(g)).as("real traffic finds it working").isTrue();
        assertThat(GatewayBalancingTest.metric(g.metrics().scrape(), "tokenpipe_gateway_upstream_weight", url))
            .as("back with a slow start").isLessThan(1.0);
      }
    }
  }

  @Test
  void cutsAfterOutputCountAsFailuresAndACompleteStreamBreaksTheRun() throws Exception {
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0)
             .withUpstreams(List.of("http://127.0.0.1:" + sim.port())).withUnhealthyFor(Duration.ofSeconds(60)))) {
      for (int i = 0; i < UpstreamSet.FAILURES_TO_MARK_DOWN - 1; i++) {
        assertThat(stream(g, "ttft=1ms itl=1ms tokens=8 drop_after=3")).isFalse();
      }
      assertThat(stream(g, "ttft=1ms itl=1ms tokens=3")).as("a complete stream").isTrue();
      for (int i = 0; i < UpstreamSet.FAILURES_TO_MARK_DOWN - 1; i++) {
        assertThat(stream(g, "ttft=1ms itl=1ms tokens=8 drop_after=3")).isFalse();
      }
      assertThat(readyz(g)).as("the run was broken by the complete stream").isEqualTo(200);
      assertThat(stream(g, "ttft=1ms itl=1ms tokens=8 drop_after=3")).isFalse();
      assertThat(readyz(g)).as("%d cuts in a row", UpstreamSet.FAILURES_TO_MARK_DOWN).isEqualTo(503);
    }
  }

  @Test
  void badBalancingAndHealthFlagsAreOneLineUsageErrors() {
    String[][] cases = {
        {"--balance", "random"}, {"--upstream", "http://127.0.0.1:1=0"}, {"--upstream", "http://127.0.0.1:1=101"},
        {"--health-check", "health"}, {"--health-check", "/health", "--health-interval", "0"}};
    String[] expected = {"--balance must be p2c-ewma or round-robin", "weight after '=' must be a whole number 1..100",
        "weight after '=' must be a whole number 1..100", "--health-check must be a path starting with /", "--health-interval must be above zero"};
    for (int i = 0; i < cases.length; i++) {
      String[] args = new String[cases[i].length + 2];
      args[0] = "--port";
      args[1] = "0";
      System.arraycopy(cases[i], 0, args, 2, cases[i].length);
      if (!java.util.Arrays.asList(cases[i]).contains("--upstream")) {
        args = java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.stream.Stream.of("--upstream", "http://127.0.0.1:1"))
            .toArray(String[]::new);
      }
      GatewayTlsTest.Run r = GatewayTlsTest.serve(args);
      assertThat(r.code()).as("%s: %s", java.util.Arrays.toString(cases[i]), r.err()).isEqualTo(dev.tokenpipe.cli.Cli.EXIT_USAGE);
      assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
      assertThat(r.err()).contains(expected[i]);
    }
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static int readyz(GatewayServer g) throws IOException {
    try (RawClient c = RawClient.get(g.port(), "/readyz")) {
      c.readToEnd();
      return c.status();
    }
  }

  static long failedChecks(String scrape, String url) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "tokenpipe_gateway_upstream_health_checks_total\\{result=\"fail\",upstream=\"" + java.util.regex.Pattern.quote(url)
            + "\"} (\\S+)").matcher(scrape);
    assertThat(m.find()).as(scrape).isTrue();
    return (long) Double.parseDouble(m.group(1));
  }

  static boolean completeStream(GatewayServer g) throws IOException {
    return stream(g, "ttft=5ms itl=1ms tokens=3");
  }

  /** One stream with the sim behaviour {@code sim}; true when it completed without an error. */
  static boolean stream(GatewayServer g, String sim) throws IOException {
    try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: " + sim)) {
      c.readToEnd();
      String payload = GatewayChurnTest.payload(c);
      return c.status() == 200 && payload.contains("data: [DONE]") && !payload.contains("event: error");
    }
  }

  static void await(String what, BooleanSupplierWithIo condition, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.get()) {
      assertThat(System.nanoTime() - deadline).as("within %d s: %s", seconds, what).isNegative();
      Thread.sleep(20);
    }
  }

  interface BooleanSupplierWithIo {
    boolean get() throws Exception;
  }

  /**
   * The warning that an upstream was ejected says why its checks failed: "3 health checks failed in a row" alone
   * sent an operator to raise the log level and wait for it to happen again (a 404 from a wrong --health-check path
   * looks the same as a dead server).
   */
  @Test
  void theEjectionWarningSaysWhyTheLastCheckFailed() throws Exception {
    ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(UpstreamSet.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines = new ch.qos.logback.core.read.ListAppender<>();
    lines.start();
    logger.addAppender(lines);
    try (ScriptedUpstream up = new ScriptedUpstream();
        GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(up.url()))
            .withHealthCheck("/healthz-typo", Duration.ofMillis(100)))) {
      await("ejected by 3 failed checks", () -> readyz(g) == 503, 10);
      await("the warning", () -> warnings(lines).stream().anyMatch(l -> l.contains("ejected")), 5);
      assertThat(warnings(lines)).filteredOn(l -> l.contains("ejected")).first().asString()
          .contains(up.url()).contains("3 health checks failed in a row").contains("404");
    } finally {
      logger.detachAppender(lines);
    }
  }

  /**
   * A refused connect is said in one line, as the other checks' reasons are: it read
   * "io.netty.channel.AbstractChannel$AnnotatedConnectException: finishConnect(..) failed with error(-111): Connection
   * refused: /127.0.0.1:PORT", a Java class name and a second copy of the address in an operator's log.
   */
  @Test
  void theEjectionWarningOfARefusingUpstreamSaysConnectionRefusedInPlainWords() throws Exception {
    ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(UpstreamSet.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines = new ch.qos.logback.core.read.ListAppender<>();
    lines.start();
    logger.addAppender(lines);
    String url = "http://127.0.0.1:" + freePort();
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(url))
        .withHealthCheck("/health", Duration.ofMillis(100)))) {
      await("the warning", () -> warnings(lines).stream().anyMatch(l -> l.contains("ejected")), 10);
      assertThat(warnings(lines)).filteredOn(l -> l.contains("ejected")).first().asString()
          .isEqualTo("upstream " + url + " ejected: 3 health checks failed in a row, the last: GET /health: connection refused");
    } finally {
      logger.detachAppender(lines);
    }
  }

  private static List<String> warnings(ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> a) {
    synchronized (a) {
      return a.list.stream().map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage).toList();
    }
  }
}
