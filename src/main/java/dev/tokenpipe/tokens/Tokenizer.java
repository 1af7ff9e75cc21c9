package dev.tokenpipe.tokens;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A real BPE tokenizer (OpenAI's cl100k_base via JTokkit, vocabulary bundled in the jar), so that
 * simulated output has realistic token boundaries and token counts match what SDKs compute.
 */
public final class Tokenizer {
  private static final Tokenizer CL100K = new Tokenizer(
      Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.CL100K_BASE));

  private final Encoding encoding;

  private Tokenizer(Encoding encoding) {
    this.encoding = encoding;
  }

  public static Tokenizer cl100k() {
    return CL100K;
  }

  public int count(String text) {
    return text == null || text.isEmpty() ? 0 : encoding.countTokensOrdinary(text);
  }

  /**
   * Splits text into the strings of its tokens. A token that ends inside a multi-byte UTF-8
   * character is joined with the next one, so every piece is valid text on its own.
   */
  public List<String> split(String text) {
    IntArrayList ids = encoding.encodeOrdinary(text);
    List<String> pieces = new ArrayList<>(ids.size());
    IntArrayList pending = new IntArrayList();
    for (int i = 0; i < ids.size(); i++) {
      pending.add(ids.get(i));
      String piece = strictUtf8(encoding.decodeBytes(pending));
      if (piece != null) {
        pieces.add(piece);
        pending.clear();
      }
    }
    if (!pending.isEmpty()) {
      pieces.add(encoding.decode(pending));
    }
    return pieces;
  }

  private static String strictUtf8(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }
}
