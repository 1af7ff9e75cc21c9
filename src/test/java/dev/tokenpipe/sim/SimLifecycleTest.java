package dev.tokenpipe.sim;

import dev.tokenpipe.testing.RawClient;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Cancellation, faults and metrics: each test gets its own server so counters start at zero. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimLifecycleTest {
  SimServer sim;

  @BeforeEach
  void start() {
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
  }

  @AfterEach
  void stop() {
    sim.close();
  }

  @Test
  void clientsThatDisconnectMidStreamAreCountedAsCancelledAndTheirTimersStop() throws Exception {
    int streams = 200;
    List<RawClient> clients = new ArrayList<>();
    for (int i = 0; i < streams; i++) {
      clients.add(RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}",
          "X-Tokenpipe-Sim: ttft=20ms itl=10ms tokens=100000"));
    }
    for (RawClient c : clients) {
      while (c.eventReads().isEmpty()) {
        c.readOnce();
      }
    }
    assertThat(sim.metrics().activeStreams()).isEqualTo(streams);
    for (RawClient c : clients) {
      c.close();
    }
    awaitActive(0);
    assertThat(sim.metrics().count("cancelled")).isEqualTo(streams);
    long tokensAfterCancel = sim.metrics().count("tokens");
    Thread.sleep(200);
    assertThat(sim.metrics().count("tokens")).as("no timer keeps emitting after cancel").isEqualTo(tokensAfterCancel);
    assertThat(scrape()).contains("tokenpipe_sim_streams_cancelled_total " + streams + ".0")
        .contains("tokenpipe_sim_active_streams 0.0");
  }

  @Test
  void completedStreamsAreCountedAndActiveReturnsToZero() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}",
        "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=3")) {
      assertThat(c.readToEnd()).isTrue();
    }
    awaitActive(0);
    assertThat(sim.metrics().count("started")).isEqualTo(1);
    assertThat(sim.metrics().count("completed")).isEqualTo(1);
    assertThat(sim.metrics().count("tokens")).isEqualTo(3);
  }

  @Test
  void dropAfterCutsTheConnectionWithoutTerminator() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}",
        "X-Tokenpipe-Sim: ttft=5ms itl=2ms tokens=50 drop_after=3")) {
      assertThat(c.readToEnd()).as("body must not end cleanly").isFalse();
      assertThat(c.all().split("id: tp\\.", -1)).hasSize(4);
      assertThat(c.all()).doesNotContain("[DONE]");
    }
    awaitActive(0);
    assertThat(sim.metrics().count("failed")).isEqualTo(1);
  }

  /**
   * The two injected mid-stream failures reach a client differently (a cut without a terminator; the API's own
   * in-band error event, then a clean end), so a gateway or client under test reacts differently: the counter
   * tells them apart by its {@code fault} label. Before, one unlabelled counter counted both while its doc said
   * "cut by an injected drop"; a drop and an error_after read {@code tokenpipe_sim_streams_failed_total 2.0}.
   */
  @Test
  void injectedStreamFailuresAreCountedByFault() throws Exception {
    assertThat(scrape()).as("both series exist before any failure")
        .contains("tokenpipe_sim_streams_failed_total{fault=\"drop\"} 0.0")
        .contains("tokenpipe_sim_streams_failed_total{fault=\"error_after\"} 0.0");
    try (RawClient c = RawClient.post(sim.port(), "/v1/chat/completions", SimStreamingTest.CHAT,
        "X-Tokenpipe-Sim: ttft=5ms itl=2ms tokens=50 drop_after=3")) {
      assertThat(c.readToEnd()).isFalse();
    }
    HttpResponse<String> errored = post("/v1/chat/completions", SimStreamingTest.CHAT, "ttft=5ms itl=2ms tokens=50 error_after=3");
    assertThat(errored.body()).contains("injected_fault").doesNotContain("[DONE]");
    HttpResponse<String> again = post("/v1/chat/completions", SimStreamingTest.CHAT, "ttft=5ms itl=2ms tokens=50 error_after=1");
    assertThat(again.body()).contains("injected_fault");
    awaitActive(0);
    assertThat(scrape()).contains("tokenpipe_sim_streams_failed_total{fault=\"drop\"} 1.0")
        .contains("tokenpipe_sim_streams_failed_total{fault=\"error_after\"} 2.0")
        .contains("tokenpipe_sim_streams_completed_total 0.0");
    assertThat(sim.metrics().count("failed")).as("all injected failures").isEqualTo(3);
  }

  @Test
  void stallPausesTheStreamAfterNTokens() throws Exception {
    try (RawClient c = RawClient.post(sim.port(), "/v1/stream", "{\"prompt\":\"x\"}",
        "X-Tokenpipe-Sim: ttft=5ms itl=5ms tokens=6 stall_after=3 stall=600ms")) {
      assertThat(c.readToEnd()).isTrue();
      List<RawClient.Read> ev = c.eventReads();
      long maxGap = 0;
      for (int i = 1; i < ev.size(); i++) {
        maxGap = Math.max(maxGap, ev.get(i).nanos() - ev.get(i - 1).nanos());
      }
      assertThat(maxGap / 1_000_000).isBetween(550L, 1500L);
    }
  }

  @Test
  void injectedErrorsUseTheConfiguredStatusAndOpenAiShape() throws Exception {
    HttpResponse<String> r503 = post("/v1/chat/completions", SimStreamingTest.CHAT, "error_rate=1");
    assertThat(r503.statusCode()).isEqualTo(503);
    assertThat(r503.body()).contains("\"type\":\"server_error\"");
    HttpResponse<String> r429 = post("/v1/chat/completions", SimStreamingTest.CHAT, "error_rate=1 error_status=429");
    assertThat(r429.statusCode()).isEqualTo(429);
    assertThat(r429.headers().firstValue("retry-after")).hasValue("1");
    assertThat(r429.body()).contains("\"type\":\"rate_limit_error\"");
  }

  @Test
  void nonStreamingResponseArrivesWholeWithUsage() throws Exception {
    String body = "{\"model\":\"tokenpipe-sim\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    long t0 = System.nanoTime();
    HttpResponse<String> r = post("/v1/chat/completions", body, "ttft=100ms itl=20ms tokens=50");
    long millis = (System.nanoTime() - t0) / 1_000_000;
    assertThat(r.statusCode()).isEqualTo(200);
    var json = dev.tokenpipe.openai.Json.MAPPER.readTree(r.body());
    assertThat(json.get("object").asText()).isEqualTo("chat.completion");
    assertThat(json.at("/choices/0/finish_reason").asText()).isEqualTo("length");
    assertThat(json.at("/usage/completion_tokens").asInt()).isEqualTo(5);
    assertThat(json.at("/choices/0/message/content").asText()).isNotBlank();
    assertThat(millis).as("ttft + 4 intervals").isGreaterThanOrEqualTo(170);
  }

  @Test
  void modelsHealthAndKeepAliveAcrossRequests() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> models = http.send(HttpRequest.newBuilder(uri("/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(models.statusCode()).isEqualTo(200);
      assertThat(models.body()).contains("\"id\":\"tokenpipe-sim\"").contains("\"object\":\"list\"");
    }
    assertThat(http.send(HttpRequest.newBuilder(uri("/healthz")).build(), HttpResponse.BodyHandlers.ofString()).body())
        .contains("ok");
  }

  private String scrape() throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri("/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  private HttpResponse<String> post(String path, String body, String overrides) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri(path))
        .header(StreamProfile.HEADER, overrides)
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + sim.port() + path);
  }

  private void awaitActive(long expected) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (sim.metrics().activeStreams() != expected && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(sim.metrics().activeStreams()).isEqualTo(expected);
  }
}
