package dev.tokenpipe.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.util.function.BooleanSupplier;

/**
 * A body aggregator's {@code 100 Continue}, written only in its request's turn: at once when every request before
 * it on the connection was answered, else when the server's handler reaches it ({@link #inTurn}). Netty's
 * aggregator writes it the moment it parses the head; behind a response still running on the same connection
 * that put it ahead of that response's head (the client took it for that response's interim answer) or into the
 * middle of its chunked body (the HTTP encoder refused it there, and the connection closed, cutting the
 * stream). Used by {@code serve}'s and {@code sim}'s aggregators alike; confined to the channel's event loop.
 */
public final class ContinueInTurn {
  /** True while the connection owes no answer to a request before the one being read. */
  private final BooleanSupplier answeredAll;
  /** The request being read asked for 100 Continue while answers before it were still owed. */
  private boolean owed;

  /** @param answeredAll the server handler's: nothing is being answered or waits to be */
  public ContinueInTurn(BooleanSupplier answeredAll) {
    this.answeredAll = answeredAll;
  }

  /**
   * What the aggregator is to write for Netty's answer to an {@code Expect} head ({@code newContinueResponse}):
   * that answer, or null for a {@code 100 Continue} held back (released here) because answers are still owed.
   * Any other answer (null, a refusal) is returned as it is.
   */
  public Object offer(Object answer) {
    if (answer instanceof HttpResponse res && res.status().code() == HttpResponseStatus.CONTINUE.code()
        && !answeredAll.getAsBoolean()) {
      ReferenceCountUtil.release(answer);
      owed = true;
      return null;
    }
    return answer;
  }

  /**
   * The request being read needs no 100 any more: its body came whole without it, or it is refused (a chunked
   * body over the limit is answered 413 in its turn, with no 100 before the refusal).
   */
  public void settled() {
    owed = false;
  }

  /**
   * Every request before the one being read was answered: its 100 Continue goes out now, from the aggregator's
   * {@code ctx}, if it is owed. (A client that stopped waiting and sent its body meanwhile gets it too, before its
   * answer, as RFC 9110 §15.2 allows.)
   */
  public void inTurn(ChannelHandlerContext ctx) {
    if (owed) {
      owed = false;
      ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE, Unpooled.EMPTY_BUFFER))
          .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
    }
  }
}
