package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.StreamState.CANCELLED;
import static dev.tokenpipe.gateway.StreamState.DONE;
import static dev.tokenpipe.gateway.StreamState.ERROR_BODY;
import static dev.tokenpipe.gateway.StreamState.FAILED;
import static dev.tokenpipe.gateway.StreamState.HEDGING;
import static dev.tokenpipe.gateway.StreamState.PENDING;
import static dev.tokenpipe.gateway.StreamState.RELAYING;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.EmbeddedGateway.Conn;
import dev.tokenpipe.gateway.EmbeddedGateway.Response;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The exchange's state machine ({@link StreamState}) without sockets: a real client pipeline and real upstream
 * pipelines on embedded channels ({@link EmbeddedGateway}), scripted upstream bytes, and the timers fired by
 * moving the loop's clock, never by sleeping. Each test asserts the bytes the client got and the states the
 * exchange went through; {@link #everyAllowedTransitionIsCovered} holds the list of covered transitions to
 * {@link StreamState}'s own.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ProxyExchangeStateMachineTest {
  static final String A = "http://upstream-a:8000";
  static final String B = "http://upstream-b:8000";
  static final String CHAT_PATH = "/v1/chat/completions";
  static final String CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static final String ROLE = sse(ChatChunks.role());
  static final String HELLO = sse(ChatChunks.content("Hello"));
  static final String WORLD = sse(ChatChunks.content(" world"));
  static final String STOP = sse(ChatChunks.finish("stop"));
  static final String DONE_EVENT = sse(ChatChunks.DONE);

  /** OpenAI's in-band error event for {@code code}, written out by hand (not by the code under test). */
  static String openAiError(String message, String type, String code) {
    return "event: error\ndata: {\"error\":{\"message\":\"" + message + "\",\"type\":\"" + type
        + "\",\"param\":null,\"code\":\"" + code + "\"}}\n\n";
  }

  static final String CUT_MESSAGE = "The upstream closed the stream before it ended.";

  /** Which test drives the exchange through each allowed transition. */
  static final Map<String, String> COVERED = Map.ofEntries(
      Map.entry("PENDING->PENDING", "aRefusedConnectIsRetriedOnTheNextUpstream"),
      Map.entry("PENDING->RELAYING", "aStreamIsRelayedAndEndsWithItsTerminator"),
      Map.entry("PENDING->ERROR_BODY", "anUpstream4xxBodyBecomesTheClientsErrorResponse"),
      Map.entry("PENDING->FAILED", "aRefusedConnectWithNoUpstreamLeftIsA502"),
      Map.entry("PENDING->CANCELLED", "theClientClosingCancelsTheExchangeAndClosesTheUpstream"),
      Map.entry("RELAYING->PENDING", "aCutBeforeGeneratedContentFailsOverAndOnlyTheSecondStreamReachesTheClient"),
      Map.entry("RELAYING->DONE", "aStreamIsRelayedAndEndsWithItsTerminator"),
      Map.entry("RELAYING->FAILED", "aCutAfterContentEndsWithAnInBandError"),
      Map.entry("RELAYING->CANCELLED", "theClientClosingCancelsTheExchangeAndClosesTheUpstream"),
      Map.entry("ERROR_BODY->FAILED", "anUpstream4xxBodyBecomesTheClientsErrorResponse"),
      Map.entry("ERROR_BODY->CANCELLED", "theClientClosingCancelsTheExchangeAndClosesTheUpstream"),
      Map.entry("PENDING->HEDGING", "aLateFirstTokenStartsAHedgeAndTheHedgeThatDeliversFirstIsTheStream"),
      Map.entry("HEDGING->RELAYING", "aLateFirstTokenStartsAHedgeAndTheHedgeThatDeliversFirstIsTheStream"),
      Map.entry("RELAYING->HEDGING", "whenTheFirstAttemptDeliversFirstTheHedgeIsClosedUnseen"),
      Map.entry("HEDGING->PENDING", "aHedgeThatIsRefusedLeavesTheFirstAttemptToGoOnAlone"),
      Map.entry("HEDGING->ERROR_BODY", "anErrorStatusOfTheFirstAttemptWhileHedgingIsTheClientsAnswer"),
      Map.entry("HEDGING->FAILED", "theFirstTokenTimeoutEndsAHedgedStreamWithBothAttemptsClosed"),
      Map.entry("HEDGING->CANCELLED", "theClientClosingWhileHedgingClosesBothAttempts"));

  static String sse(String data) {
    return "data: " + data + "\n\n";
  }

  /** The production defaults: heartbeat 15 s, head wait 10 s, first token 120 s, upstream idle 60 s, slow client 30 s. */
  static GatewayConfig defaults() {
    return GatewayConfig.defaults();
  }

  static GatewayConfig timers(Duration heartbeat, Duration headWait, Duration firstToken, Duration idle, Duration slow) {
    return GatewayConfig.defaults().withHeartbeat(heartbeat, headWait)
        .withTimeouts(firstToken, idle, slow, Duration.ofSeconds(30));
  }

  static Duration s(double seconds) {
    return Duration.ofNanos((long) (seconds * 1e9));
  }

  @Test
  void everyAllowedTransitionIsCovered() {
    Set<String> allowed = new TreeSet<>();
    for (StreamState from : StreamState.values()) {
      for (StreamState to : StreamState.values()) {
        if (from.canMoveTo(to)) {
          allowed.add(from + "->" + to);
        }
      }
    }
    assertThat(new TreeSet<>(COVERED.keySet())).isEqualTo(allowed);
    for (String test : COVERED.values()) {
      assertThat(Stream.of(getClass().getDeclaredMethods()).map(java.lang.reflect.Method::getName)).contains(test);
    }
  }

  // ---------------------------------------------------------------- PENDING -> RELAYING -> DONE

  @Test
  void aStreamIsRelayedAndEndsWithItsTerminator() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      assertThat(g.state()).isEqualTo(PENDING);
      assertThat(g.pendingConnects()).isEqualTo(1);
      Conn a = g.accept();
      assertThat(a.request()).startsWith("POST /v1/chat/completions HTTP/1.1\r\n").endsWith(CHAT);
      assertThat(g.clientBytes()).as("nothing before the upstream's head (head wait 10 s)").isEmpty();

      a.sseHead();
      assertThat(g.state()).isEqualTo(RELAYING);
      Response head = g.response();
      assertThat(head.status()).isEqualTo(200);
      assertThat(head.headers()).containsEntry("content-type", "text/event-stream; charset=utf-8")
          .containsEntry("x-request-id", "req-upstream-a").containsEntry("transfer-encoding", "chunked");
      assertThat(head.body()).isEmpty();

      a.chunk(ROLE);
      assertThat(g.response().body()).as("the role chunk is held until generated content").isEmpty();
      a.chunk(HELLO);
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO);
      a.chunk(WORLD).chunk(STOP).chunk(DONE_EVENT);
      assertThat(g.state()).as("the terminator ends the client's stream, whatever the upstream's body does next")
          .isEqualTo(DONE);
      Response r = g.response();
      assertThat(r.body()).isEqualTo(ROLE + HELLO + WORLD + STOP + DONE_EVENT);
      assertThat(r.ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
      assertThat(a.released).as("not before the upstream's body ended").isFalse();

      a.end();
      assertThat(a.released).as("a cleanly ended keep-alive response goes back to the pool").isTrue();
      assertThat(a.isOpen()).isTrue();
      assertThat(g.client.isOpen()).isTrue();
    }
  }

  @Test
  void aTerminatorAndTheBodysEndInOneReadGoBackToThePoolAtOnce() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      a.send("%x\r\n%s\r\n0\r\n\r\n".formatted(DONE_EVENT.length(), DONE_EVENT));

      assertThat(g.state()).isEqualTo(DONE);
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(a.released).isTrue();
    }
  }

  @Test
  void aBodyLeftOpenAfterItsTerminatorIsClosedAfterTheGraceNeverPooled() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT);
      assertThat(g.response().ended()).isTrue();

      g.advance(Duration.ofMillis(UpstreamDrain.GRACE_MILLIS - 1));
      assertThat(a.isOpen()).as("within the grace").isTrue();
      g.advance(Duration.ofMillis(1));
      assertThat(a.isOpen()).as("the grace ran out").isFalse();
      assertThat(a.released).isFalse();
    }
  }

  @Test
  void bytesAfterTheTerminatorAreNeverRelayedAndTheConnectionIsClosed() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT);
      a.chunk(WORLD).end();

      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(a.isOpen()).as("the upstream and we disagree on where its stream ended").isFalse();
      assertThat(a.released).isFalse();
    }
  }

  // ---------------------------------------------------------------- HEDGING

  /** Hedging after 200 ms with a budget that never refuses, so the first request may hedge. */
  static GatewayConfig hedged() {
    return GatewayConfig.defaults().withHedging("200ms", "100%");
  }

  @Test
  void aLateFirstTokenStartsAHedgeAndTheHedgeThatDeliversFirstIsTheStream() {
    try (EmbeddedGateway g = new EmbeddedGateway(hedged(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(Duration.ofMillis(199));
      assertThat(g.pendingConnects()).as("no hedge before --hedge-after").isZero();
      g.advance(Duration.ofMillis(1));
      assertThat(g.state()).isEqualTo(HEDGING);
      Conn b = g.accept();
      assertThat(b.upstream.host()).isEqualTo("upstream-b");
      assertThat(b.request()).startsWith("POST /v1/chat/completions HTTP/1.1\r\n").endsWith(CHAT);

      b.sseHead().chunk(ROLE);
      assertThat(g.clientBytes()).as("the hedge's held role chunk and head are not the client's yet").isEmpty();
      b.chunk(HELLO);
      assertThat(g.state()).isEqualTo(RELAYING);
      assertThat(a.isOpen()).as("the loser is closed at once, never pooled").isFalse();
      b.chunk(STOP).chunk(DONE_EVENT).end();

      Response r = g.response();
      assertThat(r.headers()).containsEntry("x-request-id", "req-upstream-b");
      assertThat(r.body()).isEqualTo(ROLE + HELLO + STOP + DONE_EVENT);
      assertThat(g.states()).containsExactly(PENDING, HEDGING, RELAYING, DONE);
    }
  }

  @Test
  void whenTheFirstAttemptDeliversFirstTheHedgeIsClosedUnseen() {
    try (EmbeddedGateway g = new EmbeddedGateway(hedged(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE);
      assertThat(g.state()).isEqualTo(RELAYING);
      g.advance(Duration.ofMillis(200));
      assertThat(g.state()).isEqualTo(HEDGING);
      Conn b = g.accept();
      b.sseHead().chunk(ROLE);

      a.chunk(HELLO);
      assertThat(g.state()).isEqualTo(RELAYING);
      assertThat(b.isOpen()).as("the hedge lost: closed so its model stops").isFalse();
      a.chunk(DONE_EVENT).end();

      Response r = g.response();
      assertThat(r.headers()).containsEntry("x-request-id", "req-upstream-a");
      assertThat(r.body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(g.states()).containsExactly(PENDING, RELAYING, HEDGING, RELAYING, DONE);
    }
  }

  @Test
  void aHedgeThatIsRefusedLeavesTheFirstAttemptToGoOnAlone() {
    try (EmbeddedGateway g = new EmbeddedGateway(hedged(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(Duration.ofMillis(200));
      assertThat(g.state()).isEqualTo(HEDGING);
      g.refuse();
      assertThat(g.state()).as("the first attempt has no head yet").isEqualTo(PENDING);
      assertThat(g.pendingConnects()).as("no retry storm: the first attempt is still running").isZero();

      a.sseHead().chunk(HELLO).chunk(DONE_EVENT).end();

      assertThat(g.response().body()).isEqualTo(HELLO + DONE_EVENT);
      assertThat(g.states()).containsExactly(PENDING, HEDGING, PENDING, RELAYING, DONE);
    }
  }

  @Test
  void anErrorStatusOfTheFirstAttemptWhileHedgingIsTheClientsAnswer() {
    try (EmbeddedGateway g = new EmbeddedGateway(hedged(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(Duration.ofMillis(200));
      Conn b = g.accept();
      assertThat(g.state()).isEqualTo(HEDGING);

      String error = "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}";
      a.send("HTTP/1.1 400 X\r\nContent-Type: application/json\r\nContent-Length: " + error.length() + "\r\n\r\n");
      assertThat(g.state()).isEqualTo(ERROR_BODY);
      a.send(error);

      Response r = g.response();
      assertThat(r.status()).as("the request itself was refused: a hedge would fare no better").isEqualTo(400);
      assertThat(r.body()).contains("bad");
      assertThat(b.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, HEDGING, ERROR_BODY, FAILED);
    }
  }

  @Test
  void theFirstTokenTimeoutEndsAHedgedStreamWithBothAttemptsClosed() {
    GatewayConfig config = hedged().withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(60), Duration.ofSeconds(30),
        Duration.ofSeconds(30));
    try (EmbeddedGateway g = new EmbeddedGateway(config, A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(Duration.ofMillis(200));
      Conn b = g.accept();
      b.sseHead().chunk(ROLE);
      g.advance(Duration.ofMillis(800));

      Response r = g.response();
      assertThat(r.status()).as("no head went out: the timeout is the response").isEqualTo(504);
      assertThat(r.body()).contains("first_token_timeout");
      assertThat(a.isOpen()).isFalse();
      assertThat(b.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, HEDGING, FAILED);
    }
  }

  @Test
  void theClientClosingWhileHedgingClosesBothAttempts() {
    try (EmbeddedGateway g = new EmbeddedGateway(hedged(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(Duration.ofMillis(200));
      Conn b = g.accept();
      b.sseHead();
      g.clientCloses();

      assertThat(a.isOpen()).isFalse();
      assertThat(b.isOpen()).as("the hedge's model must stop too").isFalse();
      assertThat(g.states()).containsExactly(PENDING, HEDGING, CANCELLED);
    }
  }

  // ---------------------------------------------------------------- PENDING -> ERROR_BODY -> FAILED

  @Test
  void anUpstream4xxBodyBecomesTheClientsErrorResponse() {
    String error = "{\"error\":{\"message\":\"The model 'm' does not exist\",\"type\":\"invalid_request_error\","
        + "\"param\":\"model\",\"code\":\"model_not_found\"}}";
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.send("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Request-Id: req-404\r\nContent-Length: "
          + error.length() + "\r\n\r\n");
      assertThat(g.state()).as("a 4xx is about the request: not retried, its body collected").isEqualTo(ERROR_BODY);
      assertThat(g.pendingConnects()).isZero();
      assertThat(g.clientBytes()).isEmpty();

      a.send(error);
      Response r = g.response();
      assertThat(r.status()).isEqualTo(404);
      assertThat(r.headers()).containsEntry("content-type", "application/json")
          .containsEntry("x-request-id", "req-404");
      assertThat(r.body()).isEqualTo(error);
      assertThat(r.ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, ERROR_BODY, FAILED);
      assertThat(a.released).as("its response ended cleanly: the connection is pooled").isTrue();
    }
  }

  @Test
  void anUpstreamErrorAfterTheHeadWaitIsAnInBandErrorWithTheUpstreamsMessage() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(s(10));
      assertThat(g.response().status()).isEqualTo(200);
      assertThat(g.response().body()).isEqualTo(": ok\n\n");

      a.whole(400, "application/json", "{\"error\":{\"message\":\"bad model\",\"type\":\"invalid_request_error\","
          + "\"param\":\"model\",\"code\":\"model_not_found\"}}");
      Response r = g.response();
      assertThat(r.status()).as("the head went out: the status cannot change").isEqualTo(200);
      assertThat(r.body()).isEqualTo(": ok\n\nevent: error\ndata: {\"error\":{\"message\":\"bad model\","
          + "\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}\n\n");
      assertThat(r.ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, FAILED);
    }
  }

  // ---------------------------------------------------------------- RELAYING -> FAILED

  @Test
  void aCutAfterContentEndsWithAnInBandError() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      a.close();

      Response r = g.response();
      assertThat(r.body()).isEqualTo(ROLE + HELLO + openAiError(CUT_MESSAGE, "server_error", "upstream_cut"));
      assertThat(r.ended()).as("the terminating chunk follows the error event").isTrue();
      assertThat(g.pendingConnects()).as("content went out: no failover").isZero();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
      assertThat(g.client.isOpen()).as("the client connection stays usable").isTrue();
    }
  }

  @Test
  void aCleanEndWithoutTheTerminatorIsACutToo() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO).end();

      assertThat(g.response().body()).isEqualTo(ROLE + HELLO
          + openAiError("The upstream ended the stream without its terminator.", "server_error", "upstream_cut"));
      assertThat(g.response().ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
      assertThat(a.isOpen()).as("a connection whose stream was cut is not pooled").isFalse();
    }
  }

  // ---------------------------------------------------------------- RELAYING -> PENDING (failover)

  @Test
  void aCutBeforeGeneratedContentFailsOverAndOnlyTheSecondStreamReachesTheClient() {
    String roleA = sse(ChatChunks.role().replace("chatcmpl-1", "chatcmpl-A"));
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      assertThat(a.upstream.name()).isEqualTo("http://upstream-a:8000");
      a.sseHead().chunk(roleA);
      assertThat(g.state()).isEqualTo(RELAYING);
      a.close();

      assertThat(g.state()).as("nothing generated went out: start over").isEqualTo(PENDING);
      assertThat(g.pendingConnects()).isEqualTo(1);
      assertThat(g.response().body()).as("the held role chunk of the failed attempt is dropped").isEmpty();

      Conn b = g.accept();
      assertThat(b.upstream.name()).isEqualTo("http://upstream-b:8000");
      assertThat(b.request()).startsWith("POST /v1/chat/completions HTTP/1.1\r\n").endsWith(CHAT);
      b.sseHead().chunk(ROLE).chunk(HELLO).chunk(STOP).chunk(DONE_EVENT).end();

      Response r = g.response();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.headers()).as("the head of the stream the client got, not the failed attempt's")
          .containsEntry("x-request-id", "req-upstream-b");
      assertThat(r.body()).isEqualTo(ROLE + HELLO + STOP + DONE_EVENT);
      assertThat(r.ended()).isTrue();
      assertThat(g.clientBytes().split("HTTP/1.1 ", -1)).as("one head").hasSize(2);
      assertThat(g.states()).containsExactly(PENDING, RELAYING, PENDING, RELAYING, DONE);
      assertThat(g.gw.metrics().retries.get()).isEqualTo(1.0);
    }
  }

  @Test
  void anInBandErrorEventBeforeGeneratedContentFailsOverToo() {
    String overloaded = "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\","
        + "\"param\":null,\"code\":\"overloaded\"}}\n\n";
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(overloaded);
      assertThat(g.state()).isEqualTo(PENDING);
      assertThat(a.isOpen()).isFalse();
      assertThat(g.response().body()).isEmpty();

      g.accept().sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT).end();
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, PENDING, RELAYING, DONE);
    }
  }

  @Test
  void aStreamStillRunningWhenTheDrainEndsGetsAnInBandShutdownError() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      g.step(() -> g.exchange().shutdown());
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO
          + openAiError("The gateway is shutting down.", "server_error", "gateway_shutdown"));
      assertThat(g.response().ended()).isTrue();
      assertThat(a.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
    }
  }

  // ---------------------------------------------------------------- PENDING -> PENDING, PENDING -> FAILED

  @Test
  void aRefusedConnectIsRetriedOnTheNextUpstream() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      assertThat(g.refuse().name()).isEqualTo("http://upstream-a:8000");
      assertThat(g.state()).isEqualTo(PENDING);
      assertThat(g.pendingConnects()).as("a second attempt is connecting").isEqualTo(1);
      assertThat(g.gw.metrics().retries.get()).as("PENDING -> PENDING: one retry").isEqualTo(1.0);
      assertThat(g.clientBytes()).isEmpty();

      Conn b = g.accept();
      assertThat(b.upstream.name()).isEqualTo("http://upstream-b:8000");
      b.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT).end();
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
    }
  }

  @Test
  void a503HeadIsRetriedOnTheNextUpstreamAndItsBodyNeverReachesTheClient() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.send("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n");
      assertThat(g.state()).as("PENDING -> PENDING: overload is worth another upstream").isEqualTo(PENDING);
      assertThat(a.isOpen()).as("its body is not waited for").isFalse();
      assertThat(g.gw.metrics().retries.get()).isEqualTo(1.0);

      Conn b = g.accept();
      b.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT).end();
      assertThat(g.response().status()).isEqualTo(200);
      assertThat(g.response().headers()).containsEntry("x-request-id", "req-upstream-b");
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
    }
  }

  @Test
  void aPooledConnectionTheUpstreamHadClosedIsRetriedOnceOnTheSameUpstream() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT).end();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
      assertThat(a.released).isTrue();
      int second = g.clientBytes().length();

      g.post(CHAT_PATH, CHAT); // the next request on the same client connection gets the pooled one at once
      assertThat(g.pendingConnects()).isZero();
      assertThat(a.request().split("POST /v1/chat/completions ", -1)).as("two requests on one connection").hasSize(3);
      a.close(); // the upstream had closed it before our request arrived
      assertThat(g.state()).as("PENDING -> PENDING: a stale keep-alive, tried again").isEqualTo(PENDING);
      assertThat(g.pendingConnects()).isEqualTo(1);

      Conn fresh = g.accept();
      assertThat(fresh.upstream).isEqualTo(a.upstream);
      fresh.sseHead().chunk(ROLE).chunk(WORLD).chunk(DONE_EVENT).end();
      assertThat(g.responseFrom(second).body()).isEqualTo(ROLE + WORLD + DONE_EVENT);
      assertThat(g.responseFrom(second).ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
      assertThat(g.gw.metrics().retries.get()).as("not the upstream's failure: no retry counted").isZero();
    }
  }

  @Test
  void aWholeBodyCutMidWayClosesTheClientConnectionWithoutItsEnd() {
    String body = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
        + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":\"stop\"}]}";
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT.replace("\"stream\":true", "\"stream\":false"));
      Conn a = g.accept();
      a.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n"
          + body.substring(0, 20));
      assertThat(g.state()).isEqualTo(RELAYING);
      assertThat(g.response().headers()).containsEntry("content-length", String.valueOf(body.length()));
      assertThat(g.response().body()).isEqualTo(body.substring(0, 20));
      a.close();

      assertThat(g.state()).isEqualTo(FAILED);
      assertThat(g.pendingConnects()).as("bytes went out: no failover").isZero();
      assertThat(g.response().body()).isEqualTo(body.substring(0, 20));
      assertThat(g.response().ended()).isFalse();
      assertThat(g.client.isOpen()).as("closing short of Content-Length is how HTTP/1.1 says incomplete").isFalse();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
    }
  }

  @Test
  void aRefusedConnectWithNoUpstreamLeftIsA502() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      g.refuse();
      Response r = g.response();
      assertThat(r.status()).isEqualTo(502);
      assertThat(r.headers()).containsEntry("content-type", "application/json");
      assertThat(r.body()).isEqualTo("{\"error\":{\"message\":\"The upstream refused the connection.\","
          + "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_unavailable\"}}");
      assertThat(r.ended()).isTrue();
      assertThat(g.pendingConnects()).isZero();
      assertThat(g.states()).containsExactly(PENDING, FAILED);
    }
  }

  // ---------------------------------------------------------------- any -> CANCELLED

  @ParameterizedTest
  @EnumSource(value = StreamState.class, names = {"PENDING", "RELAYING", "ERROR_BODY"})
  void theClientClosingCancelsTheExchangeAndClosesTheUpstream(StreamState from) {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      String expectedBody = "";
      switch (from) {
        case PENDING -> { }
        case RELAYING -> {
          a.sseHead().chunk(ROLE).chunk(HELLO);
          expectedBody = ROLE + HELLO;
        }
        case ERROR_BODY -> a.send("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
        default -> throw new AssertionError(from);
      }
      assertThat(g.state()).isEqualTo(from);
      assertThat(a.isOpen()).isTrue();

      g.clientCloses();
      assertThat(g.state()).isEqualTo(CANCELLED);
      assertThat(a.isOpen()).as("closing the upstream is how it learns to stop generating").isFalse();
      assertThat(a.released).isFalse();
      assertThat(g.pendingConnects()).as("no retry for a client that left").isZero();
      assertThat(g.response().body()).isEqualTo(expectedBody);
      assertThat(g.response().ended()).isFalse();
      assertThat(g.states()).last().isEqualTo(CANCELLED);
      assertThat(g.states()).containsSubsequence(from, CANCELLED);
      assertThat(g.gw.metrics().cancels.get()).isEqualTo(1.0);
    }
  }

  @Test
  void aConnectionThatArrivesAfterTheClientLeftIsClosedAtOnce() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      g.clientCloses();
      assertThat(g.states()).containsExactly(PENDING, CANCELLED);
      Conn late = g.accept();
      assertThat(late.isOpen()).isFalse();
      assertThat(late.request()).as("no request is sent for a cancelled exchange").isEmpty();
      assertThat(g.clientBytes()).isEmpty();
    }
  }

  // ---------------------------------------------------------------- timers, by moving the loop's clock

  @Test
  void theHeadWaitSendsTheGatewaysOwnHeadAndThenTheUpstreamsStreamFollows() {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(s(9.999));
      assertThat(g.clientBytes()).isEmpty();
      g.advance(s(0.001));
      Response early = g.response();
      assertThat(early.status()).isEqualTo(200);
      assertThat(early.headers()).containsEntry("content-type", "text/event-stream; charset=utf-8")
          .doesNotContainKey("x-request-id");
      assertThat(early.body()).isEqualTo(": ok\n\n");
      assertThat(g.state()).as("still waiting for the upstream's head").isEqualTo(PENDING);
      assertThat(g.gw.metrics().earlyHeads.get()).isEqualTo(1.0);

      a.sseHead().chunk(ROLE).chunk(HELLO).chunk(DONE_EVENT).end();
      Response r = g.response();
      assertThat(r.body()).isEqualTo(": ok\n\n" + ROLE + HELLO + DONE_EVENT);
      assertThat(r.ended()).isTrue();
      assertThat(g.clientBytes().split("HTTP/1.1 ", -1)).as("the upstream's head does not go out again").hasSize(2);
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
    }
  }

  @Test
  void aHeartbeatGoesOutAfterEachQuietInterval() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(s(15), s(10), s(120), s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE);
      g.advance(s(14.999));
      assertThat(g.response().body()).isEmpty();
      g.advance(s(0.001));
      assertThat(g.response().body()).isEqualTo(": ping\n\n");
      assertThat(g.clientBytes()).as("a chunk of its own").endsWith("\r\n8\r\n: ping\n\n\r\n");

      g.advance(s(5));
      a.chunk(HELLO); // t = 20 s: the next heartbeat is due a full interval after this write
      g.advance(s(14.999));
      assertThat(g.response().body()).isEqualTo(": ping\n\n" + ROLE + HELLO);
      g.advance(s(0.001));
      assertThat(g.response().body()).isEqualTo(": ping\n\n" + ROLE + HELLO + ": ping\n\n");
      assertThat(g.gw.metrics().heartbeats.get()).isEqualTo(2.0);

      a.chunk(DONE_EVENT).end();
      g.advance(s(60));
      assertThat(g.response().body()).as("no heartbeat after the end").endsWith(HELLO + ": ping\n\n" + DONE_EVENT);
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
    }
  }

  @Test
  void theFirstTokenTimeoutEndsAStreamWithoutContentInBand() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(Duration.ZERO, s(10), s(30), s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE);
      g.advance(s(29.999));
      assertThat(g.state()).isEqualTo(RELAYING);
      assertThat(g.response().body()).isEmpty();
      g.advance(s(0.001));

      Response r = g.response();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).as("what the upstream said, then the error")
          .isEqualTo(ROLE + openAiError("The upstream sent no token in time.", "server_error", "first_token_timeout"));
      assertThat(r.ended()).isTrue();
      assertThat(a.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
    }
  }

  @Test
  void theFirstTokenTimeoutBeforeAnyHeadIsA504() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(Duration.ZERO, s(10), s(5), s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      g.advance(s(5));
      Response r = g.response();
      assertThat(r.status()).isEqualTo(504);
      assertThat(r.body()).isEqualTo("{\"error\":{\"message\":\"The upstream sent no token in time.\","
          + "\"type\":\"server_error\",\"param\":null,\"code\":\"first_token_timeout\"}}");
      assertThat(a.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, FAILED);
    }
  }

  @Test
  void theUpstreamIdleTimeoutCountsFromTheLastRead() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(Duration.ZERO, s(10), Duration.ZERO, s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept(); // t = 0: the request went up, the idle clock starts
      a.sseHead().chunk(ROLE).chunk(HELLO);
      g.advance(s(50));
      a.chunk(WORLD); // t = 50 s
      g.advance(s(59.999));
      assertThat(g.state()).as("59.999 s after the last read").isEqualTo(RELAYING);
      g.advance(s(0.001));

      Response r = g.response();
      assertThat(r.body()).isEqualTo(ROLE + HELLO + WORLD
          + openAiError("The upstream went silent.", "server_error", "upstream_idle_timeout"));
      assertThat(r.ended()).isTrue();
      assertThat(a.isOpen()).isFalse();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
    }
  }

  @Test
  void aClientThatStopsReadingPausesTheUpstreamAndIsDroppedAfterTheSlowClientTimeout() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(Duration.ZERO, s(10), s(120), s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      assertThat(a.ch.config().isAutoRead()).isTrue();

      g.clientWritable(false);
      assertThat(a.ch.config().isAutoRead()).as("backpressure: the upstream is not read").isFalse();
      g.advance(s(29.999));
      assertThat(g.state()).as("paused, not idle: the upstream's silence is the client's").isEqualTo(RELAYING);
      assertThat(g.client.isOpen()).isTrue();
      g.advance(s(0.001));

      assertThat(g.state()).isEqualTo(CANCELLED);
      assertThat(g.client.isOpen()).as("dropped: nothing more can be written to it").isFalse();
      assertThat(a.isOpen()).isFalse();
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO);
      assertThat(g.response().ended()).as("the close says the stream is incomplete").isFalse();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, CANCELLED);
      assertThat(g.gw.metrics().slowClients.get()).isEqualTo(1.0);
    }
  }

  @Test
  void aClientThatResumesInTimeKeepsItsStream() {
    try (EmbeddedGateway g = new EmbeddedGateway(timers(Duration.ZERO, s(10), s(120), s(60), s(30)), A)) {
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      g.clientWritable(false);
      g.advance(s(20));
      g.clientWritable(true);
      assertThat(a.ch.config().isAutoRead()).isTrue();
      g.advance(s(40)); // past the slow-client deadline, and 40 s of upstream silence counted from the resume
      assertThat(g.state()).isEqualTo(RELAYING);
      a.chunk(DONE_EVENT).end();
      assertThat(g.response().body()).isEqualTo(ROLE + HELLO + DONE_EVENT);
      assertThat(g.response().ended()).isTrue();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, DONE);
    }
  }

  // ---------------------------------------------------------------- a cut in each dialect's own shape

  static Stream<Arguments> dialects() {
    String ndjsonLine = "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\","
        + "\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n";
    return Stream.of(
        Arguments.of("/v1/messages", GatewayDialectTest.MESSAGES, "text/event-stream",
            GatewayDialectTest.A_OPEN + GatewayDialectTest.A_TEXT, GatewayDialectTest.A_OPEN + GatewayDialectTest.A_TEXT,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"" + CUT_MESSAGE
                + "\"}}\n\n"),
        Arguments.of("/v1/responses", GatewayDialectTest.RESPONSES, "text/event-stream",
            GatewayDialectTest.R_OPEN + GatewayDialectTest.R_TEXT, GatewayDialectTest.R_OPEN + GatewayDialectTest.R_TEXT,
            "event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_cut\",\"message\":\"" + CUT_MESSAGE
                + "\",\"param\":null,\"error\":{\"type\":\"server_error\",\"code\":\"upstream_cut\",\"message\":\""
                + CUT_MESSAGE + "\",\"param\":null}}\n\n"),
        Arguments.of("/api/chat", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "application/x-ndjson", ndjsonLine, ndjsonLine, "{\"error\":\"" + CUT_MESSAGE + "\"}\n"),
        Arguments.of("/v1/stream", "{\"model\":\"m\",\"prompt\":\"hi\"}", "text/event-stream", ROLE + HELLO,
            "data: Hello\n\n", openAiError(CUT_MESSAGE, "server_error", "upstream_cut")),
        Arguments.of("/v1/completions", "{\"model\":\"m\",\"stream\":true,\"prompt\":\"hi\"}", "text/event-stream",
            sse("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"Hi\"}]}"),
            sse("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"Hi\"}]}"),
            openAiError(CUT_MESSAGE, "server_error", "upstream_cut")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dialects")
  void aCutAfterContentEndsInTheDialectsOwnErrorShape(String path, String body, String contentType, String upstreamSends,
      String clientGets, String inBandError) {
    try (EmbeddedGateway g = new EmbeddedGateway(defaults(), A, B)) {
      g.post(path, body);
      Conn a = g.accept();
      a.head(200, contentType).chunk(upstreamSends);
      assertThat(g.state()).isEqualTo(RELAYING);
      a.close();

      Response r = g.response();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(clientGets + inBandError);
      assertThat(r.ended()).isTrue();
      assertThat(g.pendingConnects()).isZero();
      assertThat(g.states()).containsExactly(PENDING, RELAYING, FAILED);
    }
  }
}
