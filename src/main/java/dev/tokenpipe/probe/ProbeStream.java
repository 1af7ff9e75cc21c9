package dev.tokenpipe.probe;

import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEncoder;
import dev.tokenpipe.time.DurationText;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GenericFutureListener;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Serves one {@link ProbeRequest}: event {@code i} is written and flushed at start + i x interval
 * (absolute targets, no drift), with data {@code {"probe":i,"pad":"xxx…"}} padded to the asked
 * size and the SSE id {@code tp.<i>.<emit-micros>}; then {@code data: [DONE]}. Used by
 * {@code sim} and {@code serve}, and by {@code doctor} to time each layer.
 *
 * <p>Bounded: the request itself ({@link ProbeRequest}: bytes and duration), the number of probes
 * per client address ({@link ProbeLimiter}, 429 beyond it), and memory: an event is only written
 * while the channel is writable (a client that does not read makes the probe wait, so at most the
 * channel's high-water mark plus one event is queued), and a probe still running
 * {@link #GRACE_NANOS} after its planned end is closed.
 *
 * <p>Response headers: {@code X-Tokenpipe-Probe: <server>} names who serves the probe, and, when
 * the server sends heartbeats, {@code X-Tokenpipe-Heartbeat: 15.0s} (or {@code off}) advertises their
 * interval; the probe then sends {@code : ping} comments at that interval while it is quiet, as the
 * server's real streams do, so an idle test measures what those streams experience.
 */
public final class ProbeStream {
  public static final String SERVER_HEADER = "X-Tokenpipe-Probe";
  public static final String HEARTBEAT_HEADER = "X-Tokenpipe-Heartbeat";
  /** How long past its planned end a probe held back by an unwritable client may run. */
  static final long GRACE_NANOS = 30_000_000_000L;
  /** While the channel is unwritable, how often to look again. */
  private static final long WRITABLE_POLL_NANOS = 5_000_000L;

  /**
   * Who serves the probe and how.
   *
   * @param server    short name sent as {@value #SERVER_HEADER}, e.g. {@code sim} or {@code serve}
   * @param heartbeat the server's heartbeat interval to advertise and imitate; {@link Duration#ZERO}
   *                  = the server sends none (advertised as {@code off}); null = not advertised
   */
  public record Options(String server, Duration heartbeat) {}

  /** How a probe's stream ended. */
  public enum Ended {
    /** Its last event and {@code [DONE]} were written. */
    DONE,
    /** The client went away (or its connection failed) before that. */
    CANCELLED,
    /** Closed by the probe itself: the client read too slowly to take it within {@link #GRACE_NANOS} of its end. */
    CUT
  }

  private final ChannelHandlerContext ctx;
  private final ProbeRequest probe;
  private final Options options;
  private final boolean keepAlive;
  private final Runnable onEnd;
  private final Consumer<Ended> onEnded;
  private final long startNanos;
  private final long heartbeatNanos;
  private InetAddress slot;
  private boolean released;
  /** {@link #onEnded} ran. */
  private boolean ended;
  /** The probe closed the connection itself ({@link Ended#CUT}). */
  private boolean cut;
  /** The scheduled tick is a heartbeat, not the next event (timers may fire a little early, so not by time). */
  private boolean pingNext;
  private long lastWriteNanos;
  private int sent;
  private ScheduledFuture<?> timer;
  /** Taken off again when the probe ends: on a keep-alive connection it would hold every probe it served. */
  private final GenericFutureListener<Future<? super Void>> onClose = f -> closed();

  private ProbeStream(ChannelHandlerContext ctx, ProbeRequest probe, Options options, boolean keepAlive, Runnable onEnd,
      Consumer<Ended> onEnded) {
    this.ctx = ctx;
    this.probe = probe;
    this.options = options;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
    this.onEnded = onEnded;
    this.startNanos = System.nanoTime();
    this.lastWriteNanos = startNanos;
    this.heartbeatNanos = options.heartbeat() == null ? 0 : options.heartbeat().toNanos();
  }

  /**
   * Starts the probe on {@code ctx}'s channel; {@code onEnd} runs on its event loop after the last
   * event was written (not when the client goes away).
   *
   * @throws dev.tokenpipe.openai.ApiException 429 when the client already runs too many probes
   *     (nothing was written)
   */
  public static void start(ChannelHandlerContext ctx, ProbeRequest probe, Options options, boolean keepAlive, Runnable onEnd) {
    start(ctx, probe, options, keepAlive, onEnd, ended -> { });
  }

  /**
   * As {@link #start(ChannelHandlerContext, ProbeRequest, Options, boolean, Runnable)}; {@code onEnded} runs once, on
   * the event loop, when the stream ends whichever way ({@code onEnd} first when it is done): where a server
   * logs the probe, with its real duration.
   */
  public static void start(ChannelHandlerContext ctx, ProbeRequest probe, Options options, boolean keepAlive, Runnable onEnd,
      Consumer<Ended> onEnded) {
    ProbeStream s = new ProbeStream(ctx, probe, options, keepAlive, onEnd, onEnded);
    s.slot = ProbeLimiter.PER_PROCESS.acquire(ctx.channel().remoteAddress());
    s.begin();
  }

  private void begin() {
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    if (probe.safeHeaders()) {
      head.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache, no-transform");
      head.headers().set("X-Accel-Buffering", "no");
    }
    head.headers().set(SERVER_HEADER, options.server());
    if (options.heartbeat() != null) {
      head.headers().set(HEARTBEAT_HEADER, heartbeatNanos == 0 ? "off" : DurationText.format(options.heartbeat()));
    }
    HttpUtil.setTransferEncodingChunked(head, true);
    HttpUtil.setKeepAlive(head, keepAlive);
    ctx.writeAndFlush(head);
    ctx.channel().closeFuture().addListener(onClose);
    schedule();
  }

  private void closed() {
    ctx.executor().execute(() -> {
      if (timer != null) {
        timer.cancel(false);
      }
      release();
      ended(cut ? Ended.CUT : Ended.CANCELLED);
    });
  }

  private void ended(Ended how) {
    if (!ended) {
      ended = true;
      onEnded.accept(how);
    }
  }

  private void release() {
    if (!released) {
      released = true;
      ProbeLimiter.PER_PROCESS.release(slot);
    }
  }

  private void schedule() {
    long due = startNanos + sent * probe.intervalNanos();
    // A heartbeat goes out only when the next event is further away than the heartbeat interval.
    pingNext = heartbeatNanos > 0 && lastWriteNanos + heartbeatNanos < due;
    if (pingNext) {
      due = lastWriteNanos + heartbeatNanos;
    }
    timer = ctx.executor().schedule(this::tick, Math.max(0, due - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  private void tick() {
    if (!ctx.channel().isActive() || released) {
      return;
    }
    long now = System.nanoTime();
    if (now - startNanos > probe.durationNanos() + GRACE_NANOS) {
      cut = true;
      ctx.close(); // a client that stopped reading: the probe ends, cut, instead of waiting forever
      return;
    }
    if (!ctx.channel().isWritable()) {
      timer = ctx.executor().schedule(this::tick, WRITABLE_POLL_NANOS, TimeUnit.NANOSECONDS);
      return;
    }
    if (pingNext) {
      // the stream has been quiet for heartbeatNanos
      ctx.writeAndFlush(new DefaultHttpContent(ByteBufUtil.writeAscii(ctx.alloc(), ": ping\n\n")));
      lastWriteNanos = now;
      schedule();
      return;
    }
    emit(now);
  }

  private void emit(long now) {
    String prefix = "{\"probe\":" + sent + ",\"pad\":\"";
    int pad = Math.max(0, probe.size() - prefix.length() - 2);
    String data = prefix + "x".repeat(pad) + "\"}";
    String id = new EmissionStamp(sent, EmissionStamp.nowMicros()).toId();
    ctx.writeAndFlush(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), SseEncoder.event(null, id, data))));
    lastWriteNanos = now;
    sent++;
    if (sent < probe.count()) {
      schedule();
      return;
    }
    ctx.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), SseEncoder.data(SseEncoder.DONE))));
    var done = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    if (!keepAlive) {
      done.addListener(ChannelFutureListener.CLOSE);
    }
    ctx.channel().closeFuture().removeListener(onClose);
    release();
    onEnd.run();
    ended(Ended.DONE);
  }
}
