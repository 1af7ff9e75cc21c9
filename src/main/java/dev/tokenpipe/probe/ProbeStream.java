package dev.tokenpipe.probe;

import dev.tokenpipe.sse.EmissionStamp;
import dev.tokenpipe.sse.SseEncoder;
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
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Serves one {@link ProbeRequest}: event {@code i} is written and flushed at start + i x interval
 * (absolute targets, no drift), with data {@code {"probe":i,"pad":"xxx…"}} padded to the asked
 * size and the SSE id {@code tp.<i>.<emit-micros>}; then {@code data: [DONE]}. Used by
 * {@code sim} and {@code serve}, and by {@code doctor} to time each layer.
 */
public final class ProbeStream {
  private final ChannelHandlerContext ctx;
  private final ProbeRequest probe;
  private final boolean keepAlive;
  private final Runnable onEnd;
  private final long startNanos;
  private int sent;
  private ScheduledFuture<?> timer;

  private ProbeStream(ChannelHandlerContext ctx, ProbeRequest probe, boolean keepAlive, Runnable onEnd) {
    this.ctx = ctx;
    this.probe = probe;
    this.keepAlive = keepAlive;
    this.onEnd = onEnd;
    this.startNanos = System.nanoTime();
  }

  public static void start(ChannelHandlerContext ctx, ProbeRequest probe, boolean keepAlive, Runnable onEnd) {
    new ProbeStream(ctx, probe, keepAlive, onEnd).begin();
  }

  private void begin() {
    HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    if (probe.safeHeaders()) {
      head.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache, no-transform");
      head.headers().set("X-Accel-Buffering", "no");
    }
    HttpUtil.setTransferEncodingChunked(head, true);
    HttpUtil.setKeepAlive(head, keepAlive);
    ctx.writeAndFlush(head);
    ctx.channel().closeFuture().addListener(f -> {
      if (timer != null) {
        timer.cancel(false);
      }
    });
    scheduleNext();
  }

  private void scheduleNext() {
    long due = startNanos + sent * probe.intervalNanos();
    timer = ctx.executor().schedule(this::emit, Math.max(0, due - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  private void emit() {
    if (!ctx.channel().isActive()) {
      return;
    }
    String prefix = "{\"probe\":" + sent + ",\"pad\":\"";
    int pad = Math.max(0, probe.size() - prefix.length() - 2);
    String data = prefix + "x".repeat(pad) + "\"}";
    String id = new EmissionStamp(sent, EmissionStamp.nowMicros()).toId();
    ctx.writeAndFlush(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), SseEncoder.event(null, id, data))));
    sent++;
    if (sent < probe.count()) {
      scheduleNext();
      return;
    }
    ctx.write(new DefaultHttpContent(ByteBufUtil.writeUtf8(ctx.alloc(), SseEncoder.data(SseEncoder.DONE))));
    var done = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    if (!keepAlive) {
      done.addListener(ChannelFutureListener.CLOSE);
    }
    onEnd.run();
  }
}
