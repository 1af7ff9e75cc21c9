package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.tokenpipe.dialect.Framing;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The gateway's per-event path without sockets, one op = one upstream read holding one whole SSE event (the
 * common case: a model writes and flushes each event): {@link EventRelay#feed} cuts it, {@link ClientStream#forward}
 * writes it within the read and flushes it before its scan (as {@code ProxyExchange} does with a read's last
 * events) through Netty's {@link HttpServerCodec} (chunked framing, the write future and its added-latency
 * listener), {@link StreamScanner} classifies it and {@link StreamBooks} keeps the books, exactly
 * as {@code ProxyExchange.relayEvents} does once a stream is committed. The client socket is replaced by an
 * outbound handler that releases each write and completes its promise, so what is measured is the gateway's own
 * work. Events cycle through a realistic OpenAI chat stream (role, content, reasoning, tool call, finish, usage,
 * [DONE]).
 *
 * <p>{@code streams} is how many streams' state the ops cycle through, one event of each in turn, as an event
 * loop serves its streams: with 1 everything the path touches stays in the caches; with 300 each stream's
 * objects (relay, client stream, scanner, books, channel and pipeline) have left them by its next event, as in
 * a loaded gateway, so the difference is what touching them costs.
 *
 * <p>Issue 15's target is at most 256 bytes allocated per relayed event: read {@code gc.alloc.rate.norm} with
 * {@code bench/jmh.sh RelayPathBenchmark -prof gc}. Results in docs/benchmarks.md.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m"})
public class RelayPathBenchmark {
  private static final String HEAD =
      "{\"id\":\"chatcmpl-8f1c2a9d\",\"object\":\"chat.completion.chunk\",\"created\":1732965432,"
      + "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,";
  static final String[] EVENTS = {
      HEAD + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" The\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" quick\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"reasoning_content\":\"Let me think\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" brown \\\"fox\\\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" jumps\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},"
          + "\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" over\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}",
      "{\"id\":\"chatcmpl-8f1c2a9d\",\"object\":\"chat.completion.chunk\",\"created\":1732965432,"
          + "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[],"
          + "\"usage\":{\"prompt_tokens\":12,\"total_tokens\":76,\"completion_tokens\":64}}",
      "[DONE]"};

  /** The bulk of a real stream: content events that differ only in their text, as a model writes its tokens. */
  static final String[] TOKENS = {" The", " quick", " brown", " \\\"fox\\\"", " jumps", " over", " the", " lazy dog"};

  @Param({"1", "300"})
  public int streams;

  private ByteBuf[] reads;
  /** The same events as an upstream's chunked body delivers them: one HTTP/1.1 chunk per read. */
  private ByteBuf[] chunkReads;
  /** {@link #TOKENS} as chunk reads. */
  private ByteBuf[] tokenReads;
  private Stream[] all;
  private int cursor;

  /** Stands in for the client socket: frees each write and reports it written. */
  private static final class Socket extends ChannelOutboundHandlerAdapter {
    long bytes;

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      if (msg instanceof ByteBuf b) {
        bytes += b.readableBytes();
      }
      ReferenceCountUtil.release(msg);
      promise.trySuccess();
    }
  }

  @Setup
  public void setUp() {
    reads = new ByteBuf[EVENTS.length];
    for (int i = 0; i < EVENTS.length; i++) {
      byte[] event = ("data: " + EVENTS[i] + "\n\n").getBytes(UTF_8);
      reads[i] = PooledByteBufAllocator.DEFAULT.directBuffer(event.length).writeBytes(event);
    }
    chunkReads = new ByteBuf[EVENTS.length];
    for (int i = 0; i < EVENTS.length; i++) {
      chunkReads[i] = chunk(EVENTS[i]);
    }
    tokenReads = new ByteBuf[TOKENS.length];
    for (int i = 0; i < TOKENS.length; i++) {
      tokenReads[i] = chunk(HEAD + "\"delta\":{\"content\":\"" + TOKENS[i] + "\"},\"logprobs\":null,\"finish_reason\":null}]}");
    }
    GatewayMetrics metrics = new GatewayMetrics();
    all = new Stream[streams];
    for (int i = 0; i < streams; i++) {
      all[i] = new Stream(metrics, reads[0]);
    }
  }

  /** One SSE event of {@code data} as one HTTP/1.1 chunk, in a pooled direct buffer as a socket read is. */
  private static ByteBuf chunk(String data) {
    byte[] event = ("data: " + data + "\n\n").getBytes(UTF_8);
    byte[] size = (Integer.toHexString(event.length) + "\r\n").getBytes(UTF_8);
    return PooledByteBufAllocator.DEFAULT.directBuffer(size.length + event.length + 2)
        .writeBytes(size).writeBytes(event).writeByte('\r').writeByte('\n');
  }

  /** One stream's state, committed, with its first output out, as a stream is from its first token on. */
  private static final class Stream {
    final EmbeddedChannel channel;
    final EventRelay relay;
    final ClientStream client;
    final StreamScanner scanner;
    final StreamBooks books;
    int next;

    Stream(GatewayMetrics metrics, ByteBuf firstRead) {
      ChannelInboundHandlerAdapter gateway = new ChannelInboundHandlerAdapter();
      channel = new EmbeddedChannel(new Socket(), new HttpServerCodec(), gateway);
      ChannelHandlerContext ctx = channel.pipeline().context(gateway);
      client = new ClientStream(ctx, metrics, dev.tokenpipe.dialect.Dialects.OPENAI_CHAT, true,
          TimeUnit.SECONDS.toNanos(15), false);
      client.streamHead(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK), Framing.SSE);
      relay = new EventRelay(Framing.SSE, PooledByteBufAllocator.DEFAULT);
      books = new StreamBooks(metrics);
      books.requestSent(System.nanoTime());
      scanner = new StreamScanner(Framing.SSE, false, books);
      client.forward(null, System.nanoTime(), false);
      ByteBuf first = relay.feed(firstRead.duplicate());
      first.release();
    }

    void release() {
      client.release();
      relay.release();
      channel.finishAndReleaseAll();
    }
  }

  private Stream nextStream() {
    Stream s = all[cursor];
    cursor = cursor + 1 == all.length ? 0 : cursor + 1;
    return s;
  }

  @TearDown
  public void tearDown() {
    for (Stream st : all) {
      st.release();
    }
    for (ByteBuf b : reads) {
      b.release();
    }
    for (ByteBuf b : chunkReads) {
      b.release();
    }
    for (ByteBuf b : tokenReads) {
      b.release();
    }
  }

  /** One upstream read holding one whole event, relayed and booked as {@code ProxyExchange.relayEvents} does. */
  @Benchmark
  public boolean relayOneEvent() {
    Stream s = nextStream();
    ByteBuf read = reads[s.next];
    s.next = s.next + 1 == reads.length ? 0 : s.next + 1;
    long readNanos = System.nanoTime();
    s.client.readStarted();
    ByteBuf out = s.relay.feed(read);
    out.retain();
    try {
      s.client.forward(out, readNanos, !s.relay.atBoundary(), true); // the read's last events: out before their scan
      s.scanner.feed(out, readNanos);
    } finally {
      out.release();
    }
    s.books.delivered();
    s.client.readDone();
    return s.books.sawTerminator();
  }

  /**
   * One upstream read that is one whole chunk of one whole event, on the raw body path
   * ({@code ProxyExchange.relayWholeChunk}): recognised in place and written as it was read, framing included.
   * Compare with {@link #relayOneEvent}, which is handed the event by the HTTP decoder (its cost is
   * {@link UpstreamDecodeBenchmark}) and copies it into a chunk of the gateway's framing.
   */
  @Benchmark
  public boolean relayOneWholeChunk() {
    Stream s = nextStream();
    ByteBuf read = chunkReads[s.next];
    s.next = s.next + 1 == chunkReads.length ? 0 : s.next + 1;
    return relayWholeChunk(s, read);
  }

  /**
   * {@link #relayOneWholeChunk} for the events most of a stream is: content tokens of one shape, each its own
   * chunk (the events {@code EventShape} recognises without classifying them again).
   */
  @Benchmark
  public boolean relayOneTokenChunk() {
    Stream s = nextStream();
    ByteBuf read = tokenReads[s.next];
    s.next = s.next + 1 == tokenReads.length ? 0 : s.next + 1; // each trial has its own streams, from 0
    return relayWholeChunk(s, read);
  }

  private static boolean relayWholeChunk(Stream s, ByteBuf read) {
    long readNanos = System.nanoTime();
    int length = dev.tokenpipe.http.ChunkedBody.wholeChunk(read);
    int to = read.writerIndex() - 2;
    if (length < 0 || !s.client.takesUpstreamChunks() || !s.relay.wholeEvents(read, to - length, to)) {
      throw new IllegalStateException("not the raw path");
    }
    s.client.readStarted();
    s.client.forwardChunk(read.retain(), readNanos);
    s.scanner.feed(read, to - length, to, readNanos);
    s.books.delivered();
    s.client.readDone();
    return s.books.sawTerminator();
  }
}
