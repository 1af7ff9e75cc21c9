package dev.tokenpipe.doctor;

import dev.tokenpipe.client.ChunkContent;
import dev.tokenpipe.client.ExchangeListener;
import dev.tokenpipe.client.ExchangeOutcome;
import dev.tokenpipe.client.StreamEvent;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.tokens.Tokenizer;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Records one exchange of the shared streaming client into a {@link Trace.Response}: every socket read, every
 * event with its emission stamp and token count, every comment, the head as {@link BodyTap} saw it. Runs on the
 * connection's event loop; {@link #result()} completes once, when the exchange ends.
 */
final class ResponseRecorder implements ExchangeListener {
  private final boolean probe;
  private final CompletableFuture<Trace.Response> result = new CompletableFuture<>();

  private long writtenNanos;
  private int status;
  private String httpVersion = "";
  private final List<Trace.Header> headers = new ArrayList<>();
  private long headNanos;
  private final List<Trace.Read> reads = new ArrayList<>();
  private final List<Trace.Arrival> events = new ArrayList<>();
  private final List<Long> comments = new ArrayList<>();
  private long lastSeq = -1;
  private String contentEncoding = "";
  private String undecodable;

  /** @param probe events are tokenpipe probe events: each counts as one token */
  ResponseRecorder(boolean probe) {
    this.probe = probe;
  }

  CompletableFuture<Trace.Response> result() {
    return result;
  }

  void head(HttpResponse res) {
    httpVersion = res.protocolVersion().text();
    for (Map.Entry<String, String> h : res.headers()) {
      headers.add(new Trace.Header(h.getKey(), h.getValue()));
    }
    contentEncoding = String.valueOf(res.headers().get("content-encoding", ""));
  }

  String contentEncoding() {
    return contentEncoding;
  }

  void undecodable(String why) {
    undecodable = why;
  }

  void midEvent(boolean mid) {
    if (!reads.isEmpty()) {
      Trace.Read r = reads.getLast();
      reads.set(reads.size() - 1, new Trace.Read(r.nanos(), r.wallMicros(), r.bytes(), mid));
    }
  }

  @Override
  public void onWritten(long nanos, long wallMicros) {
    writtenNanos = nanos;
  }

  @Override
  public void onHead(int status, HttpHeaders h, long nanos) {
    this.status = status;
    this.headNanos = nanos;
  }

  @Override
  public void onRead(long nanos, long wallMicros, int bytes) {
    reads.add(new Trace.Read(nanos, wallMicros, bytes, false));
  }

  @Override
  public void onEvent(StreamEvent e) {
    String data = e.data();
    long emit = -1;
    var stamp = EmissionStamp.parse(e.event().lastEventId());
    if (stamp.isPresent() && stamp.get().seq() != lastSeq) {
      lastSeq = stamp.get().seq();
      emit = stamp.get().emitMicros();
    }
    boolean done = e.isTerminator();
    int tokens = 0;
    if (!done) {
      if (probe) {
        tokens = 1;
      } else {
        ChunkContent c = ChunkContent.of(e.event().type(), data);
        String text = c.content() + c.reasoning() + c.toolCall();
        tokens = text.isEmpty() ? 0 : Math.max(1, Tokenizer.cl100k().count(text));
      }
    }
    events.add(new Trace.Arrival(e.readNanos(), e.readWallMicros(), emit,
        data.getBytes(StandardCharsets.UTF_8).length, tokens, done));
  }

  @Override
  public void onComment(String text, long nanos) {
    comments.add(nanos);
  }

  @Override
  public void onEnd(ExchangeOutcome o) {
    String error = o.ok() ? null : o.errorKey();
    String message = undecodable != null && error != null ? undecodable : o.message();
    // A failure ends when it is observed (a close, a timeout), not at the last byte read before it.
    long end = o.ok() ? o.endNanos() : System.nanoTime();
    result.complete(new Trace.Response(writtenNanos, status != 0 ? status : o.status(), httpVersion, headers, headNanos,
        reads, events, comments, end, error, message));
  }
}
