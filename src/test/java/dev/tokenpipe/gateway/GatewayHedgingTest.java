package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Hedged requests ({@code --hedge-after}): a second attempt on another upstream when the first token is
 * late; the first attempt to deliver a generated event wins and is relayed alone, the other is closed.
 * Real sims where timing and cancellation at the model matter; scripted upstreams where bytes and heads
 * must be exact. A fresh gateway per test, so that round-robin sends the first attempt to the first
 * upstream listed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayHedgingTest {
  static final String CHAT = "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String PATH = "/v1/chat/completions";
  static final Pattern GENERATED = Pattern.compile("\"content\":\"[^\"]");

  static String stream(String who) {
    return "data: " + ChatChunks.role() + "\n\n"
        + "data: " + ChatChunks.content("Hello") + "\n\n"
        + "data: " + ChatChunks.content(" from " + who) + "\n\n"
        + "data: " + ChatChunks.finish("stop") + "\n\n"
        + "data: [DONE]\n\n";
  }

  final List<AutoCloseable> closeables = new ArrayList<>();
  GatewayServer gateway;

  @AfterEach
  void stop() throws Exception {
    if (gateway != null) {
      gateway.close();
    }
    for (AutoCloseable c : closeables.reversed()) {
      c.close();
    }
  }

  SimServer sim(String profile) {
    SimConfig config = SimConfig.defaults().withProfile(
        SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides(profile)));
    SimServer s = SimServer.start(config, "127.0.0.1", 0);
    closeables.add(() -> s.close(Duration.ZERO));
    return s;
  }

  static String url(SimServer s) {
    return "http://127.0.0.1:" + s.port();
  }

  ScriptedUpstream scripted() throws IOException {
    ScriptedUpstream u = new ScriptedUpstream();
    closeables.add(u);
    return u;
  }

  GatewayServer gateway(GatewayConfig config) {
    gateway = GatewayServer.start(config.withPort(0));
    return gateway;
  }

  /** Streams {@code body} as B_STREAM-like chunks, one event per chunk. */
  static void sendEvents(ScriptedUpstream.Exchange x, String body) throws IOException {
    for (String event : body.split("(?<=\n\n)")) {
      x.chunk(event);
    }
    x.end();
  }

  /** Request sent → the read that completed the first event with generated text, in ms; -1 if none. */
  static double ttftMillis(long sentNanos, Wire.Response r) {
    StringBuilder seen = new StringBuilder();
    for (int i = 0; i < r.reads().size(); i++) {
      seen.append(new String(r.reads().get(i), StandardCharsets.UTF_8));
      if (GENERATED.matcher(seen).find()) {
        return (r.readNanos().get(i) - sentNanos) / 1e6;
      }
    }
    return -1;
  }

  static void await(BooleanSupplier condition, Duration timeout, String what) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("not within " + timeout + ": " + what);
      }
      Thread.sleep(20);
    }
  }

  /**
   * One clean stream from one sim: one role chunk first, [DONE] last, every chunk of one completion id, and
   * the sim's emission stamps numbered 0, 1, 2, ... without a gap or a restart. Bytes of a second stream
   * anywhere in it would break one of these.
   */
  static void assertOneCleanSimStream(Wire.Response r) {
    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.complete()).as("ended by its last chunk: %s", r).isTrue();
    List<SseEvent> events = Wire.Parsed.of(r.body()).events();
    assertThat(events).hasSizeGreaterThan(3);
    assertThat(events.getFirst().data()).contains("\"role\":\"assistant\"");
    assertThat(events.getLast().data()).isEqualTo("[DONE]");
    Set<String> ids = new HashSet<>();
    Matcher m = Pattern.compile("\"id\":\"(chatcmpl-[^\"]+)\"").matcher(r.bodyText());
    while (m.find()) {
      ids.add(m.group(1));
    }
    assertThat(ids).as("completion ids in the client's stream").hasSize(1);
    assertThat(r.bodyText().split("\"role\":\"assistant\"", -1)).as("one role chunk").hasSize(2);
    for (int i = 0; i < events.size(); i++) {
      assertThat(EmissionStamp.parse(events.get(i).lastEventId()).orElseThrow().seq()).as("stamp of event %d", i)
          .isEqualTo(i);
    }
  }

  @Test
  void aLateFirstTokenIsHedgedTheSlowAttemptIsCancelledAtTheSimAndTheClientGetsTheFastStreamAlone() throws Exception {
    SimServer slow = sim("ttft=2s itl=10ms tokens=20");
    SimServer fast = sim("ttft=50ms itl=10ms tokens=20");
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(url(slow), url(fast))).withHedging("200ms", "100%"));

    try (AccessLogCapture log = new AccessLogCapture()) {
      List<Double> ttfts = new ArrayList<>();
      for (int i = 0; i < 4; i++) { // round-robin: the first, third, ... go to the slow sim first
        long sent = System.nanoTime();
        Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);
        assertOneCleanSimStream(r);
        ttfts.add(ttftMillis(sent, r));
      }
      // The fast sim answers within ~50 ms; a hedged request's first token comes ~200 ms + 50 ms after it was
      // sent. The slow sim would have taken 2 s: every request is well under it.
      assertThat(ttfts).as("client TTFTs, ms").allSatisfy(t -> assertThat(t).isBetween(0.0, 1200.0));

      // Which requests go to the slow sim first is the balancer's choice (round-robin: all four, since each
      // hedge's pick advances it too); every one that did was hedged, won by the fast sim.
      long slowFirst = slow.metrics().count("started");
      assertThat(slowFirst).as("requests that went to the slow sim first").isBetween(1L, 4L);
      assertThat(gateway.metrics().count("hedges")).isEqualTo(slowFirst);
      assertThat(gateway.metrics().count("hedge_wins")).isEqualTo(slowFirst);
      assertThat(gateway.metrics().count("hedge_cancelled")).isEqualTo(slowFirst);
      assertThat(gateway.metrics().count("retries")).isZero();
      // The cancel reaches the model: the slow sim counts each of its streams as cancelled by its client,
      // and sent no token at all (it stops generating when its client goes away).
      await(() -> slow.metrics().count("cancelled") == slowFirst, Duration.ofSeconds(5),
          "slow sim cancels: " + slow.metrics().count("cancelled"));
      Thread.sleep(2500); // past the slow sim's first-token time: a stream it still ran would now send tokens
      assertThat(slow.metrics().count("tokens")).as("tokens the slow sim generated").isZero();
      assertThat(slow.metrics().activeStreams()).isZero();
      assertThat(slow.metrics().scrape()).contains("tokenpipe_sim_streams_cancelled_total " + slowFirst + ".0");
      assertThat(fast.metrics().count("completed")).isEqualTo(4);

      Map<String, String> line = log.await(PATH, l -> "second".equals(l.get("hedge")), Duration.ofSeconds(5));
      assertThat(line.get("upstream")).isEqualTo(url(fast));
      assertThat(line.get("outcome")).isEqualTo("done");
      await(() -> log.lines().stream().filter(l -> PATH.equals(l.get("path"))).count() == 4, Duration.ofSeconds(5),
          "four access-log lines");
      assertThat(log.lines()).filteredOn(l -> PATH.equals(l.get("path"))).filteredOn(l -> "second".equals(l.get("hedge")))
          .hasSize((int) slowFirst);
      assertThat(gateway.metrics().scrape()).contains("tokenpipe_gateway_hedges_total " + slowFirst + ".0",
          "tokenpipe_gateway_hedge_wins_total " + slowFirst + ".0");
    }
  }

  @Test
  void theClientsBytesAndHeadAreTheWinnersAlone() throws Exception {
    ScriptedUpstream a = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role()); // held: nothing generated
      x.pause(3000);
      sendEvents(x, stream("A").substring(("data: " + ChatChunks.role() + "\n\n").length()));
    });
    ScriptedUpstream b = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-b\r\n");
      sendEvents(x, stream("B"));
    });
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(a.url(), b.url())).withHedging("200ms", "100%"));

    Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.complete()).isTrue();
    assertThat(new String(r.body(), StandardCharsets.UTF_8)).as("the client's body, byte for byte")
        .isEqualTo(stream("B"));
    // A's head was held while a failover could still replace A, so the race decided it: the winner's head.
    assertThat(r.headerValue("x-request-id")).isEqualTo("from-b");
    assertThat(a.requests(PATH)).isEqualTo(1);
    assertThat(b.requests(PATH)).isEqualTo(1);
    assertThat(gateway.metrics().count("hedge_wins")).isEqualTo(1);
  }

  @Test
  void whenNoHeadWentOutTheWinnersHeadIsTheOneSent() throws Exception {
    ScriptedUpstream a = scripted().on(PATH, x -> {
      x.pause(800); // well after the hedge started (200 ms): A's head is held back for the race
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(3000);
      sendEvents(x, stream("A"));
    });
    ScriptedUpstream b = scripted().on(PATH, x -> {
      x.pause(900); // B's head comes after A's
      x.sseHead("x-request-id: from-b\r\n");
      sendEvents(x, stream("B"));
    });
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(a.url(), b.url())).withHedging("200ms", "100%"));

    Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

    assertThat(r.headerValue("x-request-id")).as("the winner's head").isEqualTo("from-b");
    assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(stream("B"));
  }

  @Test
  void whenTheFirstAttemptDeliversFirstTheHedgeIsCancelledAndNeverSeen() throws Exception {
    ScriptedUpstream a = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(500);
      sendEvents(x, stream("A").substring(("data: " + ChatChunks.role() + "\n\n").length()));
    });
    ScriptedUpstream b = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-b\r\n");
      x.event(ChatChunks.role());
      x.pause(3000);
      sendEvents(x, stream("B"));
    });
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(a.url(), b.url())).withHedging("200ms", "100%"));

    try (AccessLogCapture log = new AccessLogCapture()) {
      Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

      assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(stream("A"));
      assertThat(r.headerValue("x-request-id")).isEqualTo("from-a");
      assertThat(b.requests(PATH)).as("the hedge was sent").isEqualTo(1);
      assertThat(gateway.metrics().count("hedges")).isEqualTo(1);
      assertThat(gateway.metrics().count("hedge_wins")).isZero();
      assertThat(gateway.metrics().count("hedge_cancelled")).isEqualTo(1);
      assertThat(log.await(PATH, Duration.ofSeconds(5)).get("hedge")).isEqualTo("first");
    }
  }

  @Test
  void aHedgeThatFailsLeavesTheFirstAttemptAloneWithoutAnotherRetry() throws Exception {
    ScriptedUpstream a = scripted().on(PATH, x -> {
      x.sseHead("");
      x.event(ChatChunks.role());
      x.pause(600);
      sendEvents(x, stream("A").substring(("data: " + ChatChunks.role() + "\n\n").length()));
    });
    ScriptedUpstream b = scripted().on(PATH, x -> x.json(503, "Service Unavailable", "",
        "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}"));
    ScriptedUpstream c = scripted().on(PATH, x -> {
      x.sseHead("");
      sendEvents(x, stream("C"));
    });
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(a.url(), b.url(), c.url())).withMaxAttempts(3)
        .withHedging("200ms", "100%"));

    Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

    assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(stream("A"));
    assertThat(r.bodyText()).doesNotContain("overloaded");
    assertThat(gateway.metrics().count("hedge_failures")).isEqualTo(1);
    assertThat(c.requests(PATH)).as("no third attempt while the first went on").isZero();
    assertThat(gateway.metrics().count("retries")).isZero();
  }

  @Test
  void aFirstAttemptThatFailsDuringTheRaceLeavesTheHedgeToServeAlone() throws Exception {
    ScriptedUpstream a = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-a\r\n");
      x.event(ChatChunks.role());
      x.pause(400).reset(); // dies during the race
    });
    ScriptedUpstream b = scripted().on(PATH, x -> {
      x.sseHead("x-request-id: from-b\r\n");
      x.event(ChatChunks.role());
      x.pause(600);
      sendEvents(x, stream("B").substring(("data: " + ChatChunks.role() + "\n\n").length()));
    });
    ScriptedUpstream c = scripted().on(PATH, x -> {
      x.sseHead("");
      sendEvents(x, stream("C"));
    });
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(a.url(), b.url(), c.url())).withMaxAttempts(3)
        .withHedging("200ms", "100%"));

    Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

    assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(stream("B"));
    assertThat(c.requests(PATH)).as("the hedge is the retry: no third attempt").isZero();
    assertThat(gateway.metrics().count("hedge_wins")).isEqualTo(1);
    assertThat(gateway.metrics().count("hedge_cancelled")).as("nothing left to cancel").isZero();
  }

  @Test
  void nonIdempotentRequestsAreNeverHedged() throws Exception {
    SimServer slow = sim("ttft=700ms itl=10ms tokens=5");
    SimServer fast = sim("ttft=20ms itl=10ms tokens=5");
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(url(slow), url(fast))).withHedging("100ms", "100%"));

    for (String header : List.of("X-Tokenpipe-Hedge: off", "Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324")) {
      long before = fast.metrics().count("started");
      long sent = System.nanoTime();
      Wire.Response r = Wire.post(gateway.port(), PATH, CHAT, header);
      assertOneCleanSimStream(r);
      assertThat(ttftMillis(sent, r)).as("served by the slow sim alone (%s)", header).isGreaterThan(600);
      assertThat(fast.metrics().count("started") - before).as("requests the fast sim got (%s)", header).isZero();
      Wire.post(gateway.port(), PATH, CHAT, header); // the fast sim's turn, so that the next goes to the slow one
    }
    // Not a hedge path (an Assistants run creates server-side state): the sim answers 404, still no hedge.
    Wire.Response r = Wire.post(gateway.port(), "/v1/threads/t1/runs", CHAT);
    assertThat(r.status()).isEqualTo(404);
    assertThat(gateway.metrics().count("hedges")).isZero();
    assertThat(gateway.metrics().count("hedge_refusals")).isZero();
  }

  @Test
  void hedgingIsOffByDefault() throws Exception {
    SimServer slow = sim("ttft=700ms itl=10ms tokens=5");
    SimServer fast = sim("ttft=20ms itl=10ms tokens=5");
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(url(slow), url(fast))));

    long sent = System.nanoTime();
    Wire.Response r = Wire.post(gateway.port(), PATH, CHAT);

    assertOneCleanSimStream(r);
    assertThat(ttftMillis(sent, r)).isGreaterThan(600);
    assertThat(fast.metrics().count("started")).as("no second upstream request").isZero();
    assertThat(gateway.metrics().count("hedges")).isZero();
  }

  @Test
  void theBudgetHoldsUnderLoad() throws Exception {
    SimServer a = sim("ttft=400ms itl=5ms tokens=3");
    SimServer b = sim("ttft=400ms itl=5ms tokens=3");
    gateway(GatewayConfig.defaults().withBalance("round-robin").withUpstreams(List.of(url(a), url(b))).withHedging("50ms", "10%"));
    int streams = 200;

    List<Future<Wire.Response>> results = new ArrayList<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < streams; i++) {
        results.add(pool.submit(() -> Wire.send(gateway.port(), Wire.post("HTTP/1.1", PATH, CHAT), Duration.ofSeconds(60))));
        if (i % 20 == 19) {
          Thread.sleep(100); // ten waves: the budget earned by earlier requests is spent by later ones
        }
      }
      for (Future<Wire.Response> f : results) {
        assertOneCleanSimStream(f.get());
      }
    }

    long hedges = gateway.metrics().count("hedges");
    long refusals = gateway.metrics().count("hedge_refusals");
    // Every stream was still without a token at 50 ms, so each asked for a hedge once (give or take a timer a
    // busy event loop ran only after the first token, 350 ms late).
    assertThat(hedges + refusals).as("hedges %d + refusals %d", hedges, refusals).isBetween(streams - 5L, (long) streams);
    assertThat(hedges).as("at most 10%% of %d requests", streams).isBetween(1L, (long) (streams * 0.10));
    assertThat(refusals).isGreaterThanOrEqualTo(streams - (long) (streams * 0.10));
    // A hedge cancelled while still connecting never reached a sim: at most one extra request per hedge.
    assertThat(a.metrics().count("started") + b.metrics().count("started")).as("upstream requests")
        .isBetween((long) streams, streams + hedges);
  }
}
