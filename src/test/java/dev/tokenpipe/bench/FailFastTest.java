package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.client.ErrorClass;
import dev.tokenpipe.client.ExchangeOutcome;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Which first outcomes stop a run ({@link FailFast}): only the same refusal, every time, from the start. */
class FailFastTest {
  private static ExchangeOutcome status(int code) {
    return new ExchangeOutcome(ErrorClass.HTTP_STATUS, code, "HTTP " + code + ": no", false, 0, true);
  }

  private static final ExchangeOutcome OK = new ExchangeOutcome(null, 200, "ok", true, 0, true);

  /** The index of the outcome that stopped the run, or -1. */
  private static int stopsAt(List<ExchangeOutcome> outcomes) {
    FailFast f = new FailFast();
    int at = -1;
    for (int i = 0; i < outcomes.size(); i++) {
      if (f.stop(outcomes.get(i), true)) {
        assertThat(at).as("stops once").isEqualTo(-1);
        at = i;
      }
    }
    return at;
  }

  private static List<ExchangeOutcome> times(int n, ExchangeOutcome o) {
    List<ExchangeOutcome> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(o);
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(ints = {400, 401, 403, 404, 405, 413, 415, 422})
  void theSameRefusalForTheFirstRequestsStopsTheRunAtTheLastOfThem(int code) {
    assertThat(stopsAt(times(20, status(code)))).isEqualTo(FailFast.REQUESTS - 1);
    FailFast f = new FailFast();
    times(FailFast.REQUESTS, status(code)).forEach(o -> f.stop(o, false));
    assertThat(f.warmupRefusals()).isEqualTo(FailFast.REQUESTS);
    assertThat(f.reason()).isEqualTo("the first 8 requests were all refused: HTTP " + code + ": no");
  }

  @ParameterizedTest
  @ValueSource(ints = {408, 409, 429, 500, 502, 503, 504})
  void errorsThatALoadTestMeasuresNeverStopIt(int code) {
    assertThat(stopsAt(times(50, status(code)))).isEqualTo(-1);
    for (ErrorClass other : List.of(ErrorClass.CONNECT, ErrorClass.TIMEOUT, ErrorClass.TRUNCATED, ErrorClass.STREAM_ERROR)) {
      assertThat(stopsAt(times(50, new ExchangeOutcome(other, 0, "no", false, 0, false)))).as("%s", other).isEqualTo(-1);
    }
  }

  @Test
  void aSuccessOrAnotherRefusalAmongTheFirstMeansTheRunGoesOn() {
    List<ExchangeOutcome> oneOk = times(FailFast.REQUESTS - 1, status(404));
    oneOk.add(OK);
    oneOk.addAll(times(50, status(404)));
    assertThat(stopsAt(oneOk)).isEqualTo(-1);

    List<ExchangeOutcome> two = times(3, status(404));
    two.addAll(times(50, status(401)));
    assertThat(stopsAt(two)).isEqualTo(-1);

    List<ExchangeOutcome> okFirst = new ArrayList<>(List.of(OK));
    okFirst.addAll(times(50, status(404)));
    assertThat(stopsAt(okFirst)).as("refusals after a success are the target's, to be measured").isEqualTo(-1);
  }

  private static final long SECOND = 1_000_000_000L;

  @Test
  void connectsThatNeverSucceedStopTheRunAtTheFirstFailureAfterTheGrace() {
    FailFast f = new FailFast();
    for (int i = 0; i < 100; i++) {
      assertThat(f.unreachable("connection refused: 127.0.0.1:9", i % 2 == 0, i * (SECOND / 100)))
          .as("within the grace a server may still be starting").isFalse();
    }
    assertThat(f.unreachable("connection refused: 127.0.0.1:9", true, FailFast.UNREACHABLE_AFTER_NANOS)).isTrue();
    assertThat(f.unreachable("connection refused: 127.0.0.1:9", true, 3 * SECOND)).as("once").isFalse();
    assertThat(f.unreachableReason())
        .isEqualTo("no connection in the first 2 s: connection refused: 127.0.0.1:9");
    assertThat(f.warmupConnectFailures()).isEqualTo(50);
  }

  @Test
  void aConnectionThatSucceededOnceMeansLaterConnectFailuresAreMeasured() {
    FailFast f = new FailFast();
    f.unreachable("connection refused", true, 0);
    f.connected();
    for (int i = 0; i < 100; i++) {
      assertThat(f.unreachable("connection refused", true, (2 + i) * SECOND)).as("a restart mid-run").isFalse();
    }
  }

  @Test
  void aSlowConnectTimeoutAloneIsEnoughOnceTheGraceHasPassed() {
    FailFast f = new FailFast();
    assertThat(f.unreachable("connect timed out after 10000 ms", true, 10 * SECOND)).isTrue();
    assertThat(f.unreachableReason()).isEqualTo("no connection in the first 10 s: connect timed out after 10000 ms");
  }
}
