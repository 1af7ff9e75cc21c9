package dev.tokenpipe.gateway;

import dev.tokenpipe.dialect.EventClassifier;
import dev.tokenpipe.dialect.EventKind;
import dev.tokenpipe.openai.Json;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;

/**
 * The output tokens of a whole (non-stream) JSON answer, read from its usage when it ended: the answer's bytes
 * are relayed as they come and copied on the side, up to {@link #MAX_BYTES}; at the end the copy is read as one
 * event by the books' own definition ({@link EventClassifier}: {@code usage.completion_tokens} of OpenAI chat and
 * completions, {@code usage.output_tokens} of Anthropic Messages and Responses, Ollama's {@code eval_count}).
 * A larger answer, or one that names no usage, has unknown tokens (-1), never 0. The same copy proves an answer
 * that ends at the upstream's close cut when it is not whole JSON ({@link #provenCut}). Memory: at most
 * {@value #MAX_BYTES} bytes per answer, while it is relayed (docs/serve.md, "Memory per stream").
 */
final class AnswerUsage {
  /** The books' scanner reads a stream's lines up to 1 MiB; a whole answer gets as much. */
  static final int MAX_BYTES = 1 << 20;

  private byte[] copy = new byte[1024];
  private int length;
  private boolean tooLarge;

  private AnswerUsage() {}

  /** A reader for the body of {@code head}, or null when it is not JSON (no usage to read). */
  static AnswerUsage forHead(HttpResponse head) {
    String type = head.headers().get(HttpHeaderNames.CONTENT_TYPE);
    return type != null && type.toLowerCase(Locale.ROOT).contains("json") ? new AnswerUsage() : null;
  }

  /** A piece of the body, as relayed (indices untouched). */
  void feed(ByteBuf piece) {
    int n = piece.readableBytes();
    if (tooLarge || n == 0) {
      return;
    }
    if (length + n > MAX_BYTES) {
      tooLarge = true;
      copy = null;
      return;
    }
    if (length + n > copy.length) {
      copy = Arrays.copyOf(copy, Math.min(MAX_BYTES, Math.max(copy.length * 2, length + n)));
    }
    piece.getBytes(piece.readerIndex(), copy, length, n);
    length += n;
  }

  /**
   * True when the answer is known not to be whole JSON: read in full (within the bound) and not one complete JSON
   * value. An answer without a length or chunks ends at the upstream's close, cut or not, and this is then the
   * only proof either way. Call at the end, before {@link #tokens}.
   */
  boolean provenCut() {
    if (tooLarge) {
      return false; // not read whole: nothing proven
    }
    try {
      return !Json.oneWholeValue(Json.MAPPER.getFactory().createParser(copy, 0, length));
    } catch (IOException e) {
      return true; // not JSON
    }
  }

  /** The answer's output tokens by its usage, or -1 when unknown; call once, at its end. */
  long tokens() {
    if (tooLarge) {
      return -1;
    }
    long tokens = EventKind.usage(new EventClassifier().of("message", copy, 0, length));
    copy = null;
    return tokens;
  }
}
