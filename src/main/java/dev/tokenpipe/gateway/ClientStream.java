package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.http.HttpResponses;
import dev.tokenpipe.net.Buffers;
import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.sse.SseEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;

/**
 * Everything the gateway writes to one client for one request, and the completeness contract: a response
 * whose head went out ends with the upstream's own terminator, or with an in-band error in the client's API
 * shape and the body's framing ({@link Dialect#inBandError}: an SSE {@code event: error} + the terminating
 * chunk, an NDJSON error line), never with a bare close
 * — except a non-stream body cut mid-way, where closing without the last chunk is how HTTP/1.1 says
 * "incomplete".
 *
 * <p>Events that carry no generated output yet (role chunks, empty deltas) can be {@link #hold held}, so
 * that a failed attempt can be retried on another upstream while the client has seen nothing it would have
 * to unsee; the first event that carries output {@link #forward commits} them. The held bytes are bounded
 * by {@link #MAX_HELD_BYTES}; past it they are committed and the stream can no longer fail over.
 *
 * <p>Flushes once per upstream read, at its end ({@link #readStarted}, {@link #readDone}): the events one read
 * brought (a model server writes its last events together; a busy loop reads several at once) leave in one
 * flush, one syscall, each still its own write; nothing waits for a later read, and writes made outside a
 * read (timers, the client's own request) are flushed at once. On the client channel's event loop only.
 */
final class ClientStream {
  static final int MAX_HELD_BYTES = 64 * 1024;

  private final ChannelHandlerContext ctx;
  /** The loop's clock, the one the exchange's read times and the heartbeat's timer use. */
  private final LoopClock clock;
  private final GatewayMetrics metrics;
  private final boolean keepAlive;
  private final HeartbeatTimer heartbeat;
  /** The client's API: the shape of every error it is sent. */
  private final Dialect dialect;

  private boolean headSent;
  private int status;
  private Framing framing = Framing.RAW;
  /** The head that went out was a non-stream head: the body passes through, no in-band errors exist. */
  private boolean passthrough;
  /** A comment or heartbeat went out before any upstream byte (the upstream's BOM must then go). */
  private boolean wroteOwnBytes;
  /** Upstream event bytes went out: no retry from here on. */
  private boolean committed;
  /** An oversized event is partly out: the client is mid-event. */
  private boolean midEvent;
  private ByteBuf held;
  private boolean ended;
  private boolean closed;
  /** The head that went out has neither a length nor chunks (an HTTP/1.0 client's): the close ends its body. */
  private boolean closeDelimited;
  /** A HEAD request: its response has no body, and only Netty's encoder knows to drop one. */
  private final boolean headRequest;
  /**
   * The HTTP codec's context when the head that went out is chunked: event writes start there, already
   * framed as one chunk (see {@link #writeMeasured}); null when they go through the encoder.
   */
  private ChannelHandlerContext chunkedCtx;

  /** Upstream reads being relayed (nested: a codec leaving hands on its bytes within the read that removed it). */
  private int reads;
  /** Something was written since the last flush. */
  private boolean unflushed;
  /** Measured writes since the last flush ({@link #measured}): their added latency is recorded at the flush. */
  private int unflushedMeasured;
  private long unflushedReadNanos;
  private ChannelFuture lastMeasured;

  ClientStream(ChannelHandlerContext ctx, GatewayMetrics metrics, Dialect dialect, boolean keepAlive,
      long heartbeatNanos, boolean headRequest) {
    this.ctx = ctx;
    this.clock = LoopClock.of(ctx.executor());
    this.dialect = dialect;
    this.headRequest = headRequest;
    this.metrics = metrics;
    this.keepAlive = keepAlive;
    this.heartbeat = new HeartbeatTimer(ctx.executor(), heartbeatNanos, this::heartbeatNow);
  }

  boolean headSent() {
    return headSent;
  }

  /** HTTP status of the head that went out, 0 before. */
  int status() {
    return status;
  }

  /** The clock of this stream's loop: the one every read time handed to {@link #forward} is on. */
  LoopClock clock() {
    return clock;
  }

  boolean committed() {
    return committed;
  }

  /** The framing of the head that went out (RAW before one did). */
  Framing framing() {
    return framing;
  }

  boolean passthrough() {
    return passthrough;
  }

  /** The connection was closed to say "incomplete": it cannot carry another request. */
  boolean closedConnection() {
    return closed;
  }

  boolean wroteOwnBytes() {
    return wroteOwnBytes;
  }

  /** Whether nothing the client saw would contradict a fresh attempt's stream. */
  boolean canStartOver() {
    return !committed && !passthrough;
  }

  // ---------------------------------------------------------------- heads

  /**
   * The gateway's own SSE head, sent when the upstream's head is late (the head wait expired): from now on
   * the status is 200 and errors can only be in-band.
   */
  void earlyHead(boolean comment) {
    if (headSent) {
      return;
    }
    sendHead(StreamHeaders.streamHead(null, HttpResponseStatus.OK, Framing.SSE, keepAlive), Framing.SSE);
    heartbeat.start();
    if (comment) {
      writeOwn(SseEncoder.comment("ok"));
    }
  }

  /** The upstream's stream head (its status and end-to-end headers) with the gateway's anti-buffering ones. */
  void streamHead(HttpResponse upstream, Framing f) {
    if (headSent) {
      return;
    }
    sendHead(StreamHeaders.streamHead(upstream.headers(), upstream.status(), f, keepAlive), f);
    heartbeat.start();
  }

  /** The upstream's non-stream head, as it sent it; the body follows with {@link #forwardBody}. */
  void passthroughHead(HttpResponse upstream) {
    passthrough = true;
    sendHead(StreamHeaders.passthroughHead(upstream, keepAlive), Framing.RAW);
  }

  private void sendHead(HttpResponse head, Framing f) {
    headSent = true;
    framing = f;
    status = head.status().code();
    write(ctx, head, false);
    // Read after the write: Http10Framing drops chunked coding from the head for an HTTP/1.0 client.
    closeDelimited = !headRequest && !StreamHeaders.bodyless(head.status()) && !HttpUtil.isContentLengthSet(head)
        && !HttpUtil.isTransferEncodingChunked(head);
    if (f.isStream() && !headRequest && HttpUtil.isTransferEncodingChunked(head)) {
      chunkedCtx = ctx.pipeline().context(HttpServerCodec.class);
    }
  }

  /**
   * A whole error response with a JSON body (nothing went out yet).
   *
   * @param upstreamHeaders end-to-end headers of the upstream's error response to keep ({@code Retry-After},
   *     {@code x-request-id}, rate limits), or null
   */
  void errorResponse(HttpResponseStatus st, String json, HttpHeaders upstreamHeaders) {
    errorResponse(st, json, upstreamHeaders, null);
  }

  private void errorResponse(HttpResponseStatus st, String json, HttpHeaders upstreamHeaders, String retryAfter) {
    FullHttpResponse res = HttpResponses.json(ctx, st, json);
    if (retryAfter != null) {
      res.headers().set(HttpHeaderNames.RETRY_AFTER, retryAfter);
    }
    if (upstreamHeaders != null) {
      StreamHeaders.copyEndToEnd(upstreamHeaders, res.headers());
    }
    headSent = true;
    passthrough = true;
    status = st.code();
    ended = true;
    HttpResponses.send(ctx, res, keepAlive);
  }

  // ---------------------------------------------------------------- bodies

  /** Keeps whole events back until an event with generated output commits them; false when over the bound. */
  boolean hold(ByteBuf events) {
    events = compact(events); // held events may wait for the whole first-token timeout: never a read's spare room
    if (held == null) {
      held = events;
    } else {
      CompositeByteBuf c = held instanceof CompositeByteBuf cb ? cb : ctx.alloc().compositeBuffer().addComponent(true, held);
      held = c.addComponent(true, events);
    }
    return held.readableBytes() <= MAX_HELD_BYTES;
  }

  /** Memory the held events occupy: the capacities of the buffers they are in, or are slices of (the bound in docs/serve.md). */
  long heldMemory() {
    return held == null ? 0 : Buffers.memory(held);
  }

  /** Forgets the held events of a failed attempt. */
  void discardHeld() {
    if (held != null) {
      held.release();
      held = null;
    }
  }

  /**
   * Writes the held events and then {@code events} (whole events, or the start of an oversized one when
   * {@code endsMidEvent}), in one write, flushed at once outside an upstream read, else at its end
   * ({@link #readDone}). Takes ownership of {@code events} (may be null).
   *
   * @param readNanos when the upstream read that completed them happened, for the added-latency histogram
   */
  ChannelFuture forward(ByteBuf events, long readNanos, boolean endsMidEvent) {
    return forward(events, readNanos, endsMidEvent, false);
  }

  /**
   * {@link #forward(ByteBuf, long, boolean)}, flushed at once when {@code flushNow}: nothing else of the read
   * follows them.
   */
  ChannelFuture forward(ByteBuf events, long readNanos, boolean endsMidEvent, boolean flushNow) {
    ByteBuf out = events;
    if (held != null) {
      if (events != null) {
        hold(events);
      }
      out = held;
      held = null;
    }
    committed = true;
    midEvent = endsMidEvent;
    if (out == null) {
      return null;
    }
    return writeMeasured(out, readNanos, flushNow);
  }

  /** Relays a non-stream body piece (or a raw stream) as it came. Takes ownership. */
  void forwardBody(ByteBuf piece, long readNanos) {
    committed = true;
    writeMeasured(piece, readNanos, false);
  }

  /** An event the gateway made (the translated token API), counted as forwarded output. */
  void writeEvent(String event) {
    if (ended) {
      return; // the rest of a read after the stream's end (an error event, then more tokens): nothing follows the end
    }
    committed = true;
    writeMeasured(Buffers.utf8(ctx.alloc(), event), clock.nanoTime(), false);
  }

  /**
   * One write of {@code out}. On a chunked stream the bytes go out as one pre-framed chunk
   * (RFC 9112 §7.1: hex size, CRLF, the bytes, CRLF) in one pooled buffer, written from the HTTP codec's
   * context so the encoder does not frame it again: the encoder would split it into three buffers with a
   * promise each, a promise combiner and two duplicates, about 230 bytes of garbage per event (issue 15).
   * The encoder keeps its chunked state: the head and the last chunk still go through it. The copy is the
   * event's bytes once (a few hundred bytes, pooled memory); the socket then gets one buffer, not three.
   */
  private ChannelFuture writeMeasured(ByteBuf out, long readNanos, boolean flushNow) {
    heartbeat.written(readNanos);
    ChannelFuture written;
    if (chunkedCtx != null) {
      int length = out.readableBytes();
      if (length == 0) {
        out.release(); // an empty chunk would be the terminator
        return ctx.newSucceededFuture();
      }
      ByteBuf chunk = null;
      try {
        chunk = ctx.alloc().ioBuffer(length + CHUNK_OVERHEAD);
        writeChunkSize(chunk, length);
        Buffers.copy(out, chunk, length);
        chunk.writeShort(CRLF);
      } catch (RuntimeException | Error e) {
        if (chunk != null) {
          chunk.release();
        }
        throw e;
      } finally {
        out.release();
      }
      written = write(chunkedCtx, chunk, flushNow);
    } else {
      written = write(ctx, new DefaultHttpContent(compact(out)), flushNow);
    }
    return measured(written, readNanos);
  }

  /**
   * True when an upstream chunk whose data is whole events can go to this client as it came, its framing
   * included ({@link #forwardChunk}): the client's body is chunked, the stream is committed, nothing is held
   * back and the client is not mid-event.
   */
  boolean takesUpstreamChunks() {
    return chunkedCtx != null && committed && held == null && !midEvent && !ended;
  }

  /**
   * The zero-copy write: {@code chunk} is one whole HTTP/1.1 chunk as the upstream framed it (size line without
   * extensions, data that is whole events, CRLF), written as it is and flushed at once, with whatever of the
   * read waits: the caller's read is this one chunk, nothing else of it can join. Chunked framing is hop-by-hop,
   * but a chunk is a chunk on either hop: re-framing the same data would copy it for nothing. Only when
   * {@link #takesUpstreamChunks()}. Takes ownership.
   */
  void forwardChunk(ByteBuf chunk, long readNanos) {
    heartbeat.written(readNanos);
    measured(write(chunkedCtx, compact(chunk), true), readNanos);
  }

  /**
   * {@code b}, or a copy of its bytes when {@code b} occupies more than twice as many bytes of memory
   * ({@link Buffers#compact}). A queued write holds its whole buffer until the client takes it, not only its
   * bytes, and the 64 KiB high-water mark counts bytes: without this a client that stops reading could make the
   * gateway hold several times the mark. With it, what waits for a client holds at most twice the mark
   * (docs/serve.md, "Memory per stream"). Takes ownership.
   */
  private ByteBuf compact(ByteBuf b) {
    return Buffers.compact(ctx.alloc(), b);
  }

  // ---------------------------------------------------------------- flushes

  /** An upstream read is being relayed: writes wait for its {@link #readDone}. Nests. */
  void readStarted() {
    reads++;
  }

  /** The upstream read is relayed: what it wrote leaves in one flush (unless this ends a nested read). */
  void readDone() {
    if (--reads == 0) {
      flush();
    }
  }

  /** Whether something written waits for a flush (the end of the upstream read). */
  boolean hasUnflushed() {
    return unflushed;
  }

  /** Flushes what was written since the last flush, and records the added latency of its measured writes. */
  void flush() {
    if (!unflushed) {
      return;
    }
    unflushed = false;
    ctx.flush();
    if (unflushedMeasured > 0) {
      int n = unflushedMeasured;
      unflushedMeasured = 0;
      ChannelFuture last = lastMeasured;
      lastMeasured = null;
      recordAdded(last, unflushedReadNanos, n);
    }
  }

  /**
   * Writes {@code msg} from {@code from}; flushes it now unless an upstream read is being relayed and
   * {@code flushNow} is false (the read's last bytes are flushed now, with whatever of the read waits; alone,
   * in one pass down the pipeline). Within a read, what waits is flushed first when {@code msg} would take the
   * client's outbound bytes past the high-water mark: a read of hundreds of small events must not make a
   * client that reads everything look slow (an unwritable channel pauses the upstream and arms the slow-client
   * timer).
   */
  private ChannelFuture write(ChannelHandlerContext from, Object msg, boolean flushNow) {
    if (reads == 0 || (flushNow && !unflushed)) {
      return from.writeAndFlush(msg);
    }
    if (unflushed && ctx.channel().bytesBeforeUnwritable() < sizeOf(msg) + QUEUED_OVERHEAD) {
      flush();
    }
    unflushed = true;
    ChannelFuture written = from.write(msg);
    if (flushNow) {
      flush();
    }
    return written;
  }

  /** What Netty's outbound buffer counts per queued message beyond its bytes (96), and a head's encoding. */
  private static final int QUEUED_OVERHEAD = 1024;

  private static int sizeOf(Object msg) {
    return msg instanceof ByteBuf b ? b.readableBytes() : msg instanceof ByteBufHolder h ? h.content().readableBytes() : 0;
  }

  /** Records the write's added latency when it completes (at the read's flush when it waits for one). */
  private ChannelFuture measured(ChannelFuture written, long readNanos) {
    if (unflushed) {
      if (unflushedMeasured++ == 0) {
        unflushedReadNanos = readNanos; // writes complete in order: the first read time is the earliest
      }
      lastMeasured = written;
      return written;
    }
    recordAdded(written, readNanos, 1);
    return written;
  }

  /** {@code writes} writes that completed (or will) with {@code last}, of bytes read at {@code readNanos}. */
  private void recordAdded(ChannelFuture last, long readNanos, int writes) {
    if (last.isDone()) {
      // The common case: the flush wrote it to the socket before returning. No listener (a lambda per event).
      if (last.isSuccess()) {
        recordAdded(clock.nanoTime() - readNanos, writes);
      }
    } else {
      last.addListener(f -> {
        if (f.isSuccess()) {
          recordAdded(clock.nanoTime() - readNanos, writes);
        }
      });
    }
    ChannelOutboundBuffer ob = ctx.channel().unsafe().outboundBuffer();
    if (ob != null) {
      metrics.recordPending(ob.totalPendingWriteBytes());
    }
  }

  private void recordAdded(long nanos, int writes) {
    for (int i = 0; i < writes; i++) {
      metrics.recordAdded(nanos);
    }
  }

  /** Hex size digits (at most 8 for an int), CRLF, and the CRLF after the data. */
  private static final int CHUNK_OVERHEAD = 8 + 2 + 2;
  private static final short CRLF = ('\r' << 8) | '\n';
  private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static void writeChunkSize(ByteBuf chunk, int length) {
    int digits = Math.max(1, (35 - Integer.numberOfLeadingZeros(length)) / 4);
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
      chunk.writeByte(HEX[(length >>> shift) & 0xF]);
    }
    chunk.writeShort(CRLF);
  }

  private void writeOwn(String text) {
    if (!committed) {
      wroteOwnBytes = true;
    }
    write(ctx, new DefaultHttpContent(Buffers.utf8(ctx.alloc(), text)), false);
    heartbeat.written(clock.nanoTime());
  }

  private boolean heartbeatNow() {
    if (ended || framing != Framing.SSE || midEvent || !ctx.channel().isWritable()) {
      return false; // never inside an event: a comment line there would be harmless, the blank line after it not
    }
    writeOwn(SseEncoder.comment("ping"));
    metrics.heartbeats.inc();
    return true;
  }

  // ---------------------------------------------------------------- endings

  /** The upstream's stream or body ended cleanly: held events (a stream with no output) go out, then the end. */
  void end(long readNanos) {
    if (held != null) {
      forward(null, readNanos, false);
    }
    writeLast();
  }

  /**
   * Ends with an error in the client's API shape: a JSON error response when the head has not gone out,
   * else an in-band error event and the terminating chunk (SSE), an error line (NDJSON), or a close (other
   * bodies). Held events go out first, so the client sees what the upstream said before it failed.
   *
   * @param retryAfter the {@code Retry-After} value of an error response, or null
   */
  void fail(HttpResponseStatus st, ApiError error, String retryAfter) {
    if (ended) {
      return;
    }
    heartbeat.stop();
    if (!headSent) {
      errorResponse(st, dialect.errorBody(error), null, retryAfter);
      return;
    }
    if (held != null) {
      forward(null, clock.nanoTime(), false);
    }
    if (passthrough || framing == Framing.RAW) {
      ended = true;
      flush(); // what the read brought before the cut goes first
      abort(); // a body cut mid-way: closing without the last chunk says "incomplete"
      return;
    }
    String event = dialect.inBandError(error, framing);
    // Mid-event (only an oversized event), a blank line (a newline for NDJSON) ends the partial event first.
    writeOwn((midEvent ? (framing == Framing.SSE ? "\n\n" : "\n") : "") + event);
    writeLast();
  }

  private void writeLast() {
    if (ended) {
      return;
    }
    ended = true;
    heartbeat.stop();
    ChannelFuture f = write(ctx, LastHttpContent.EMPTY_LAST_CONTENT, false);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
  }

  /**
   * Closes the connection so that the client reads its response as incomplete: without the last chunk, or short of
   * its length; a close-delimited body (an HTTP/1.0 client's) ends at a close, so there a reset is the only end that
   * says "incomplete" (curl: "Connection reset by peer", exit 56), where a FIN would end the body as whole.
   */
  void abort() {
    closed = true;
    if (closeDelimited) {
      ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
    }
    ctx.close();
  }

  /** Frees what is held; the request is over. */
  void release() {
    heartbeat.stop();
    discardHeld();
  }
}
