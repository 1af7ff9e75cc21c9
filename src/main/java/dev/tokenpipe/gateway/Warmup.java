package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.Framing;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import dev.tokenpipe.http.SelfRequest;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
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
 * loopback, one after another, marked with {@link #HEADER}; the mark is honoured only while warming, and such a
 * request keeps books in a throwaway {@link GatewayMetrics} and writes no access-log line, so no metric counts
 * it. With external upstreams nothing is sent anywhere (a warm-up must not cost a real model a request): the
 * codecs, the relay and the classifier run on an in-memory stream instead.
 */
final class Warmup {
  static final String HEADER = "X-Tokenpipe-Warmup";
  private static final Logger log = LoggerFactory.getLogger(Warmup.class);
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

  private Warmup() {}

  /** Runs the warm-up; never fails the start (a failed warm-up only means a slower first request). */
  static void run(GatewayContext gw, InetSocketAddress address, boolean builtInModel) {
    long t0 = System.nanoTime();
    gw.warmingFlag().set(true);
    try {
      local();
      if (builtInModel) {
        for (int i = 0; i < SELF_REQUESTS; i++) {
          selfRequest(address, gw.defaultModel());
        }
        // A self-request returns when its client has read the stream's end, which the gateway writes before
        // its own bookkeeping: without this wait, ready was said with a warm-up stream still running in about
        // half of the starts, and a drain counted it.
        gw.awaitNoStreams(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(IDLE_WAIT_MS));
      }
    } catch (Exception e) {
      log.debug("warm-up incomplete: {}", e.toString());
    } finally {
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

  /**
   * One short stream through the gateway and the built-in model, read to its end. It asks for usage and a token
   * bound as clients do (bench, the SDKs): without them the first client's request still ran the usage chunk's
   * path cold, 20 ms slower to its first token (docs/benchmarks.md, "Cold start").
   */
  private static void selfRequest(InetSocketAddress address, String model) throws Exception {
    SelfRequest.post(address, "/v1/chat/completions",
        "{\"model\":\"" + model + "\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":8,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        HEADER + ": 1", "X-Tokenpipe-Sim: ttft=0ms itl=0ms tokens=8");
  }
}
