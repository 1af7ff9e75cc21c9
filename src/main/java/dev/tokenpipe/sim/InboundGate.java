package dev.tokenpipe.sim;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;

/**
 * Inbound flow control for one connection, in front of the HTTP decoder. While open, received bytes
 * go to the decoder in slices of at most {@link #SLICE_BYTES}; once closed (the connection's request
 * queue is full), the rest of what was already received waits here unparsed and the socket is not
 * read again until {@link #open()}: a client that pipelines more than the queue holds is simply not
 * read, and nothing it sent is lost or answered out of order.
 *
 * <p>Slicing is what makes the queue bound hold: a decoder given a whole 64 KiB read would parse
 * every request in it at once. Held bytes are bounded by what the socket returned before reading
 * stopped (one read, at most 64 KiB with Netty's adaptive allocator).
 *
 * <p>Confined to the channel's event loop.
 */
final class InboundGate extends ChannelDuplexHandler {
  /** Bytes handed to the decoder at a time; a request queue may overshoot by what one slice completes. */
  static final int SLICE_BYTES = 1024;

  private ChannelHandlerContext ctx;
  private CompositeByteBuf held;
  private boolean open = true;
  private boolean readWanted;

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    this.held = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    held.release();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf buf)) {
      ctx.fireChannelRead(msg);
      return;
    }
    held.addComponent(true, buf);
    feed();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    held.skipBytes(held.readableBytes());
    held.discardReadComponents();
    ctx.fireChannelInactive();
  }

  /** Outbound {@code read()}: the decoder or aggregator asking for more; refused while closed or bytes wait. */
  @Override
  public void read(ChannelHandlerContext ctx) {
    if (open && !held.isReadable()) {
      ctx.read();
    } else {
      readWanted = true;
    }
  }

  /** Stops parsing and reading: the request queue is full. */
  void close() {
    if (open) {
      open = false;
      ctx.channel().config().setAutoRead(false);
    }
  }

  /** Parses what is held, then reads from the socket again. */
  void open() {
    if (open) {
      return;
    }
    open = true;
    feed();
    if (open) {
      ctx.fireChannelReadComplete();
      ctx.channel().config().setAutoRead(true); // issues a read
      if (readWanted && !held.isReadable()) {
        readWanted = false;
        ctx.read();
      }
    }
  }

  boolean isOpen() {
    return open;
  }

  private void feed() {
    // Each slice is decoded synchronously; the handler behind the decoder may close the gate in between.
    while (open && held.isReadable() && ctx.channel().isActive()) {
      // A copy, not a slice: the decoder may keep it as its cumulation after this call returns.
      int n = Math.min(SLICE_BYTES, held.readableBytes());
      ctx.fireChannelRead(ctx.alloc().buffer(n).writeBytes(held, n));
    }
    held.discardReadComponents();
  }
}
