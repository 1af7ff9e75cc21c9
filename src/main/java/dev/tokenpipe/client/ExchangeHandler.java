package dev.tokenpipe.client;

import dev.tokenpipe.sse.SseEvent;
import dev.tokenpipe.sse.SseException;
import dev.tokenpipe.sse.SseListener;
import dev.tokenpipe.sse.SseParser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one exchange at a time on its connection: writes the request, decodes the response head, turns the
 * body into timed {@link StreamEvent}s (SSE through {@link SseParser}, NDJSON per line, anything else per
 * chunk), and classifies how it ended. All state belongs to the channel's event loop.
 */
final class ExchangeHandler extends ChannelInboundHandlerAdapter implements SseListener {
  /** How much of a non-stream or error body is kept for the error message. */
  private static final int KEEP_BODY_BYTES = 8192;

  enum Framing { SSE, NDJSON, BODY }

  private ReadClock clock;
  private ChannelHandlerContext ctx;

  // Per exchange; reset by send().
  private ClientRequest request;
  private ExchangeListener listener;
  private ScheduledFuture<?> timeout;
  private boolean active;
  private boolean headReceived;
  private int status;
  private boolean keepAlive;
  private Framing framing;
  private String contentType;
  private SseParser parser;
  private boolean sawDone;
  private long doneNanos;
  private long lastReadNanos;
  private String streamError;
  private int events;
  private ByteArrayOutputStream body;
  private ByteArrayOutputStream ndjsonLine;

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
    status = 0;
    keepAlive = false;
    framing = null;
    contentType = "";
    parser = null;
    sawDone = false;
    doneNanos = 0;
    lastReadNanos = 0;
    streamError = null;
    events = 0;
    body = null;
    ndjsonLine = null;
    if (!ctx.channel().isActive()) {
      fail(ErrorClass.IO, "connection closed before the request was sent", System.nanoTime());
      return;
    }
    if (timeoutNanos > 0) {
      timeout = ctx.executor().schedule(this::onTimeout, timeoutNanos, TimeUnit.NANOSECONDS);
    }
    FullHttpRequest http = toHttp(req);
    long now = System.nanoTime();
    listener.onWritten(now, dev.tokenpipe.sse.EmissionStamp.nowMicros());
    ctx.writeAndFlush(http).addListener(f -> {
      if (!f.isSuccess() && active) {
        fail(ErrorClass.IO, "could not send the request: " + describe(f.cause()), System.nanoTime());
      }
    });
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
    if (res.status().code() == 100) {
      return;
    }
    headReceived = true;
    status = res.status().code();
    keepAlive = HttpUtil.isKeepAlive(res);
    contentType = String.valueOf(res.headers().get(HttpHeaderNames.CONTENT_TYPE, "")).toLowerCase(Locale.ROOT);
    if (status < 400 && contentType.startsWith("text/event-stream")) {
      framing = Framing.SSE;
      parser = new SseParser(this);
    } else if (status < 400 && (contentType.startsWith("application/x-ndjson") || contentType.startsWith("application/jsonl"))) {
      framing = Framing.NDJSON;
      ndjsonLine = new ByteArrayOutputStream();
    } else {
      framing = Framing.BODY;
      body = new ByteArrayOutputStream();
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
        case BODY -> {
          keep(buf);
          if (status < 400) {
            emit(new SseEvent("chunk", buf.toString(StandardCharsets.UTF_8), ""));
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
          emit(new SseEvent("message", line, ""));
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
    emit(event);
  }

  @Override
  public void onComment(String comment) {
    listener.onComment(comment, clock.readNanos);
  }

  private void emit(SseEvent event) {
    StreamEvent timed = new StreamEvent(event, clock.readNanos, clock.readWallMicros, System.nanoTime(), events++);
    String data = event.data();
    if (data.equals("[DONE]")) {
      sawDone = true;
      doneNanos = timed.readNanos();
    } else if (streamError == null && isErrorEvent(event)) {
      streamError = ChunkContent.errorText(data);
      if (streamError.isEmpty()) {
        streamError = "error event";
      }
    }
    listener.onEvent(timed);
  }

  private static boolean isErrorEvent(SseEvent event) {
    if (event.type().equals("error")) {
      return true;
    }
    String d = event.data();
    int i = 0;
    while (i < d.length() && Character.isWhitespace(d.charAt(i))) {
      i++;
    }
    return d.startsWith("{\"error\"", i) || d.startsWith("{ \"error\"", i);
  }

  /** The response ended, by its last chunk or ({@code closed}) by the connection closing first. */
  private void finish(boolean closed) {
    long end = sawDone ? doneNanos : lastReadNanos > 0 ? lastReadNanos : System.nanoTime();
    ErrorClass error = null;
    String message = "ok";
    if (status >= 400) {
      error = ErrorClass.HTTP_STATUS;
      String text = ChunkContent.errorText(body.toString(StandardCharsets.UTF_8));
      message = "HTTP " + status + (text.isEmpty() ? "" : ": " + text);
    } else if (streamError != null) {
      error = ErrorClass.STREAM_ERROR;
      message = "error event: " + streamError;
    } else if (request.expectEventStream() && framing == Framing.BODY) {
      error = ErrorClass.NOT_STREAM;
      message = "expected text/event-stream but got " + (contentType.isEmpty() ? "no content type" : "'" + contentType + "'")
          + (body.size() > 0 ? ": " + ChunkContent.errorText(body.toString(StandardCharsets.UTF_8)) : "");
    } else if (!sawDone && (closed || (framing == Framing.SSE && request.expectEventStream()))) {
      error = ErrorClass.TRUNCATED;
      message = (closed ? "connection closed mid-stream" : "stream ended without [DONE]") + " after " + events + " events";
    }
    boolean reusable = !closed && keepAlive && error != ErrorClass.TRUNCATED && ctx.channel().isActive();
    end(new ExchangeOutcome(error, status, message, sawDone, end, reusable));
  }

  private void fail(ErrorClass error, String message, long nanos) {
    end(new ExchangeOutcome(error, status, message, sawDone, nanos, false));
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
      fail(ErrorClass.TIMEOUT, (headReceived ? "response did not end" : "no response") + " within the request timeout"
          + " (" + events + " events received)", System.nanoTime());
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
