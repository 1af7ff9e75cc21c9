package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.testing.RawClient;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Balancing over real sockets: four simulated model servers, one of them twenty times slower to its first
 * token (far enough apart to survive a loaded 2-core machine, where a 30 ms first token can read 300 ms), and {@value #STREAMS} streams through {@code serve} at {@value #CONCURRENCY} at a time. P2C+EWMA
 * must send the slow one a clearly smaller share than the fair 25%; round-robin must not. Shares come from
 * the gateway's own {@code /metrics}, and every stream must complete.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayBalancingTest {
  static final int STREAMS = 200;
  static final int CONCURRENCY = 8;
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static final List<SimServer> sims = new ArrayList<>();

  @BeforeAll
  static void startFleet() {
    for (int i = 0; i < 4; i++) {
      String ttft = i == 3 ? "600ms" : "30ms";
      StreamProfile p = SimConfig.defaults().defaultProfile()
          .with(StreamProfile.parseOverrides("ttft=" + ttft + " itl=5ms tokens=8"));
      sims.add(SimServer.start(SimConfig.defaults().withProfile(p), "127.0.0.1", 0));
    }
  }

  @AfterAll
  static void stopFleet() {
    sims.forEach(SimServer::close);
  }

  static List<String> urls() {
    return sims.stream().map(s -> "http://127.0.0.1:" + s.port()).toList();
  }

  @Test
  void p2cEwmaSendsTheSlowReplicaAClearlySmallerShare() throws Exception {
    double[] share = run("p2c-ewma");
    assertThat(share[3]).as("slow replica's share under p2c-ewma, of %s", java.util.Arrays.toString(share))
        .isLessThan(0.12);
  }

  @Test
  void roundRobinSendsTheSlowReplicaItsFullShare() throws Exception {
    double[] share = run("round-robin");
    assertThat(share[3]).as("slow replica's share under round-robin, of %s", java.util.Arrays.toString(share))
        .isBetween(0.22, 0.28);
  }

  /** The share of picks per replica, after {@value #STREAMS} complete streams. */
  private static double[] run(String balance) throws Exception {
    try (GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(urls())
        .withBalance(balance))) {
      AtomicInteger next = new AtomicInteger();
      AtomicInteger ok = new AtomicInteger();
      List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
      ExecutorService pool = Executors.newFixedThreadPool(CONCURRENCY);
      for (int t = 0; t < CONCURRENCY; t++) {
        pool.execute(() -> {
          while (next.getAndIncrement() < STREAMS) {
            try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
              c.readToEnd();
              String payload = GatewayChurnTest.payload(c);
              if (c.status() == 200 && payload.contains("data: [DONE]") && !payload.contains("event: error")) {
                ok.incrementAndGet();
              } else {
                failures.add(c.status() + " " + payload);
              }
            } catch (IOException e) {
              failures.add(e.toString());
            }
          }
        });
      }
      pool.shutdown();
      assertThat(pool.awaitTermination(90, TimeUnit.SECONDS)).isTrue();
      assertThat(failures).isEmpty();
      assertThat(ok.get()).isEqualTo(STREAMS);
      String metrics = g.metrics().scrape();
      double[] share = new double[sims.size()];
      long total = 0;
      for (int i = 0; i < sims.size(); i++) {
        share[i] = metric(metrics, "tokenpipe_gateway_upstream_picks_total", urls().get(i));
        total += (long) share[i];
      }
      assertThat(total).as("picks counted").isEqualTo(STREAMS);
      for (int i = 0; i < share.length; i++) {
        share[i] /= total;
      }
      assertThat(metric(metrics, "tokenpipe_gateway_upstream_in_flight", urls().get(0))).as("all ended").isZero();
      assertThat(metric(metrics, "tokenpipe_gateway_upstream_healthy", urls().get(3))).isEqualTo(1);
      if (balance.equals("p2c-ewma")) {
        double slow = metric(metrics, "tokenpipe_gateway_upstream_ewma_first_token_seconds", urls().get(3));
        double fast = metric(metrics, "tokenpipe_gateway_upstream_ewma_first_token_seconds", urls().get(0));
        assertThat(slow).as("the slow replica's score is visible and above a fast one's (%s)", fast).isGreaterThan(fast);
      }
      return share;
    }
  }

  /** The value of {@code name{upstream="url"}} in a Prometheus text scrape. */
  static double metric(String scrape, String name, String upstream) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{upstream=\"" + Pattern.quote(upstream) + "\"[^}]*} (\\S+)$")
        .matcher(scrape);
    assertThat(m.find()).as("%s for %s in\n%s", name, upstream, scrape).isTrue();
    return Double.parseDouble(m.group(1));
  }
}
