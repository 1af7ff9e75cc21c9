package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.A;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.CHAT_PATH;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.DONE_EVENT;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.ROLE;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.STOP;
import static dev.tokenpipe.gateway.ProxyExchangeStateMachineTest.sse;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The raw chunked body has two paths for one result: a read that is one whole chunk of whole events goes to the
 * client as the upstream framed it, and everything else is decoded in place and re-framed. Whatever the upstream's chunking and however the socket splits it into reads, the client
 * gets exactly the upstream's events, and the stream ends complete. Without sockets ({@link EmbeddedGateway}).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RawBodySplitTest {
  private static final String HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      + "Transfer-Encoding: chunked\r\n\r\n";

  @Test
  void anyChunkingInAnyReadsReachesTheClientAsTheUpstreamsEventsAndEndsComplete() {
    Random rnd = new Random(15);
    for (int round = 0; round < 400; round++) {
      List<String> events = new ArrayList<>();
      events.add(ROLE);
      for (int i = rnd.nextInt(6); i >= 0; i--) {
        events.add(sse(ChatChunks.content("t" + round + "-" + i + "x".repeat(rnd.nextInt(40)))));
      }
      events.add(STOP);
      events.add(DONE_EVENT);
      String body = String.join("", events);
      String wire = HEAD + chunked(events, rnd) + "0\r\n\r\n";
      int headEnd = rnd.nextBoolean() ? HEAD.length() : HEAD.length() + rnd.nextInt(wire.length() - HEAD.length());

      try (EmbeddedGateway g = new EmbeddedGateway(GatewayConfig.defaults(), A)) {
        g.post(CHAT_PATH, CHAT);
        EmbeddedGateway.Conn a = g.accept();
        List<String> reads = reads(wire, headEnd, rnd);
        for (String read : reads) {
          a.send(read);
        }
        String what = "round " + round + ", reads " + reads;
        assertThat(g.response().body()).as(what).isEqualTo(body);
        assertThat(g.response().ended()).as(what).isTrue();
        assertThat(g.state()).as(what).isEqualTo(StreamState.DONE);
      }
    }
  }

  /** The events in chunks: one event each, several, or cut anywhere; size lines in any valid spelling. */
  private static String chunked(List<String> events, Random rnd) {
    StringBuilder out = new StringBuilder();
    String body = String.join("", events);
    int at = 0;
    int event = 0;
    int eventEnd = events.get(0).length();
    while (at < body.length()) {
      int end = switch (rnd.nextInt(4)) {
        case 0, 1 -> eventEnd; // the rest of the current event: what a server's write per event makes
        case 2 -> Math.min(body.length(), eventEnd + events.get(Math.min(event + 1, events.size() - 1)).length());
        default -> at + 1 + rnd.nextInt(body.length() - at); // anywhere
      };
      String data = body.substring(at, end);
      String size = Integer.toHexString(data.length());
      size = switch (rnd.nextInt(4)) {
        case 0 -> size.toUpperCase(Locale.ROOT);
        case 1 -> "0".repeat(rnd.nextInt(4)) + size;
        default -> size;
      };
      String ext = rnd.nextInt(10) == 0 ? ";x=1" : "";
      out.append(size).append(ext).append("\r\n").append(data).append("\r\n");
      at = end;
      while (event < events.size() - 1 && eventEnd <= at) {
        eventEnd += events.get(++event).length();
      }
    }
    return out.toString();
  }

  /** The wire in reads: the head alone or with some of the body, then the rest cut at random places. */
  private static List<String> reads(String wire, int headEnd, Random rnd) {
    List<String> reads = new ArrayList<>();
    reads.add(wire.substring(0, headEnd));
    int at = headEnd;
    while (at < wire.length()) {
      int end = rnd.nextInt(3) == 0 ? wire.length() : Math.min(wire.length(), at + 1 + rnd.nextInt(400));
      reads.add(wire.substring(at, end));
      at = end;
    }
    return reads;
  }
}
