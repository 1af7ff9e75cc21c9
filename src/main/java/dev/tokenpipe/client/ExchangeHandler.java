package dev.tokenpipe.client;

import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.openai.Choices;
import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseException;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import dev.tokenpipe.time.DurationText;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one exchange at a time on its connection: writes the request, decodes the response head, turns the
 * body into timed {@link StreamEvent}s (SSE through {@link SseParser}, NDJSON per line, anything else per
 * chunk), and classifies how it ended. All state belongs to the channel's event loop.
 *
 * <p>Every event is classified once by the shared definition ({@link EventClassifier}, the same as the
 * gateway's), whatever the API: its terminator ({@code [DONE]}, {@code message_stop}, {@code
 * response.completed}, Ollama's {@code done}) makes the stream complete, and an error event (an SSE event named
 * {@code error}, an {@code "error"} member, {@code response.failed}) makes it a {@link ErrorClass#STREAM_ERROR}.
 * A stream that ends without its terminator is {@link ErrorClass#TRUNCATED}.
 */
final class ExchangeHandler extends ChannelInboundHandlerAdapter implements SseListener {
  /** How much of a non-stream or error body is kept for the error message. */
  private static final int KEEP_BODY_BYTES = 8192;

  private ReadClock clock;
  private ChannelHandlerContext ctx;

  /** Exchanges started on this connection: a write's completion belongs to the one that is still current. */
  private long exchanges;

  // Per exchange; reset by send().
  private ClientRequest request;
  private ExchangeListener listener;
  private ScheduledFuture<?> timeout;
  private boolean active;
  private boolean headReceived;
  /** An interim (1xx) head was read: its empty end is not the response's. */
  private boolean inInterim;
  private int status;
  private boolean keepAlive;
  private Framing framing;
  private String contentType;
  /** The response's Content-Encoding, "" for none or identity. */
  private String contentEncoding = "";
  /** A redirect's target, for the message: the client does not follow redirects. Null otherwise. */
  private String location;
  private SseParser parser;
  private boolean sawTerminator;
  /**
   * Choices that ended with a {@code finish_reason} ({@link EventKind#FINISHED}): one for each choice asked for is the
   * proof of a whole stream from a server that sends no terminator.
   */
  private int finishes;
  private long terminatorNanos;
  private long lastReadNanos;
  private String streamError;
  private int events;
  private ByteArrayOutputStream body;
  private ByteArrayOutputStream ndjsonLine;
  private long writeStartNanos;
  /** This exchange's deadline from its start, named by the timeout's error; 0 = none. */
  private long timeoutNanos;
  private long writeStartWallMicros;
  private boolean writtenReported;

  void clock(ReadClock clock) {
    this.clock = clock;
  }

  boolean busy() {
    return active;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  /** Starts an exchange; must run on the channel's event loop while no other exchange runs. */
  void send(ClientRequest req, ExchangeListener l, long timeoutNanos) {
    if (active) {
      throw new IllegalStateException("connection is busy");
    }
    request = req;
    listener = l;
    active = true;
    headReceived = false;
    inInterim = false;
    status = 0;
    keepAlive = false;
    framing = null;
    contentType = "";
    contentEncoding = "";
    location = null;
    parser = null;
    sawTerminator = false;
    finishes = 0;
    terminatorNanos = 0;
    lastReadNanos = 0;
    streamError = null;
    events = 0;
    body = null;
    ndjsonLine = null;
    writtenReported = false;
    if (!ctx.channel().isActive()) {
      fail(ErrorClass.IO, "connection closed before the request was sent", System.nanoTime());
      return;
    }
    this.timeoutNanos = timeoutNanos;
    if (timeoutNanos > 0) {
      timeout = ctx.executor().schedule(this::onTimeout, timeoutNanos, TimeUnit.NANOSECONDS);
    }
    FullHttpRequest http = toHttp(req);
    writeStartNanos = System.nanoTime();
    writeStartWallMicros = EmissionStamp.nowMicros();
    long exchange = ++exchanges;
    // "Written" is when the request's last byte went to the socket, stamped where the write completes: the
    // encoder and the socket write run inside writeAndFlush, and a fresh JVM's first one loads their classes
    // (135-447 ms of a fresh chat's TTFT against a 1 ms sim). Every user of the client gets the same start.
    //
    // The listener is made and put on the write's promise before the write, and stamps first: made after it (as
    // the argument of addListener on the future writeAndFlush returns), a fresh JVM spun the lambda's class and
    // linked this code after the bytes had gone, and the stamp came late by that much: a fresh chat reported
    // TTFT 92 ms against a sim whose first token comes 100 ms after it reads the request.
    ChannelPromise promise = ctx.newPromise();
    promise.addListener(f -> {
      long nanos = System.nanoTime();
      long wallMicros = EmissionStamp.nowMicros();
      if (exchange != exchanges || !active) {
        return; // this exchange is over (an answer and an end came before the write finished)
      }
      if (f.isSuccess()) {
        written(nanos, wallMicros);
      } else {
        fail(ErrorClass.IO, "could not send the request: " + describe(f.cause()), nanos);
      }
    });
    ctx.writeAndFlush(http, promise);
  }

  /** Each choice the request asked for ({@link Choices#requested}) finished; read only at an end without terminator. */
  private boolean finishedEveryChoice() {
    return finishes > 0 && finishes >= Choices.requested(new ByteArrayInputStream(request.body()));
  }

  /** Why a stream that never said its end event is incomplete, in one line. */
  private String truncated(boolean closed) {
    if (events == 0 && !contentEncoding.isEmpty()) {
      // Compressed bytes never parse as events: say so, not "cut" (the client asked for identity and does not inflate).
      return "the server compressed the stream (Content-Encoding: " + contentEncoding
          + ") though asked for identity: its events cannot be read as they come";
    }
    return (closed ? "connection closed mid-stream"
        : "stream ended without its end event ([DONE], message_stop, response.completed, done)") + " after " + events + " events";
  }

  /** Tells the listener the request was written, once per exchange. */
  private void written(long nanos, long wallMicros) {
    if (!writtenReported) {
      writtenReported = true;
      listener.onWritten(nanos, wallMicros);
    }
  }

  private static FullHttpRequest toHttp(ClientRequest req) {
    ByteBuf content = Unpooled.wrappedBuffer(req.body());
    FullHttpRequest http = new DefaultFullHttpRequest(
        HttpVersion.HTTP_1_1, HttpMethod.valueOf(req.method()), req.target().pathAndQuery(), content);
    http.headers()
        .set(HttpHeaderNames.HOST, req.target().hostHeader())
        .set(HttpHeaderNames.USER_AGENT, "tokenpipe")
        .set(HttpHeaderNames.ACCEPT, req.expectEventStream() ? "text/event-stream" : "*/*")
        // A compressed event stream is buffered by the compressor: ask for bytes as they are.
        .set(HttpHeaderNames.ACCEPT_ENCODING, HttpHeaderValues.IDENTITY);
    if (req.body().length > 0) {
      http.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
    }
    for (Map.Entry<String, String> h : req.headers()) {
      http.headers().set(h.getKey(), h.getValue());
    }
    HttpUtil.setContentLength(http, req.body().length);
    return http;
  }

  void onSocketRead(long nanos, long wallMicros, int bytes) {
    if (active) {
      if (!writtenReported) {
        // The server answered before the whole request was on the socket (a 413 for a large body): the write
        // never finished before the response, so its start is the only moment that precedes it.
        written(writeStartNanos, writeStartWallMicros);
      }
      lastReadNanos = nanos;
      listener.onRead(nanos, wallMicros, bytes);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (!active) {
        return; // bytes outside an exchange (a server talking out of turn): dropped
      }
      if (msg instanceof HttpResponse res) {
        onHead(res);
      }
      if (active && msg instanceof HttpContent content) {
        if (inInterim) {
          // The codec ends an interim head with an empty last content: the final head is still to come.
          inInterim = !(content instanceof LastHttpContent);
          return;
        }
        onContent(content);
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onHead(HttpResponse res) {
    if (res.decoderResult().isFailure()) {
      fail(ErrorClass.IO, "malformed HTTP response: " + describe(res.decoderResult().cause()), clock.readNanos);
      return;
    }
    if (res.status().codeClass() == HttpStatusClass.INFORMATIONAL
        && res.status().code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
      // 100 Continue, 103 Early Hints (RFC 9110 §15.2): interim, the answer follows. Taken for the answer, a 103
      // ended the exchange as "not a stream" and the real stream behind it was never read.
      inInterim = true;
      return;
    }
    headReceived = true;
    status = res.status().code();
    keepAlive = HttpUtil.isKeepAlive(res);
    contentType = String.valueOf(res.headers().get(HttpHeaderNames.CONTENT_TYPE, "")).toLowerCase(java.util.Locale.ROOT);
    String coding = String.valueOf(res.headers().get(HttpHeaderNames.CONTENT_ENCODING, "")).trim();
    contentEncoding = coding.equalsIgnoreCase("identity") ? "" : coding;
    location = status >= 300 && status < 400 ? res.headers().get(HttpHeaderNames.LOCATION) : null;
    // An error status's body is kept for its message, whatever it claims to be.
    framing = status < 400 ? Framing.of(res.headers()) : Framing.RAW;
    switch (framing) {
      case SSE -> parser = new SseParser(this);
      case NDJSON -> ndjsonLine = new ByteArrayOutputStream();
      case RAW -> body = new ByteArrayOutputStream();
    }
    listener.onHead(status, res.headers(), clock.readNanos);
  }

  private void onContent(HttpContent content) {
    if (content.decoderResult().isFailure()) {
      finish(true);
      return;
    }
    ByteBuf buf = content.content();
    if (buf.isReadable() && headReceived) {
      switch (framing) {
        case SSE -> {
          try {
            parser.feed(buf);
          } catch (SseException e) {
            fail(ErrorClass.INVALID_SSE, e.getMessage(), clock.readNanos);
            return;
          }
        }
        case NDJSON -> feedNdjson(buf);
        case RAW -> {
          keep(buf);
          if (status < 400) {
            emit(new SseEvent("chunk", buf.toString(StandardCharsets.UTF_8), ""), EventKind.NONE);
          }
        }
      }
    }
    if (active && content instanceof LastHttpContent) {
      finish(false);
    }
  }

  private void feedNdjson(ByteBuf buf) {
    for (int i = buf.readerIndex(); i < buf.writerIndex() && active; i++) {
      byte b = buf.getByte(i);
      if (b == '\n') {
        String line = ndjsonLine.toString(StandardCharsets.UTF_8).strip();
        ndjsonLine.reset();
        if (!line.isEmpty()) {
          emit(new SseEvent("message", line, ""), EventClassifier.classify(null, line));
        }
      } else {
        ndjsonLine.write(b);
      }
    }
  }

  private void keep(ByteBuf buf) {
    int room = KEEP_BODY_BYTES - body.size();
    if (room > 0) {
      byte[] bytes = new byte[Math.min(room, buf.readableBytes())];
      buf.getBytes(buf.readerIndex(), bytes);
      body.writeBytes(bytes);
    }
  }

  @Override
  public void onEvent(SseEvent event) {
    emit(event, EventClassifier.classify(event.type(), event.data()));
  }

  @Override
  public void onComment(String comment) {
    listener.onComment(comment, clock.readNanos);
  }

  /** Hands one event out; {@code kind} is its classification by the shared definition. */
  private void emit(SseEvent event, long kind) {
    StreamEvent timed = new StreamEvent(event, clock.readNanos, clock.readWallMicros, System.nanoTime(), events++, kind);
    if (EventKind.has(kind, EventKind.TERMINATOR) && !sawTerminator) {
      sawTerminator = true;
      terminatorNanos = timed.readNanos();
    }
    if (EventKind.has(kind, EventKind.FINISHED)) {
      finishes++;
    }
    if (EventKind.has(kind, EventKind.ERROR) && streamError == null) {
      streamError = ChunkContent.errorText(event.data());
      if (streamError.isEmpty()) {
        streamError = "error event";
      }
    }
    listener.onEvent(timed);
  }

  /** The response ended, by its last chunk or ({@code closed}) by the connection closing first. */
  private void finish(boolean closed) {
    long end = sawTerminator ? terminatorNanos : lastReadNanos > 0 ? lastReadNanos : System.nanoTime();
    ErrorClass error = null;
    String message = "ok";
    if (status >= 400) {
      error = ErrorClass.HTTP_STATUS;
      String text = ChunkContent.errorText(body.toString(StandardCharsets.UTF_8));
      message = "HTTP " + status + (text.isEmpty() ? "" : ": " + text);
    } else if (streamError != null) {
      error = ErrorClass.STREAM_ERROR;
      message = "error event: " + streamError;
    } else if (request.expectEventStream() && framing == Framing.RAW) {
      error = ErrorClass.NOT_STREAM;
      // A status other than 200 is what to tell first: a 301 to the https:// URL said only "no content type".
      message = (status == 200 ? "" : "HTTP " + status + (location != null ? " (redirect to " + location + ")" : "") + ": ")
          + "expected text/event-stream but got " + (contentType.isEmpty() ? "no content type" : "'" + contentType + "'")
          + (body.size() > 0 ? ": " + ChunkContent.errorText(body.toString(StandardCharsets.UTF_8)) : "");
    } else if (!(sawTerminator || !closed && finishedEveryChoice()) && (closed || (framing.isStream() && request.expectEventStream()))) {
      // Whole: the terminator, or each choice's finish_reason and then the body's own end (servers that send no
      // [DONE] end so, and the SDKs take it as whole); a close after the finishes proves nothing.
      error = ErrorClass.TRUNCATED;
      message = truncated(closed);
    } else if (closed && framing.isStream()) {
      // Every event came, but the body did not end (no last chunk, bytes short of Content-Length, broken
      // framing): a client that reads the body to its end, as the SDKs do after [DONE], fails on it.
      error = ErrorClass.IO;
      message = "connection closed before the response's end, after its end event (" + events + " events)";
    }
    boolean reusable = !closed && keepAlive && error != ErrorClass.TRUNCATED && ctx.channel().isActive();
    end(new ExchangeOutcome(error, status, message, sawTerminator, end, reusable));
  }

  private void fail(ErrorClass error, String message, long nanos) {
    end(new ExchangeOutcome(error, status, message, sawTerminator, nanos, false));
  }

  private void end(ExchangeOutcome outcome) {
    if (!active) {
      return;
    }
    active = false;
    if (timeout != null) {
      timeout.cancel(false);
      timeout = null;
    }
    if (parser != null) {
      parser.end();
    }
    if (!outcome.reusable()) {
      ctx.channel().close();
    }
    ExchangeListener l = listener;
    listener = null;
    request = null;
    l.onEnd(outcome);
  }

  private void onTimeout() {
    if (active) {
      // The duration, not "the request timeout": each command names the flag that set it, the client cannot.
      fail(ErrorClass.TIMEOUT, (headReceived ? "response did not end" : "no response") + " within "
          + DurationText.format(Duration.ofNanos(timeoutNanos)) + " (" + events + " events received)", System.nanoTime());
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (active) {
      if (headReceived) {
        finish(true);
      } else {
        fail(ErrorClass.IO, "connection closed before a response arrived", System.nanoTime());
      }
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (active) {
      if (headReceived) {
        finish(true);
      } else {
        fail(ErrorClass.IO, describe(cause), System.nanoTime());
      }
    }
    ctx.close();
  }

  static String describe(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getMessage() == null) {
      c = c.getCause();
    }
    String m = c.getMessage();
    return m == null || m.isBlank() ? c.getClass().getSimpleName() : m;
  }
}
