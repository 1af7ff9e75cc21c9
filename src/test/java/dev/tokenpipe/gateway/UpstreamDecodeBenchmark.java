package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpContentDecompressor;
import io.netty.handler.codec.http.HttpMethod;
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
 * The upstream half of the per-event path without sockets: one op = one socket read holding one HTTP/1.1 chunk
 * that is one whole SSE event (what a model server writes and flushes per token), decoded by the upstream
 * pipeline up to the handler that hands it to the exchange. {@code inflate=netty} is Netty's
 * {@link HttpContentDecompressor}, which every body piece passes through even when nothing is encoded;
 * {@code inflate=if-encoded} is {@link InflateIfEncoded}, the pipeline {@link UpstreamInitializer} builds.
 *
 * <p>Run with {@code bench/jmh.sh UpstreamDecodeBenchmark -prof gc}; results in docs/benchmarks.md.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m"})
public class UpstreamDecodeBenchmark {
  @Param({"netty", "if-encoded"})
  public String inflate;

  private ByteBuf[] chunks;
  private EmbeddedChannel channel;
  private Sink sink;
  private int next;

  /** Stands in for {@link UpstreamHandler}: takes each body piece and frees it. */
  private static final class Sink extends ChannelInboundHandlerAdapter {
    long bytes;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpContent c) {
        bytes += c.content().readableBytes();
      }
      ReferenceCountUtil.release(msg);
    }
  }

  @Setup
  public void setUp() {
    chunks = new ByteBuf[RelayPathBenchmark.EVENTS.length];
    for (int i = 0; i < chunks.length; i++) {
      byte[] event = ("data: " + RelayPathBenchmark.EVENTS[i] + "\n\n").getBytes(UTF_8);
      byte[] size = (Integer.toHexString(event.length) + "\r\n").getBytes(UTF_8);
      chunks[i] = PooledByteBufAllocator.DEFAULT.directBuffer(size.length + event.length + 2)
          .writeBytes(size).writeBytes(event).writeBytes(new byte[] {'\r', '\n'});
    }
    ChannelHandler inflater = inflate.equals("netty") ? new HttpContentDecompressor(0) : new InflateIfEncoded();
    sink = new Sink();
    channel = new EmbeddedChannel(new HttpClientCodec(), inflater, sink);
    // The client codec pairs each response with its request (a HEAD's response has no body).
    channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/v1/chat/completions"));
    channel.releaseOutbound();
    channel.writeInbound(PooledByteBufAllocator.DEFAULT.directBuffer().writeBytes((
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").getBytes(UTF_8)));
  }

  @TearDown
  public void tearDown() {
    channel.finishAndReleaseAll();
    for (ByteBuf b : chunks) {
      b.release();
    }
  }

  /** One socket read of one chunk-framed event through the upstream pipeline. */
  @Benchmark
  public long decodeOneEvent() {
    ByteBuf read = chunks[next];
    next = next + 1 == chunks.length ? 0 : next + 1;
    channel.pipeline().fireChannelRead(read.retainedDuplicate());
    channel.pipeline().fireChannelReadComplete();
    return sink.bytes;
  }
}
