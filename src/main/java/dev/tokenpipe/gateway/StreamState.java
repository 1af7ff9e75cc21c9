package dev.tokenpipe.gateway;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * Lifecycle of one proxied request. {@link ProxyExchange#moveTo} is the only place that changes it, and it
 * rejects any transition not listed here, so an impossible sequence (a second terminator, relaying after a
 * cancel) fails loudly in tests instead of corrupting a stream.
 *
 * <pre>
 *   PENDING ──(upstream head 2xx)──▶ RELAYING ──▶ DONE | FAILED | CANCELLED
 *      │  ▲ retry on another upstream while the client has no upstream event (also from RELAYING,
 *      │  └──┘ when the attempt failed after its head while its events without output were held)
 *      ├──(upstream error status, not retried)──▶ ERROR_BODY ──▶ FAILED | CANCELLED
 *      └──▶ FAILED | CANCELLED
 *
 *   PENDING | RELAYING ──(--hedge-after passed, nothing generated)──▶ HEDGING
 *   HEDGING ──(an attempt delivered first; or the hedge failed and the first goes on)──▶ RELAYING | PENDING
 *   HEDGING ──(both attempts failed: failover)──▶ PENDING;  ──▶ ERROR_BODY | FAILED | CANCELLED
 * </pre>
 *
 * <p>In HEDGING two attempts race (the first in the exchange, the second in a {@link HedgeAttempt} with a
 * lifecycle of its own); the client has seen at most a head and comments.
 *
 * <p>ProxyExchangeStateMachineTest drives every transition listed here, without sockets.
 */
enum StreamState {
  /** Choosing, connecting to or waiting for the head of an upstream. Retries happen here. */
  PENDING,
  /** Upstream bytes are being forwarded to the client as they arrive. */
  RELAYING,
  /** Two attempts race for the first generated event; nothing of either is committed to the client. */
  HEDGING,
  /**
   * The upstream answered an error status that is not retried: its body is collected for the client's error
   * response (with that status), or for the in-band error event when the client already has a 200 head.
   */
  ERROR_BODY,
  /** The upstream's own terminator was relayed. */
  DONE,
  /** Ended with an error response or an in-band error event. */
  FAILED,
  /** The client went away (or was dropped as too slow); the upstream was closed. */
  CANCELLED;

  boolean isTerminal() {
    return this == DONE || this == FAILED || this == CANCELLED;
  }

  boolean canMoveTo(StreamState next) {
    return Transitions.ALLOWED.get(this).contains(next);
  }

  /** The lifecycle's edges, built once: a set per move was made on every request's transitions. */
  private static final class Transitions {
    static final Map<StreamState, Set<StreamState>> ALLOWED = new EnumMap<>(StreamState.class);

    static {
      for (StreamState s : values()) {
        ALLOWED.put(s, Collections.unmodifiableSet(switch (s) {
          case PENDING -> EnumSet.of(PENDING, RELAYING, HEDGING, ERROR_BODY, FAILED, CANCELLED);
          case RELAYING -> EnumSet.of(PENDING, HEDGING, DONE, FAILED, CANCELLED);
          case HEDGING -> EnumSet.of(PENDING, RELAYING, ERROR_BODY, FAILED, CANCELLED);
          case ERROR_BODY -> EnumSet.of(FAILED, CANCELLED);
          case DONE, FAILED, CANCELLED -> EnumSet.noneOf(StreamState.class);
        }));
      }
    }
  }
}
