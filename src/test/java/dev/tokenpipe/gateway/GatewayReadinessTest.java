package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.RawClient;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code /readyz} under a working upstream with isolated errors: the simulated model answers 5% of
 * requests with 503, the one upstream keeps serving the rest, and readiness must not flap (it used to
 * turn 503 for 5 s after every single error: 3-5% of polls).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayReadinessTest {
  static final int REQUESTS = 400;
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @Test
  void isolatedUpstreamErrorsNeverTurnReadinessOff() throws Exception {
    try (GatewayServer gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0))) {
      AtomicInteger next = new AtomicInteger();
      AtomicInteger errors = new AtomicInteger();
      AtomicInteger ok = new AtomicInteger();
      AtomicBoolean done = new AtomicBoolean();
      AtomicInteger polls = new AtomicInteger();
      AtomicInteger notReady = new AtomicInteger();
      ExecutorService pool = Executors.newFixedThreadPool(7);
      pool.execute(() -> {
        while (!done.get()) {
          try (RawClient c = RawClient.get(gateway.port(), "/readyz")) {
            c.readToEnd();
            polls.incrementAndGet();
            if (c.status() != 200) {
              notReady.incrementAndGet();
            }
            Thread.sleep(5);
          } catch (Exception e) {
            notReady.incrementAndGet();
          }
        }
      });
      for (int t = 0; t < 6; t++) {
        pool.execute(() -> {
          while (next.getAndIncrement() < REQUESTS) {
            try (RawClient c = RawClient.post(gateway.port(), "/v1/chat/completions", CHAT,
                "X-Tokenpipe-Sim: ttft=1ms itl=1ms tokens=3 error_rate=0.05")) {
              c.readToEnd();
              String payload = GatewayChurnTest.payload(c);
              if (payload.contains("event: error") || c.status() != 200) {
                errors.incrementAndGet();
              } else if (payload.contains("data: [DONE]")) {
                ok.incrementAndGet();
              }
            } catch (Exception e) {
              errors.incrementAndGet();
            }
          }
        });
      }
      while (next.get() < REQUESTS + 6) {
        Thread.sleep(10);
      }
      done.set(true);
      pool.shutdown();
      assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
      assertThat(errors.get()).as("injected upstream errors (5%% of %d)", REQUESTS).isBetween(3, 60);
      assertThat(ok.get() + errors.get()).isEqualTo(REQUESTS);
      assertThat(polls.get()).as("readiness polls during the load").isGreaterThan(20);
      assertThat(notReady.get()).as("polls answered not-ready, of %d", polls.get()).isZero();
    }
  }
}
