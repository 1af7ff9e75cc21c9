package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The hedged phase in both state machines: the exchange's {@link StreamState} and the hedge's own. */
class HedgeStatesTest {
  @Test
  void aRaceStartsOnlyBeforeAnythingIsCommittedAndEndsInOneStreamOrAFailover() {
    assertThat(StreamState.PENDING.canMoveTo(StreamState.HEDGING)).as("first upstream still silent").isTrue();
    assertThat(StreamState.RELAYING.canMoveTo(StreamState.HEDGING)).as("head and role chunk, no token").isTrue();
    assertThat(StreamState.ERROR_BODY.canMoveTo(StreamState.HEDGING)).as("an error is being relayed").isFalse();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.RELAYING)).as("one attempt won").isTrue();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.PENDING)).as("both failed: failover").isTrue();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.HEDGING)).as("one hedge per request").isFalse();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.DONE)).as("a stream ends only after a winner relayed").isFalse();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.CANCELLED)).isTrue();
    assertThat(StreamState.HEDGING.canMoveTo(StreamState.FAILED)).isTrue();
    assertThat(StreamState.HEDGING.isTerminal()).isFalse();
    for (StreamState end : new StreamState[] {StreamState.DONE, StreamState.FAILED, StreamState.CANCELLED}) {
      assertThat(end.canMoveTo(StreamState.HEDGING)).isFalse();
    }
  }

  @Test
  void aHedgeDecidesOnlyAfterAStreamHeadAndEndsOnce() {
    HedgeAttempt.State connecting = HedgeAttempt.State.CONNECTING;
    assertThat(connecting.allowedNext()).containsExactlyInAnyOrder(HedgeAttempt.State.AWAITING_HEAD,
        HedgeAttempt.State.FAILED, HedgeAttempt.State.CANCELLED);
    assertThat(HedgeAttempt.State.AWAITING_HEAD.allowedNext()).as("no win without a head")
        .doesNotContain(HedgeAttempt.State.WON).contains(HedgeAttempt.State.CONNECTING); // a stale pooled connection
    assertThat(HedgeAttempt.State.HOLDING.allowedNext()).containsExactlyInAnyOrder(HedgeAttempt.State.WON,
        HedgeAttempt.State.FAILED, HedgeAttempt.State.CANCELLED);
    for (HedgeAttempt.State end : new HedgeAttempt.State[] {
        HedgeAttempt.State.WON, HedgeAttempt.State.FAILED, HedgeAttempt.State.CANCELLED}) {
      assertThat(end.isTerminal()).isTrue();
      assertThat(end.allowedNext()).isEmpty();
    }
  }
}
