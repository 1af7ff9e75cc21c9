package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEvent;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Per dialect, through {@code serve} in front of the real sim: the access log's TTFT and token count agree with
 * what the sim's emission stamps say happened. The sim stamps every event with its emission time (SSE id
 * {@code tp.<seq>.<epoch-µs>}); the first generated event's stamp minus the client's send time is the TTFT the
 * model produced; the gateway's TTFT (request received → first generated event flushed) can be neither shorter
 * than the model's configured first token nor later than that stamp plus the loopback hops; the tokens are the
 * generated events (one token each here).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayDialectStampsTest {
  static SimServer sim;
  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0)
        .withUpstreams(List.of("http://127.0.0.1:" + sim.port())));
  }

  @AfterAll
  static void stop() {
    gateway.close();
    sim.close();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "/v1/chat/completions | {\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tokenpipe_sim\":\"ttft=150ms itl=10ms tokens=12\"}",
      "/v1/messages | {\"model\":\"tokenpipe-sim\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tokenpipe_sim\":\"ttft=150ms itl=10ms tokens=12\"}",
      "/v1/responses | {\"model\":\"tokenpipe-sim\",\"stream\":true,\"input\":\"hi\",\"tokenpipe_sim\":\"ttft=150ms itl=10ms tokens=12\"}"})
  void theAccessLogsTtftAndTokensMatchTheSimsStamps(String path, String body) throws Exception {
    Wire.post(gateway.port(), path + "?case=warm-up", body); // the JVM's first request of a shape is not measured
    try (AccessLogCapture log = new AccessLogCapture()) {
      long sentMicros = EmissionStamp.nowMicros();
      Wire.Response r = Wire.post(gateway.port(), path, body);
      assertThat(r.status()).as("%s", r).isEqualTo(200);

      long firstGeneratedMicros = -1;
      int generated = 0;
      for (SseEvent e : r.events().events()) {
        if (EventKind.generated(EventClassifier.classify(e.type(), e.data()))) {
          generated++;
          if (firstGeneratedMicros < 0) {
            firstGeneratedMicros = EmissionStamp.parse(e.lastEventId()).orElseThrow().emitMicros();
          }
        }
      }
      assertThat(generated).as("every token event is generated output").isEqualTo(12);
      double stampTtftMs = (firstGeneratedMicros - sentMicros) / 1000.0;

      Map<String, String> line = log.await(path, Duration.ofSeconds(5));
      assertThat(line).containsEntry("outcome", "done").containsEntry("tokens", "12");
      double loggedTtftMs = Double.parseDouble(line.get("ttft_ms"));
      assertThat(stampTtftMs).as("the model's own first token, by its stamp").isGreaterThanOrEqualTo(140.0);
      // The gateway counts from the request's arrival (after the client's own send overhead) to its flush of the
      // first generated event (after the stamp): never below the model's configured first token, never later
      // than the stamp plus the loopback hops.
      assertThat(loggedTtftMs).as("%s: logged %s ms against the stamp's %s ms", path, loggedTtftMs, stampTtftMs)
          .isGreaterThanOrEqualTo(145.0)
          .isLessThanOrEqualTo(stampTtftMs + 100.0); // loopback hops on a busy 2-core machine
      assertThat(Double.parseDouble(line.get("upstream_ttft_ms"))).as("the model's part").isBetween(145.0, stampTtftMs + 100.0);
    }
  }
}
