package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.DONE_EVENT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.HELLO;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.STOP;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.gateway.EmbeddedGateway.Conn;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An attempt leaves flight (the balancer's in-flight count, {@code tokenpipe_gateway_upstream_in_flight}) before
 * the client's end is written, on a clean end and on a cut: a client that has read its whole stream and then
 * scrapes the metrics, or sends its next request, must find the upstream's stream counted out. The lease used
 * to end after the client's end was written, which a real client could see first
 * ({@code GatewayBalancingTest} failed so, by timing, once in many runs). Here the order is read at the socket
 * end of the client's pipeline, as each write goes out, without sockets ({@link EmbeddedGateway}).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class InFlightOrderTest {
  private static final String LAST = "0\r\n\r\n";

  /** Upstream A's in-flight count as each write reached the socket end, by whether the write ends the body. */
  private static final class InFlightAtWrite extends ChannelOutboundHandlerAdapter {
    private final UpstreamScores scores;
    final List<Integer> atBodyWrites = new ArrayList<>();
    final List<Integer> atEnd = new ArrayList<>();

    InFlightAtWrite(UpstreamScores scores) {
      this.scores = scores;
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      if (msg instanceof ByteBuf b) {
        (b.toString(ISO_8859_1).endsWith(LAST) ? atEnd : atBodyWrites).add(scores.inFlight(0));
      }
      ctx.write(msg, promise);
    }
  }

  private static InFlightAtWrite record(EmbeddedGateway g) {
    InFlightAtWrite r = new InFlightAtWrite(g.gw.upstreams().scores());
    g.client.pipeline().addFirst("in-flight", r);
    return r;
  }

  @Test
  void aCleanEndLeavesFlightBeforeTheClientsEndIsWritten() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      InFlightAtWrite r = record(g);
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO).chunk(STOP).chunk(DONE_EVENT);
      assertThat(r.atBodyWrites).as("in flight while the stream is relayed").isNotEmpty().containsOnly(1);

      a.end();
      assertThat(g.response().ended()).isTrue();
      assertThat(r.atEnd).as("in flight when the client's end was written").containsExactly(0);
    }
  }

  @Test
  void aCutStreamLeavesFlightBeforeItsErrorAndEndAreWritten() {
    try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
      InFlightAtWrite r = record(g);
      g.post(CHAT_PATH, CHAT);
      Conn a = g.accept();
      a.sseHead().chunk(ROLE).chunk(HELLO);
      assertThat(r.atBodyWrites).isNotEmpty().containsOnly(1);

      a.close(); // cut after the first token: no failover, an in-band error and the end
      assertThat(g.response().body()).contains("error");
      assertThat(r.atEnd).as("in flight when the error's end was written").containsExactly(0);
    }
  }
}
