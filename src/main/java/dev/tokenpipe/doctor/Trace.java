package dev.tokenpipe.doctor;

import java.util.List;
import java.util.Locale;

/**
 * Everything a doctor run observed, and nothing else: the input of the pure {@link Analyzer}. Times are
 * {@code System.nanoTime()} values of one process (comparable across the responses of a run); wall-clock
 * microseconds only where they meet an emission stamp from the server.
 *
 * @param target      the URL the user gave
 * @param probeUrl    the known-pacing probe URL when the target is tokenpipe ({@code /tokenpipe/probe} answered),
 *                    else null
 * @param pacing      the probe's pacing when {@code probeUrl} is set, else null
 * @param responses   the streams measured together (one per {@code --concurrency}), started in order
 * @param idle        the quiet-stream run of {@code --idle-test}, or null
 * @param idleNanos   how long the idle run kept the stream quiet, 0 without one
 */
public record Trace(String target, String probeUrl, Pacing pacing, List<Response> responses, Response idle, long idleNanos) {

  public Trace {
    responses = List.copyOf(responses);
  }

  public boolean probeMode() {
    return pacing != null;
  }

  /**
   * The pacing the probe was asked for.
   *
   * @param intervalNanos gap between events at the source
   * @param count         events per stream
   * @param sizeBytes     data bytes per event
   */
  public record Pacing(long intervalNanos, int count, int sizeBytes) {}

  /** One response header, in arrival order. */
  public record Header(String name, String value) {}

  /**
   * One socket read.
   *
   * @param nanos      when the read returned
   * @param wallMicros wall clock of the same moment
   * @param bytes      bytes read (after TLS), including HTTP framing
   * @param midEvent   the body bytes seen so far end inside an SSE event (not at a blank line); only known for
   *                   uncompressed SSE, false otherwise
   */
  public record Read(long nanos, long wallMicros, int bytes, boolean midEvent) {}

  /**
   * One parsed event.
   *
   * @param readNanos      when the read that completed it returned
   * @param readWallMicros wall clock of that read
   * @param emitMicros     wall-clock emission time from its {@code tp.<seq>.<micros>} id, or -1
   * @param dataBytes      bytes of its data field
   * @param tokens         generated tokens it carries (0 for role, usage and terminator events)
   * @param done           it is the stream's terminator ({@code [DONE]}, {@code message_stop},
   *                       {@code response.completed}, ...; see {@link dev.tokenpipe.client.StreamEvent#isTerminator()})
   */
  public record Arrival(long readNanos, long readWallMicros, long emitMicros, int dataBytes, int tokens, boolean done) {
    public boolean content() {
      return tokens > 0;
    }
  }

  /**
   * One streamed response.
   *
   * @param writtenNanos  the request was handed to the socket
   * @param status        HTTP status, 0 when none arrived
   * @param httpVersion   e.g. {@code HTTP/1.1}, "" when no head arrived
   * @param headers       response headers in order
   * @param headNanos     when the head was read, 0 when none
   * @param reads         every socket read, head included
   * @param events        every parsed event
   * @param commentNanos  read times of SSE comments (heartbeats)
   * @param endNanos      when the response ended (last byte, close or failure)
   * @param error         null on success, else the client's error key ({@code connect}, {@code http_502},
   *                      {@code truncated}, ...)
   * @param errorMessage  one line for humans, "ok" on success
   */
  public record Response(
      long writtenNanos, int status, String httpVersion, List<Header> headers, long headNanos, List<Read> reads,
      List<Arrival> events, List<Long> commentNanos, long endNanos, String error, String errorMessage) {

    public Response {
      headers = List.copyOf(headers);
      reads = List.copyOf(reads);
      events = List.copyOf(events);
      commentNanos = List.copyOf(commentNanos);
    }

    public boolean ok() {
      return error == null;
    }

    /** The first value of a header, matched case-insensitively, or "". */
    public String header(String name) {
      for (Header h : headers) {
        if (h.name().equalsIgnoreCase(name)) {
          return h.value();
        }
      }
      return "";
    }

    /** {@code gzip}, {@code br}, ... or "" for an uncompressed body. */
    public String contentEncoding() {
      String e = header("content-encoding").trim().toLowerCase(Locale.ROOT);
      return e.equals("identity") ? "" : e;
    }

    public List<Arrival> contentEvents() {
      return events.stream().filter(Arrival::content).toList();
    }

    /** Request written to first byte read, or -1. */
    public long ttfbNanos() {
      return reads.isEmpty() ? -1 : reads.getFirst().nanos() - writtenNanos;
    }

    /** Request written to the first event carrying content, or -1. */
    public long ttftNanos() {
      for (Arrival a : events) {
        if (a.content()) {
          return a.readNanos() - writtenNanos;
        }
      }
      return -1;
    }
  }
}
