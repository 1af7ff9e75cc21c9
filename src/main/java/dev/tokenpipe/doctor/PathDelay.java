package dev.tokenpipe.doctor;

import java.util.ArrayList;
import java.util.List;

/**
 * The part of every stamped event's arrival − emission that no layer held: the link's one-way delay plus the offset
 * between the stamping server's clock and doctor's. On one host both are near zero; against a server in another
 * region (a deployed {@code serve}'s probe route, a {@code sim} standing in for a remote model) the link alone is
 * tens of milliseconds, and a clock a few milliseconds off moves every hold by as much. Left in, a clean path 60 ms
 * away showed "events held in transit, p90 61 ms", and a delay of one token interval looked like each event held
 * until the next one; a server clock ahead of doctor's made holds negative, which read as none.
 *
 * <p>Read as LEDBAT reads a path's base delay without synchronized clocks (RFC 6817): the least arrival − emission
 * of each stream's stamped content events, the event that waited least. Each stream is one connection, and behind a
 * balancer each may reach another server with a clock of its own. It is taken out of every stamp
 * ({@link #removedFrom}) when it is {@value #NOISE_MICROS} µs or more away from zero and either
 * <ul>
 *   <li>negative in every stream: an event read before it was emitted means that server's clock runs ahead, whatever
 *       else holds; added as far as every stream shows it (the least lead), so one replica's clock ahead does not make
 *       the events from another look held; or
 *   <li>positive: the least of the streams whose server is not ahead (a stream that is keeps its own reading, clamped
 *       at zero, as before), from at least {@value #MIN_EVENTS} stamped events: fewer, and one held answer would be
 *       its own base. It is then at most half the quickest round trip to the stamping server ({@link #roundTripMicros},
 *       on doctor's clock alone): the link's way back, taking the two ways as equal as NTP does (RFC 5905). What lies
 *       beyond is held, or a server clock behind doctor's, and stays in the holds; a layer that holds every event
 *       140 ms and sends the head with the first still shows 70 ms of it.
 * </ul>
 * A layer that holds every event of every stream by the same amount is no longer seen as holding (its pacing is the
 * source's, only later); the layers doctor names hold events by varying amounts, and each pattern keeps its
 * least-held event (held-until-end its last, bursts the one before each flush, one-behind the last content event, sent
 * on at once by the end that follows it).
 *
 * @param micros        taken out of every stamped event's arrival − emission (0: none; negative: the server's clock
 *                      ahead, so as much is added)
 * @param fastestMicros the least arrival − emission {@code micros} was read from (of the streams whose server is not
 *                      ahead, when one is not), taken out or not: more than {@code micros} when the round trip bounded it;
 *                      0 when nothing is stamped
 */
record PathDelay(long micros, long fastestMicros) {
  /** Below this, either way, the delay is the machine's own noise and is left in (µs). */
  static final long NOISE_MICROS = 2_000;
  /** Stamped content events a positive delay is read from, at least. */
  static final int MIN_EVENTS = 8;
  static final PathDelay NONE = new PathDelay(0, 0);

  /** The delay to take out of {@code trace}'s stamps. */
  static PathDelay of(Trace trace) {
    // Each stream's own least: a stream is one connection, and behind a balancer each may reach another server,
    // with a clock of its own.
    List<Base> streams = new ArrayList<>();
    long quickestRoundTrip = Long.MAX_VALUE;
    for (Trace.Response r : trace.responses()) {
      if (!Analyzer.usable(r)) {
        continue;
      }
      long least = Long.MAX_VALUE;
      int stamped = 0;
      for (Trace.Arrival a : r.contentEvents()) {
        if (a.emitMicros() >= 0) {
          least = Math.min(least, a.readWallMicros() - a.emitMicros());
          stamped++;
        }
      }
      if (stamped > 0) {
        streams.add(new Base(least, stamped));
      }
      quickestRoundTrip = Math.min(quickestRoundTrip, roundTripMicros(r));
    }
    if (streams.isEmpty()) {
      return NONE;
    }
    long nearestZero = streams.stream().mapToLong(Base::least).max().orElseThrow();
    if (nearestZero <= -NOISE_MICROS) {
      // Every stream's server is ahead: added as far as each shows it, so a stream whose server leads less (another
      // replica) is not made to look held by another's clock.
      return new PathDelay(nearestZero, nearestZero);
    }
    // The streams whose server is ahead are left as they read (clamped at zero): their lead is no delay of the others.
    List<Base> notAhead = streams.stream().filter(b -> b.least() > -NOISE_MICROS).toList();
    long least = notAhead.stream().mapToLong(Base::least).min().orElseThrow();
    int stamped = notAhead.stream().mapToInt(Base::stamped).sum();
    if (least < NOISE_MICROS) {
      return new PathDelay(0, least);
    }
    long delay = Math.min(least, quickestRoundTrip / 2);
    return new PathDelay(stamped >= MIN_EVENTS && delay >= NOISE_MICROS ? delay : 0, least);
  }

  /** One stream's least arrival − emission, and how many stamped content events it was read from. */
  private record Base(long least, int stamped) {}

  /**
   * The round trip to the server whose clock stamps, on doctor's clock alone: request written to its first answer
   * read. That is the head, unless the server stamps an opening event (the sim's role chunk, message_start,
   * response.created: no tokens), which it sends as the request reaches it, as it does its head: a gateway in front
   * may send its own head at once (serve {@code --head-wait 0}), and that round trip is no bound on the link behind
   * it. The opening event is never read before the head, so it only ever widens the bound to that link's.
   */
  private static long roundTripMicros(Trace.Response r) {
    for (Trace.Arrival a : r.events()) {
      if (a.content()) {
        break;
      }
      if (a.emitMicros() >= 0) {
        return (a.readNanos() - r.writtenNanos()) / 1_000;
      }
    }
    return r.headNanos() > 0 ? (r.headNanos() - r.writtenNanos()) / 1_000 : Long.MAX_VALUE;
  }

  /** {@code trace} with {@link #micros} taken out of every stamped event's arrival − emission. */
  Trace removedFrom(Trace trace) {
    if (micros == 0) {
      return trace;
    }
    return new Trace(trace.target(), trace.probeUrl(), trace.pacing(), shifted(trace.responses(), micros),
        trace.idle() == null ? null : shifted(trace.idle(), micros), trace.idleNanos());
  }

  private static List<Trace.Response> shifted(List<Trace.Response> rs, long micros) {
    return rs.stream().map(r -> shifted(r, micros)).toList();
  }

  private static Trace.Response shifted(Trace.Response r, long micros) {
    List<Trace.Arrival> events = r.events().stream()
        .map(a -> a.emitMicros() < 0 ? a
            : new Trace.Arrival(a.readNanos(), a.readWallMicros(), a.emitMicros() + micros, a.dataBytes(), a.tokens(), a.done()))
        .toList();
    return new Trace.Response(r.writtenNanos(), r.status(), r.httpVersion(), r.headers(), r.headNanos(), r.reads(),
        events, r.commentNanos(), r.endNanos(), r.error(), r.errorMessage());
  }
}
