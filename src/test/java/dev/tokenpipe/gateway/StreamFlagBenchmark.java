package dev.tokenpipe.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.util.SplittableRandom;
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
 * What reading a request's {@code "stream"} flag ({@link Route#asksForStream}) costs the event loop, per request,
 * by body size: a chat request whose messages carry {@code bodyBytes} of prose (with newlines, quotes and non-ASCII
 * text, escaped as JSON), {@code "stream":true} last, as the OpenAI SDKs order it. The body is a composite of
 * 16 KiB parts, as {@code HttpObjectAggregator} hands it over after socket reads. Every stream on the loop waits
 * while this runs: a long-context request is 100 KB to 1 MB. {@code bench/jmh.sh StreamFlagBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m"})
public class StreamFlagBenchmark {
  private static final String[] WORDS = {"the", "model", "token", "stream", "latency", "\\n", "\\\"quoted\\\"",
      "größe", "naïve", "数据", "buffer", "proxy", "flush", "\\u00e9t\\u00e9", "tail", "p99"};

  @Param({"1024", "65536", "1048576"})
  int bodyBytes;

  private FullHttpRequest request;

  @Setup
  public void setUp() {
    request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/v1/chat/completions",
        composite(body(bodyBytes).getBytes(UTF_8)));
  }

  /** A chat request of about {@code size} bytes. */
  static String body(int size) {
    SplittableRandom random = new SplittableRandom(42);
    StringBuilder text = new StringBuilder(size);
    while (text.length() < size) {
      text.append(WORDS[random.nextInt(WORDS.length)]).append(' ');
    }
    return "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
        + "{\"role\":\"user\",\"content\":\"" + text + "\"}],\"max_tokens\":256,"
        + "\"stream_options\":{\"include_usage\":true},\"stream\":true}";
  }

  private static ByteBuf composite(byte[] bytes) {
    CompositeByteBuf c = Unpooled.compositeBuffer(Integer.MAX_VALUE);
    for (int from = 0; from < bytes.length; from += 16_384) {
      int n = Math.min(16_384, bytes.length - from);
      c.addComponent(true, Unpooled.wrappedBuffer(bytes, from, n));
    }
    return c;
  }

  @TearDown
  public void tearDown() {
    request.release();
  }

  @Benchmark
  public boolean asksForStream() {
    return Route.asksForStream("/v1/chat/completions", request);
  }
}
