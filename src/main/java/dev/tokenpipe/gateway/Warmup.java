package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.Framing;
import dev.tokenpipe.http.SelfRequest;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.sim.WarmUpRequests;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the first request after start as fast as a warm one. Measured before: 1.2–2.6 s to the first
 * token of the first request with the model at 200 ms, all of it first-use work — class loading of the HTTP
 * codecs, the relay and Jackson, and the built-in model's tokenizer. It now happens before
 * {@link GatewayServer#start} returns, while {@code /readyz} says {@code warming}.
 *
 * <p>With the built-in model, {@link #SELF_REQUESTS} real streaming requests cross the gateway's own port over
 * loopback, one after another. The gateway knows them by their connection, not by anything in the request: each
 * comes from a socket bound before it connects, whose address (the host's own, and a port no other socket may
 * bind meanwhile) is announced here first, and the one connection that arrives from it is claimed
 * ({@link #contextOf}) and served on a context of its own ({@link GatewayContext#forWarmup}): no metric, no
 * access-log line, no balancer score or health mark, no {@code --max-streams} slot. No header or path a client
 * can send makes a request the warm-up's. Otherwise it is served like a client's: it presents one of the
 * {@code --api-keys-file} keys, takes the same pipeline and relay, and asks the built-in model for a short
 * stream without the faults its {@code --sim} may inject, so that every self-request streams to its end.
 *
 * <p>With external upstreams nothing is sent anywhere (a warm-up must not cost a real model a request): the
 * codecs, the relay and the classifier run on an in-memory stream instead.
 */
final class Warmup {
  private static final Logger log = LoggerFactory.getLogger(Warmup.class);
  /**
   * What a self-request asks of the built-in model: 8 tokens at once, one event each, flushed as written, and
   * none of the faults (errors, drops, stalls) or the group commit {@code --sim} may set for clients: a warm-up
   * stream that failed warmed the error path, and a 2 s group commit made the start take 48 s.
   */
  private static final String SIM_HEADER = StreamProfile.HEADER + ": " + StreamProfile.WARM_UP;
  private static final String STREAM = """
      id: tp.0.0
      data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

      data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}

      data: {"choices":[{"index":0,"delta":{"content":" world"}}]}

      data: {"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}

      data: {"choices":[],"usage":{"completion_tokens":2}}

      data: [DONE]

      """;
  /** {@link #STREAM} one event per piece, as a model's tokens arrive. */
  private static final String[] STREAM_EVENTS = STREAM.split("(?<=\n\n)");

  /**
   * Enough streams through the relay for its per-event methods to be compiled before the first client's: with
   * one, the first client's request still ran beside the JIT (first minus a warm control, median +16 ms over 8
   * runs, up to +65); with 25, +6 ms (up to +14), for about 0.8 s more before ready (docs/benchmarks.md, "Cold
   * start").
   */
  static final int SELF_REQUESTS = 25;

  /** The longest the warm-up waits for its last stream's exchange to end. */
  private static final long IDLE_WAIT_MS = 2_000;

  private final GatewayContext gw;
  /** The warm-up's own context, for its connections; null with external upstreams (nothing is sent). */
  private final GatewayContext own;
  /** One short stream of each API the built-in model speaks, path to body, each read to its end ({@link WarmUpRequests}). */
  private final Map<String, String> requests;
  /** The self-requests' header lines: the model's behaviour, and a key when clients need one. */
  private final String[] headers;
  /** Source addresses of self-requests about to connect; each is claimed by the one connection from it. */
  private final Set<InetSocketAddress> expected = ConcurrentHashMap.newKeySet();

  private Warmup(GatewayContext gw, UpstreamSet ownUpstreams) {
    this.gw = gw;
    this.requests = WarmUpRequests.of(gw.defaultModel());
    String key = gw.config().apiKeys().stream().findFirst().orElse(null);
    this.headers = key == null ? new String[] {SIM_HEADER}
        : new String[] {SIM_HEADER, HttpHeaderNames.AUTHORIZATION + ": Bearer " + key};
    // A --max-body below these bodies would refuse the self-requests (413); --max-streams is the clients' limit.
    int largest = requests.values().stream().mapToInt(b -> b.getBytes(StandardCharsets.UTF_8).length).max().orElse(0);
    GatewayConfig config = gw.config().withLimits(Math.max(gw.config().maxBodyBytes(), largest), 0);
    this.own = ownUpstreams == null ? null : gw.forWarmup(config, ownUpstreams);
  }

  /** With external upstreams: the in-memory stream only. */
  static Warmup inMemory(GatewayContext gw) {
    return new Warmup(gw, null);
  }

  /**
   * With the built-in model: the in-memory stream and the self-requests.
   *
   * @param ownUpstreams a set of the warm-up's own over the gateway's upstreams (the built-in model)
   */
  static Warmup selfRequests(GatewayContext gw, UpstreamSet ownUpstreams) {
    return new Warmup(gw, ownUpstreams);
  }

  /**
   * The context a new client connection is served on: the warm-up's own for the one connection from an address a
   * self-request announced, the gateway's for every other.
   */
  GatewayContext contextOf(Channel ch) {
    if (expected.isEmpty() || !(ch.remoteAddress() instanceof InetSocketAddress from)) {
      return gw;
    }
    return expected.remove(canonical(from)) ? own : gw;
  }

  /** Warm-up streams still running (for tests: none once the gateway said ready). */
  int running() {
    return own == null ? 0 : own.running().size();
  }

  /** Runs the warm-up; never fails the start (a failed warm-up only means a slower first request). */
  void run(InetSocketAddress address) {
    long t0 = System.nanoTime();
    gw.warmingFlag().set(true);
    try {
      local();
      if (own != null) {
        for (int i = 0; i < SELF_REQUESTS; i++) {
          selfRequest(address, WarmUpRequests.CHAT, requests.get(WarmUpRequests.CHAT));
        }
        for (Map.Entry<String, String> other : requests.entrySet()) { // one stream of each other API
          if (!other.getKey().equals(WarmUpRequests.CHAT)) {
            selfRequest(address, other.getKey(), other.getValue());
          }
        }
        // A self-request returns when its client has read the stream's end, which the gateway writes before
        // its own bookkeeping: without this wait, ready was said with a warm-up stream still running (on the
        // loops the first client's request then shares) in about half of the starts.
        own.awaitNoStreams(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(IDLE_WAIT_MS));
      }
    } catch (Exception e) {
      log.debug("warm-up incomplete: {}", e.toString());
    } finally {
      expected.clear();
      gw.warmingFlag().set(false);
    }
    log.debug("warmed up in {} ms", (System.nanoTime() - t0) / 1_000_000);
  }

  /** The gateway's own code on an in-memory stream: codecs, relay, scanner, classifier, books, Jackson. */
  private static void local() {
    GatewayMetrics scratch = new GatewayMetrics();
    for (int round = 0; round < 50; round++) {
      EventRelay relay = new EventRelay(Framing.SSE, ByteBufAllocator.DEFAULT);
      StreamScanner scanner = new StreamScanner(Framing.SSE, false, new StreamBooks(scratch));
      ByteBuf in = Unpooled.copiedBuffer(STREAM, StandardCharsets.UTF_8);
      ByteBuf out = relay.feed(in);
      if (out != null) {
        scanner.feed(out, System.nanoTime());
        out.release();
      }
      in.release();
      relay.release();
      // One event per read too, as a model's tokens arrive: the path that knows a token event by its shape.
      StreamScanner tokens = new StreamScanner(Framing.SSE, false, new StreamBooks(scratch));
      for (String event : STREAM_EVENTS) {
        ByteBuf one = Unpooled.copiedBuffer(event, StandardCharsets.UTF_8);
        tokens.feed(one, System.nanoTime());
        one.release();
      }
    }
    UpstreamErrorBody.forClient(Dialects.OPENAI_CHAT, 429, "{\"error\":\"slow down\"}");
    TokenTranslator.upstreamBody("{\"prompt\":\"hi\",\"max_tokens\":1}", "m", "m");
    EmbeddedChannel server = new EmbeddedChannel(new HttpServerCodec(), new HttpObjectAggregator(1 << 16));
    server.writeInbound(Unpooled.copiedBuffer(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", StandardCharsets.US_ASCII));
    drain(server);
    EmbeddedChannel client = new EmbeddedChannel(new HttpClientCodec());
    client.writeInbound(Unpooled.copiedBuffer(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        StandardCharsets.US_ASCII));
    drain(client);
  }

  private static void drain(EmbeddedChannel ch) {
    Object m;
    while ((m = ch.readInbound()) != null) {
      ReferenceCountUtil.release(m);
    }
    ch.finishAndReleaseAll();
  }

  /** Every warm-up stream: {@link #SELF_REQUESTS} chat completions and one of each other API. */
  static final int STREAMS = SELF_REQUESTS + WarmUpRequests.of("m").size() - 1;

  /** One self-request, announced before it connects ({@link #contextOf}). */
  private void selfRequest(InetSocketAddress address, String path, String json) throws IOException {
    InetSocketAddress[] from = new InetSocketAddress[1];
    try {
      SelfRequest.post(address, path, json, bound -> {
        from[0] = canonical(bound);
        expected.add(from[0]);
      }, headers);
    } finally {
      if (from[0] != null) {
        expected.remove(from[0]); // already claimed, unless it never arrived
      }
    }
  }

  /**
   * {@code a} with an IPv4-mapped IPv6 address (how a dual-stack listener may see an IPv4 peer) as plain IPv4, so
   * that the address a self-request bound and the one its connection is seen from compare equal.
   */
  private static InetSocketAddress canonical(InetSocketAddress a) {
    InetAddress ip = a.getAddress();
    if (ip == null) {
      return a;
    }
    try {
      return new InetSocketAddress(InetAddress.getByAddress(ip.getAddress()), a.getPort());
    } catch (UnknownHostException cannotHappen) { // the bytes of a valid address
      return a;
    }
  }
}
