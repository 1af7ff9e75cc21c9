package dev.tokenpipe.http;

import dev.tokenpipe.dialect.Dialect;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.ApiError;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/** Complete (non-streaming) HTTP responses: JSON bodies, OpenAI-shaped errors, plain text. */
public final class HttpResponses {
  private HttpResponses() {}

  public static FullHttpResponse json(ChannelHandlerContext ctx, HttpResponseStatus status, String json) {
    return body(ctx.alloc(), status, "application/json", json);
  }

  public static FullHttpResponse body(ChannelHandlerContext ctx, HttpResponseStatus status, String contentType, String text) {
    return body(ctx.alloc(), status, contentType, text);
  }

  public static FullHttpResponse body(ByteBufAllocator alloc, HttpResponseStatus status, String contentType, String text) {
    ByteBuf buf = ByteBufUtil.writeUtf8(alloc, text);
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, buf);
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
    res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, buf.readableBytes());
    return res;
  }

  /** The error as an OpenAI-shaped JSON response; a 405 says {@code Allow: GET, POST} (see the overload). */
  public static FullHttpResponse error(ChannelHandlerContext ctx, ApiError error) {
    return error(ctx.alloc(), error, "GET, POST");
  }

  /**
   * The error as an OpenAI-shaped JSON response.
   *
   * @param allow the {@code Allow} header of a 405 (RFC 9110 §15.5.6: the methods the target supports)
   */
  public static FullHttpResponse error(ByteBufAllocator alloc, ApiError error, String allow) {
    return error(alloc, error, allow, Dialects.OPENAI_CHAT);
  }

  /**
   * The error as a JSON response in {@code dialect}'s own error shape ({@link Dialect#errorBody}).
   *
   * @param allow the {@code Allow} header of a 405 (RFC 9110 §15.5.6: the methods the target supports)
   */
  public static FullHttpResponse error(ByteBufAllocator alloc, ApiError error, String allow, Dialect dialect) {
    FullHttpResponse res = body(alloc, error.status(), "application/json", dialect.errorBody(error));
    if (error.status().code() == 405 && allow != null) {
      res.headers().set(HttpHeaderNames.ALLOW, allow);
    }
    return res;
  }

  /**
   * Sends a complete response and keeps the connection open only when the client asked for
   * keep-alive and {@code keepAlive} allows it (an unread or oversized body forces a close).
   */
  public static ChannelFuture send(ChannelHandlerContext ctx, FullHttpResponse res, boolean keepAlive) {
    HttpUtil.setKeepAlive(res, keepAlive);
    if (!keepAlive) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    ChannelFuture f = ctx.writeAndFlush(res);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
    return f;
  }
}
