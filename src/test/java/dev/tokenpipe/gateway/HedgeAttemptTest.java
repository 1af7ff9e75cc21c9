package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The hedged attempt's decisions without sockets: its upstream connection is an {@link EmbeddedChannel}
 * ending in the real {@link UpstreamHandler}, fed the HTTP objects a codec would produce.
 */
class HedgeAttemptTest {
  static final String ROLE = "data: " + ChatChunks.role() + "\n\n";
  static final String TOKEN = "data: " + ChatChunks.content("Hi") + "\n\n";

  EmbeddedChannel upstreamChannel;
  /** A second connection, for the one retry on a fresh connection after a stale pooled one. */
  EmbeddedChannel secondChannel;
  EmbeddedChannel clientChannel;
  ClientStream client;
  GatewayContext gw;
  Upstream upstream = Upstream.parse("http://127.0.0.1:9");
  Recorder owner = new Recorder();
  HedgeAttempt hedge;

  /** What the hedge told its exchange. */
  static final class Recorder implements HedgeAttempt.Owner {
    String won;
    String held;
    long heldMemory;
    boolean wonLast;
    ErrorKind failed;
    String failedJson;

    @Override
    public void hedgeWon(HedgeAttempt h, ByteBuf out, long readNanos, boolean midEvent, boolean last) {
      won = out.toString(StandardCharsets.UTF_8);
      out.release();
      ByteBuf heldEvents = h.takeHeld();
      held = heldEvents == null ? "" : heldEvents.toString(StandardCharsets.UTF_8);
      heldMemory = heldEvents == null ? 0 : dev.tokenpipe.net.Buffers.memory(heldEvents);
      ReferenceCountUtil.release(heldEvents);
      wonLast = last;
      h.relay().release();
    }

    @Override
    public void hedgeFailed(HedgeAttempt h, ErrorKind kind, dev.tokenpipe.openai.ApiError error) {
      failed = kind;
      failedJson = error == null ? null : error.toJson();
    }
  }

  @BeforeEach
  void start() {
    upstreamChannel = new EmbeddedChannel(new UpstreamHandler());
    secondChannel = new EmbeddedChannel(new UpstreamHandler());
    java.util.ArrayDeque<EmbeddedChannel> connections = new java.util.ArrayDeque<>(List.of(upstreamChannel, secondChannel));
    clientChannel = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
    ChannelHandlerContext ctx = clientChannel.pipeline().firstContext();
    GatewayMetrics metrics = new GatewayMetrics();
    client = new ClientStream(ctx, metrics, dev.tokenpipe.dialect.Dialects.OPENAI_CHAT, true, 0, false);
    gw = new GatewayContext(GatewayConfig.defaults(), new UpstreamSet(List.of(upstream), Duration.ofSeconds(5).toNanos()),
        null, new ApiKeys(Set.of()), metrics, null);
    hedge = new HedgeAttempt(owner, gw, u -> {
          EmbeddedChannel c = connections.poll();
          return c.eventLoop().<Channel>newSucceededFuture(c);
        },
        client, upstream, u -> new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/v1/chat/completions"),
        metrics);
    hedge.start();
  }

  @AfterEach
  void stop() {
    upstreamChannel.finishAndReleaseAll();
    secondChannel.finishAndReleaseAll();
    client.release();
    clientChannel.finishAndReleaseAll();
  }

  static HttpResponse head(HttpResponseStatus status, String contentType) {
    HttpResponse h = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
    h.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
    h.headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
    return h;
  }

  static DefaultHttpContent chunk(String s) {
    return new DefaultHttpContent(Unpooled.copiedBuffer(s, StandardCharsets.UTF_8));
  }

  void read(Object... messages) {
    upstreamChannel.writeInbound(messages);
  }

  @Test
  void sendsTheRequestHoldsTheRoleChunkAndWinsOnTheFirstToken() {
    Object request = upstreamChannel.readOutbound();
    assertThat(request).as("the same request, written upstream").isInstanceOf(DefaultFullHttpRequest.class);
    ReferenceCountUtil.release(request);
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.AWAITING_HEAD);

    read(head(HttpResponseStatus.OK, "text/event-stream"), chunk(ROLE));
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.HOLDING);
    assertThat(owner.won).as("a role chunk decides nothing").isNull();

    read(chunk(TOKEN));
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.WON);
    assertThat(owner.won).isEqualTo(TOKEN);
    assertThat(owner.held).as("held apart, handed over").isEqualTo(ROLE);
    assertThat(owner.wonLast).isFalse();
    assertThat(hedge.channel().isOpen()).as("the connection is handed over, not closed").isTrue();
    assertThat(clientChannel.outboundMessages()).as("the hedge writes nothing to the client").isEmpty();
  }

  @Test
  void eventsHeldFromAnOversizedReadHoldAtMostTwiceTheirBytes() {
    ReferenceCountUtil.release(upstreamChannel.readOutbound());
    byte[] role = ROLE.getBytes(StandardCharsets.UTF_8);
    // The read after a full one: Netty's adaptive receive buffer is then 64 KiB (docs/serve.md, "Memory per stream").
    read(head(HttpResponseStatus.OK, "text/event-stream"),
        new DefaultHttpContent(Unpooled.directBuffer(64 * 1024).writeBytes(role)));
    read(chunk(TOKEN));

    assertThat(owner.held).isEqualTo(ROLE);
    assertThat(owner.heldMemory).as("memory held by %d bytes of held events", role.length)
        .isBetween((long) role.length, 2L * role.length);
  }

  @Test
  void aTerminatorWithoutTokensDecidesToo() {
    read(head(HttpResponseStatus.OK, "text/event-stream"), chunk(ROLE),
        new DefaultLastHttpContent(Unpooled.copiedBuffer("data: [DONE]\n\n", StandardCharsets.UTF_8)));
    assertThat(owner.won).isEqualTo("data: [DONE]\n\n");
    assertThat(owner.wonLast).isTrue();
  }

  @Test
  void anErrorStatusFailsItSilentlyAndClosesTheConnection() {
    read(head(HttpResponseStatus.SERVICE_UNAVAILABLE, "application/json"));
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.FAILED);
    assertThat(owner.failed).isEqualTo(ErrorKind.UPSTREAM_STATUS);
    assertThat(upstreamChannel.isOpen()).isFalse();
    assertThat(owner.won).isNull();
  }

  @Test
  void anInBandErrorBeforeAnyTokenIsAFailure() {
    read(head(HttpResponseStatus.OK, "text/event-stream"), chunk(ROLE),
        chunk("data: {\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"));
    assertThat(owner.failed).isEqualTo(ErrorKind.UPSTREAM_STATUS);
    assertThat(owner.failedJson).contains("overloaded_error");
    assertThat(upstreamChannel.isOpen()).isFalse();
  }

  @Test
  void anEndWithoutTerminatorIsACut() {
    read(head(HttpResponseStatus.OK, "text/event-stream"), chunk(ROLE), LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat(owner.failed).isEqualTo(ErrorKind.UPSTREAM_CUT);
    assertThat(owner.won).isNull();
  }

  @Test
  void aWholeBodyCannotTakeOverAStream() {
    read(head(HttpResponseStatus.OK, "application/json"));
    assertThat(owner.failed).isEqualTo(ErrorKind.INVALID_SSE);
  }

  @Test
  void aPooledConnectionClosedBeforeTheHeadIsTriedOnceMoreThenACut() {
    upstreamChannel.close(); // a kept-alive connection the upstream had closed: not its fault, once more
    assertThat(owner.failed).isNull();
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.AWAITING_HEAD);
    assertThat(hedge.channel()).isSameAs(secondChannel);
    secondChannel.close();
    assertThat(owner.failed).isEqualTo(ErrorKind.UPSTREAM_CUT);
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.FAILED);
  }

  @Test
  void cancelClosesTheConnectionAtOnceAndNothingIsReportedAfter() {
    read(head(HttpResponseStatus.OK, "text/event-stream"), chunk(ROLE));
    hedge.cancel();
    assertThat(hedge.state()).isEqualTo(HedgeAttempt.State.CANCELLED);
    assertThat(upstreamChannel.isOpen()).as("closed, so the model server stops").isFalse();
    assertThat(owner.won).isNull();
    assertThat(owner.failed).isNull();
  }

  @Test
  void pastTheHoldBoundTheHeldEventsThemselvesDecide() {
    read(head(HttpResponseStatus.OK, "text/event-stream"));
    StringBuilder all = new StringBuilder();
    while (owner.won == null) {
      all.append(ROLE);
      read(chunk(ROLE));
    }
    assertThat(owner.won).as("everything held, as one commit").isEqualTo(all.toString());
    assertThat(owner.won.length()).isGreaterThan(ClientStream.MAX_HELD_BYTES);
    assertThat(owner.held).isEmpty();
  }
}
