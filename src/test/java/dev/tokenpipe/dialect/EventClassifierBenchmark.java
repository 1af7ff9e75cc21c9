package dev.tokenpipe.dialect;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost per event of deciding what a relayed event carries (issue 15's target: at most 256 bytes allocated per
 * relayed event). Events cycle through a realistic chat stream: role chunk, content chunks, a reasoning chunk,
 * a tool-call chunk, the finish chunk and the usage chunk, as vLLM and OpenAI write them.
 *
 * <p>{@code scanString} / {@code scanBytes} / {@code scanDirectBuf} are {@link EventClassifier} over the three
 * inputs; {@code jacksonTree} is what the gateway did before (a tree per event); {@code jacksonStreaming} is the
 * other candidate (Jackson's token stream over the bytes, skipping every value), kept to show why it lost.
 * Run with {@code bench/jmh.sh EventClassifierBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m"})
public class EventClassifierBenchmark {
  private static final String HEAD =
      "{\"id\":\"chatcmpl-8f1c2a9d\",\"object\":\"chat.completion.chunk\",\"created\":1732965432,"
      + "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,";
  static final String[] EVENTS = {
      HEAD + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"reasoning_content\":\"Let me think\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" The\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" quick\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" brown \\\"fox\\\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"content\":\" jumps\"},\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},"
          + "\"logprobs\":null,\"finish_reason\":null}]}",
      HEAD + "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}",
      "{\"id\":\"chatcmpl-8f1c2a9d\",\"object\":\"chat.completion.chunk\",\"created\":1732965432,"
          + "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[],"
          + "\"usage\":{\"prompt_tokens\":12,\"total_tokens\":76,\"completion_tokens\":64}}",
      "[DONE]"};

  private static final JsonFactory FACTORY = Json.MAPPER.getFactory();

  private final EventClassifier classifier = new EventClassifier();
  private byte[][] bytes;
  private ByteBuf[] direct;
  private int i;

  @Setup(Level.Trial)
  public void setUp() {
    bytes = new byte[EVENTS.length][];
    direct = new ByteBuf[EVENTS.length];
    for (int k = 0; k < EVENTS.length; k++) {
      bytes[k] = EVENTS[k].getBytes(UTF_8);
      direct[k] = PooledByteBufAllocator.DEFAULT.directBuffer(bytes[k].length).writeBytes(bytes[k]);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (ByteBuf b : direct) {
      b.release();
    }
  }

  private int next() {
    int k = i;
    i = k + 1 == EVENTS.length ? 0 : k + 1;
    return k;
  }

  @Benchmark
  public long scanString() {
    return classifier.of("message", EVENTS[next()]);
  }

  @Benchmark
  public long scanBytes() {
    byte[] b = bytes[next()];
    return classifier.of("message", b, 0, b.length);
  }

  @Benchmark
  public long scanDirectBuf() {
    ByteBuf b = direct[next()];
    return classifier.of("message", b, b.readerIndex(), b.readableBytes());
  }

  /** The gateway's former classification: a Jackson tree per event. */
  @Benchmark
  public long jacksonTree() throws IOException {
    String data = EVENTS[next()];
    if (data.charAt(0) != '{') {
      return EventKind.TERMINATOR;
    }
    JsonNode root = Json.MAPPER.readTree(data);
    JsonNode delta = root.path("choices").path(0).path("delta");
    int flags = delta.path("content").isTextual() && !delta.path("content").asText().isEmpty() ? EventKind.CONTENT : 0;
    return EventKind.of(flags, root.path("usage").path("completion_tokens").asLong(-1));
  }

  /** The candidate not taken: Jackson's streaming parser over the bytes, skipping everything. */
  @Benchmark
  public long jacksonStreaming() throws IOException {
    byte[] b = bytes[next()];
    if (b[0] != '{') {
      return EventKind.TERMINATOR;
    }
    long n = 0;
    try (JsonParser p = FACTORY.createParser(b)) {
      for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
        n += t.id();
      }
    }
    return n;
  }
}
