package dev.tokenpipe.dialect;

import io.netty.buffer.ByteBuf;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The one definition of a generated token: classifies one stream event (an SSE event's type and data, or
 * an NDJSON line) as the {@link EventKind} bits it carries, for OpenAI chat and completions, Ollama, Anthropic
 * Messages and OpenAI Responses streams. docs/metrics.md lists every shape with its spec source.
 *
 * <p>The data is read by a hand-written JSON scanner that visits only the few paths that matter and skips
 * everything else (strings with escapes, nested values, numbers, literals) without building anything, so a
 * classification allocates nothing; the data may be a {@link CharSequence}, or UTF-8 bytes in an array or a
 * {@link ByteBuf} (never copied, never released, reader index untouched). The JSON grammar is checked as
 * Jackson's defaults check it (no comments, single quotes, leading zeros, trailing commas or raw control
 * characters in strings; nesting up to {@value #MAX_DEPTH}); UTF-8 validity of the bytes is not checked.
 * Malformed data never throws: it is {@link EventKind#NONE} (or {@link EventKind#ERROR} when the SSE event is
 * named {@code error}). Content after the first JSON value is ignored, as Jackson's {@code readTree} does.
 * EventClassifierPropertyTest holds the scanner to a Jackson-tree reading of the same definition.
 *
 * <p>An instance keeps the last event's input to answer {@link #text(int)}; it is not thread-safe: use one
 * per event loop (the static {@link #classify(String, CharSequence)} keeps one per thread). Memory: besides a
 * few fields, the scratch arrays that events of strings and direct buffers are copied into, as large as the
 * largest such event seen and at most {@value #SCRATCH_MAX} bytes plus as many chars.
 */
public final class EventClassifier {
  /** Deeper JSON than this is treated as malformed (Jackson's default bound is 1000 too). */
  static final int MAX_DEPTH = 1000;

  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

  private static final ThreadLocal<EventClassifier> SHARED = ThreadLocal.withInitial(EventClassifier::new);

  /** Thrown (preallocated, no stack) on malformed JSON: the scanner unwinds without allocating. */
  private static final class Malformed extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Malformed() {
      super("malformed JSON", null, false, false);
    }
  }

  private static final Malformed MALFORMED = new Malformed();

  private static final int CHARS = 0;
  private static final int BYTES = 1;
  private static final int BUF = 2;
  private static final int CHAR_ARRAY = 3;

  // Facts seen while scanning; combined in result() once the whole object has been read (keys come in any order).
  private static final int F_CHOICE_CONTENT = 0; // choices[].delta.content / .message.content / .text
  private static final int F_CHOICE_REASONING = 1; // choices[].delta.reasoning_content / .reasoning
  private static final int F_CHOICE_TOOL = 2; // choices[].delta.tool_calls[].function.name|arguments, .function_call
  private static final int F_OLLAMA_CONTENT = 3; // message.content / response (strings)
  private static final int F_DELTA_STRING = 4; // Responses: "delta":"..."
  private static final int F_DELTA_TEXT = 5; // Anthropic: delta.text
  private static final int F_DELTA_THINKING = 6; // Anthropic: delta.thinking
  private static final int F_DELTA_JSON = 7; // Anthropic: delta.partial_json
  private static final int FACTS = 8;
  private static final int F_DONE = 1 << 8; // Ollama "done": true
  private static final int F_ERROR = 1 << 9; // "error": {...} or a non-empty string
  private static final int F_TYPED = 1 << 10; // the data has a string "type": the SSE event type is not consulted
  private static final int F_FINISHED = 1 << 11; // choices[].finish_reason is a string (not null)

  // Values of a top-level "type" (or the SSE event type) that decide a dialect event's meaning.
  private static final String[] TYPES = {
      "content_block_delta", "message_stop", "error", "response.output_text.delta", "response.reasoning_text.delta",
      "response.reasoning_summary_text.delta", "response.function_call_arguments.delta", "response.completed",
      "response.incomplete", "response.failed"};
  private static final int T_CONTENT_BLOCK_DELTA = 0;
  private static final int T_MESSAGE_STOP = 1;
  private static final int T_ERROR = 2;
  private static final int T_OUTPUT_TEXT_DELTA = 3;
  private static final int T_REASONING_TEXT_DELTA = 4;
  private static final int T_REASONING_SUMMARY_DELTA = 5;
  private static final int T_FUNCTION_ARGS_DELTA = 6;
  private static final int T_COMPLETED = 7;
  private static final int T_INCOMPLETE = 8;
  private static final int T_FAILED = 9;

  private static final String[] DELTA_TYPES = {"text_delta", "thinking_delta", "input_json_delta"};

  /** Largest event copied into a scratch array (direct buffers, strings); larger ones are read in place. */
  static final int SCRATCH_MAX = 16 * 1024;

  private byte[] scratch = new byte[0];
  private char[] charScratch = new char[0];
  private int mode;
  private CharSequence chars;
  private byte[] bytes;
  private ByteBuf buf;
  private int pos;
  private int end;

  private boolean malformed;
  private int facts;
  private int type;
  private int deltaType;
  private long usageCompletion;
  private long usageOutput;
  private long usageResponse;
  private long evalCount;
  private final int[] spanStart = new int[FACTS];
  private final int[] spanEnd = new int[FACTS];
  // Field handlers made once: a method reference created per call would allocate.
  private final Field fChoiceField = this::choiceField;
  private final Field fChatDeltaField = this::chatDeltaField;
  private final Field fToolCallField = this::toolCallField;
  private final Field fFunctionField = this::functionField;
  private final Field fOllamaMessageField = this::ollamaMessageField;
  private final Field fAnthropicDeltaField = this::anthropicDeltaField;
  private final Field fUsageField = this::usageField;
  private final Field fResponseField = this::responseField;
  private final Field fResponseUsageField = this::responseUsageField;
  private final Field fSkipField = this::skipField;
  /** Per kind bit index (0 content, 1 reasoning, 2 tool call): the fact whose span is its text, or -1. */
  private final int[] textFact = new int[3];

  /** Classifies one event with this thread's shared instance; the instance keeps no reference afterwards. */
  public static long classify(String sseType, CharSequence data) {
    EventClassifier c = SHARED.get();
    long result = c.of(sseType, data);
    c.forget();
    return result;
  }

  /**
   * Classifies one event.
   *
   * @param sseType the SSE event type ({@code "message"} when none was given), or null for NDJSON lines
   * @param data the event's data (an NDJSON line), JSON or {@code [DONE]}
   * @return the {@link EventKind} bits and usage
   */
  public long of(String sseType, CharSequence data) {
    int length = data.length();
    if (data instanceof String str && length <= SCRATCH_MAX) {
      // One bulk copy, then plain array reads: cheaper than an interface call per character.
      if (charScratch.length < length) {
        charScratch = new char[Math.max(512, Integer.highestOneBit(Math.max(1, length - 1)) << 1)];
      }
      str.getChars(0, length, charScratch, 0);
      mode = CHAR_ARRAY;
    } else {
      mode = CHARS;
      chars = data;
    }
    return run(sseType, 0, length);
  }

  /** As {@link #of(String, CharSequence)}, for UTF-8 data in {@code bytes[offset, offset + length)}. */
  public long of(String sseType, byte[] data, int offset, int length) {
    mode = BYTES;
    bytes = data;
    return run(sseType, offset, offset + length);
  }

  /**
   * As {@link #of(String, CharSequence)}, for UTF-8 data in {@code data.getByte(index .. index + length - 1)};
   * the buffer's indices and reference count are not touched. A direct buffer's event of up to {@value
   * #SCRATCH_MAX} bytes is first copied, eight bytes at a time, into this instance's reused scratch array
   * (reading it byte by byte through {@code getByte} costs a bounds and liveness check per byte).
   */
  public long of(String sseType, ByteBuf data, int index, int length) {
    if (data.hasArray()) {
      return of(sseType, data.array(), data.arrayOffset() + index, length);
    }
    if (length <= SCRATCH_MAX) {
      if (scratch.length < length) {
        scratch = new byte[Math.max(512, Integer.highestOneBit(Math.max(1, length - 1)) << 1)];
      }
      copy(data, index, length);
      return of(sseType, scratch, 0, length);
    }
    mode = BUF;
    buf = data;
    return run(sseType, index, index + length);
  }

  /**
   * Copies {@code data[index, index + length)} into {@link #scratch}, eight bytes per checked read. Not
   * {@code getBytes(int, byte[], ...)}: on a pooled direct buffer that duplicates an NIO buffer per call (64
   * bytes allocated per event, measured), which escape analysis removes only sometimes.
   */
  private void copy(ByteBuf data, int index, int length) {
    int i = 0;
    for (; i + 8 <= length; i += 8) {
      LONGS.set(scratch, i, data.getLong(index + i)); // getLong is big-endian, as the view
    }
    for (; i < length; i++) {
      scratch[i] = data.getByte(index + i);
    }
  }

  /**
   * The text of one generated kind of the last classified event: the first non-empty string value of that
   * kind in document order (for a chunk with several choices, the first one that has it), decoded; "" when
   * the event does not carry {@code kind}. Only valid while the last input is unchanged; this allocates.
   *
   * @param kind {@link EventKind#CONTENT}, {@link EventKind#REASONING} or {@link EventKind#TOOL_CALL}
   */
  public String text(int kind) {
    int i = Integer.numberOfTrailingZeros(kind);
    if (i > 2 || textFact[i] < 0) {
      return "";
    }
    int f = textFact[i];
    return decode(spanStart[f], spanEnd[f]);
  }

  /**
   * Where the last event's generated text lies in its input, when it has exactly one: {@code (start << 32) |
   * end}, the offsets of the string's content between its quotes (into the caller's array for {@link #of(String,
   * byte[], int, int)}; for other input, into a private copy, so of no use to the caller), when the
   * event was valid JSON, set exactly one text fact and that fact is the text of a kind it reported; else -1.
   * {@link EventShape} uses it: an event equal to this one outside that string has the same kind.
   */
  public long soleTextSpan() {
    int f = facts & ((1 << FACTS) - 1);
    if (malformed || Integer.bitCount(f) != 1) {
      return -1;
    }
    int fact = Integer.numberOfTrailingZeros(f);
    if (textFact[0] != fact && textFact[1] != fact && textFact[2] != fact) {
      return -1;
    }
    return ((long) spanStart[fact] << 32) | spanEnd[fact];
  }

  /**
   * Where the JSON string whose content starts at {@code b[from]} ends: the index of its closing quote, read by
   * the rules {@link #of} reads strings by (valid escapes, no raw control character) within {@code b[from,
   * limit)}; -1 when it is not valid or does not end there. {@code b[from - 1]} must be its opening quote.
   * Forgets the last event's input, as {@link #forget} does; {@link #malformed} still answers for the last event
   * classified.
   */
  public int stringEnd(byte[] b, int from, int limit) {
    forget();
    mode = BYTES;
    bytes = b;
    pos = from - 1;
    end = limit;
    try {
      skipString();
      return pos - 1;
    } catch (Malformed | IndexOutOfBoundsException e) {
      return -1;
    } finally {
      bytes = null;
    }
  }

  /** True when the last event's data starts like a JSON object but is not valid JSON (it was classified as nothing). */
  public boolean malformed() {
    return malformed;
  }

  /** Drops the references to the last input (a released buffer must not be read by a late {@link #text}). */
  public void forget() {
    chars = null;
    bytes = null;
    buf = null;
    textFact[0] = textFact[1] = textFact[2] = -1;
  }

  // ------------------------------------------------------------------------------------------- top level

  private long run(String sseType, int from, int to) {
    pos = from;
    end = to;
    malformed = false;
    facts = 0;
    type = -1;
    deltaType = -1;
    usageCompletion = usageOutput = usageResponse = evalCount = -1;
    textFact[0] = textFact[1] = textFact[2] = -1;
    boolean sseError = "error".equals(sseType);
    int errorBit = sseError ? EventKind.ERROR : 0;
    try {
      ws();
      if (pos >= end) {
        return errorBit;
      }
      int c = at(pos);
      if (c == '[') {
        return isDone() ? EventKind.TERMINATOR | errorBit : errorBit;
      }
      if (c != '{') {
        return errorBit;
      }
      topObject();
    } catch (Malformed | IndexOutOfBoundsException e) {
      malformed = true;
      textFact[0] = textFact[1] = textFact[2] = -1;
      return errorBit;
    }
    if (type < 0 && sseType != null && (facts & F_TYPED) == 0) {
      type = matchTypeName(sseType);
    }
    return result() | errorBit;
  }

  /** {@code [DONE]} with nothing but whitespace around it. */
  private boolean isDone() {
    String done = "[DONE]";
    for (int i = 0; i < done.length(); i++) {
      if (pos >= end || at(pos++) != done.charAt(i)) {
        return false;
      }
    }
    ws();
    return pos >= end;
  }

  private long result() {
    int flags = 0;
    if (fact(F_CHOICE_CONTENT)) {
      flags |= kind(EventKind.CONTENT, F_CHOICE_CONTENT);
    }
    if (fact(F_OLLAMA_CONTENT)) {
      flags |= kind(EventKind.CONTENT, F_OLLAMA_CONTENT);
    }
    if (fact(F_CHOICE_REASONING)) {
      flags |= kind(EventKind.REASONING, F_CHOICE_REASONING);
    }
    if (fact(F_CHOICE_TOOL)) {
      flags |= kind(EventKind.TOOL_CALL, F_CHOICE_TOOL);
    }
    switch (type) {
      case T_CONTENT_BLOCK_DELTA -> {
        if (deltaType == 0 && fact(F_DELTA_TEXT)) {
          flags |= kind(EventKind.CONTENT, F_DELTA_TEXT);
        } else if (deltaType == 1 && fact(F_DELTA_THINKING)) {
          flags |= kind(EventKind.REASONING, F_DELTA_THINKING);
        } else if (deltaType == 2 && fact(F_DELTA_JSON)) {
          flags |= kind(EventKind.TOOL_CALL, F_DELTA_JSON);
        }
      }
      case T_OUTPUT_TEXT_DELTA -> flags |= fact(F_DELTA_STRING) ? kind(EventKind.CONTENT, F_DELTA_STRING) : 0;
      case T_REASONING_TEXT_DELTA, T_REASONING_SUMMARY_DELTA ->
          flags |= fact(F_DELTA_STRING) ? kind(EventKind.REASONING, F_DELTA_STRING) : 0;
      case T_FUNCTION_ARGS_DELTA -> flags |= fact(F_DELTA_STRING) ? kind(EventKind.TOOL_CALL, F_DELTA_STRING) : 0;
      case T_MESSAGE_STOP, T_COMPLETED, T_INCOMPLETE -> flags |= EventKind.TERMINATOR;
      case T_FAILED -> flags |= EventKind.TERMINATOR | EventKind.ERROR;
      case T_ERROR -> flags |= EventKind.ERROR;
      default -> { }
    }
    if ((facts & F_DONE) != 0) {
      flags |= EventKind.TERMINATOR;
    }
    if ((facts & F_ERROR) != 0) {
      flags |= EventKind.ERROR;
    }
    if ((facts & F_FINISHED) != 0) {
      flags |= EventKind.FINISHED;
    }
    long usage = usageCompletion >= 0 ? usageCompletion
        : usageOutput >= 0 ? usageOutput
        : usageResponse >= 0 ? usageResponse
        : evalCount;
    return EventKind.of(flags, usage);
  }

  private boolean fact(int f) {
    return (facts & (1 << f)) != 0;
  }

  /** Returns {@code kind}, remembering {@code fact}'s span as its text unless an earlier fact already gave one. */
  private int kind(int kind, int fact) {
    int i = Integer.numberOfTrailingZeros(kind);
    if (textFact[i] < 0) {
      textFact[i] = fact;
    }
    return kind;
  }

  /** Records a non-empty string value (pos on its opening quote) as {@code fact}; the first one wins the span. */
  private void stringFact(int fact) {
    int start = pos + 1;
    skipString();
    int stop = pos - 1;
    if (stop > start && !fact(fact)) {
      facts |= 1 << fact;
      spanStart[fact] = start;
      spanEnd[fact] = stop;
    }
  }

  // -------------------------------------------------------------------------------------- dialect paths

  private void topObject() {
    pos++; // '{'
    ws();
    if (peek() == '}') {
      pos++;
      return;
    }
    while (true) {
      ws();
      int ks = pos + 1;
      skipString();
      int ke = pos - 1;
      colon();
      int c = peek();
      if (key(ks, ke, "choices")) {
        if (c == '[') {
          choices();
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "usage")) {
        if (c == '{') {
          usage();
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "type")) {
        if (c == '"') {
          int vs = pos + 1;
          skipString();
          facts |= F_TYPED;
          type = match(vs, pos - 1, TYPES);
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "delta")) {
        if (c == '"') {
          stringFact(F_DELTA_STRING);
        } else if (c == '{') {
          anthropicDelta();
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "message")) {
        if (c == '{') {
          object(fOllamaMessageField, 2);
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "response")) {
        if (c == '"') {
          stringFact(F_OLLAMA_CONTENT);
        } else if (c == '{') {
          object(fResponseField, 2);
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "error")) {
        if (c == '{') {
          facts |= F_ERROR;
          skipValue(1);
        } else if (c == '"') {
          int vs = pos;
          skipString();
          if (pos - vs > 2) {
            facts |= F_ERROR;
          }
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "done")) {
        if (c == 't') {
          literal("true");
          facts |= F_DONE;
        } else {
          skipValue(1);
        }
      } else if (key(ks, ke, "eval_count")) {
        evalCount = integer(1);
      } else {
        skipValue(1);
      }
      if (!nextMember()) {
        return;
      }
    }
  }

  /** A field handler: pos on the value; must consume it. */
  private interface Field {
    void read(int keyStart, int keyEnd, int depth);
  }

  /** Reads an object (pos on '{'), handing each member's value to {@code field}. */
  private void object(Field field, int depth) {
    if (depth > MAX_DEPTH) {
      throw MALFORMED;
    }
    pos++;
    ws();
    if (peek() == '}') {
      pos++;
      return;
    }
    while (true) {
      ws();
      int ks = pos + 1;
      skipString();
      int ke = pos - 1;
      colon();
      field.read(ks, ke, depth);
      if (!nextMember()) {
        return;
      }
    }
  }

  /** Reads an array (pos on '['), handing each object element to {@code field}'s object and skipping the rest. */
  private void arrayOfObjects(Field field, int depth) {
    if (depth > MAX_DEPTH) {
      throw MALFORMED;
    }
    pos++;
    ws();
    if (peek() == ']') {
      pos++;
      return;
    }
    while (true) {
      ws();
      if (peek() == '{') {
        object(field, depth + 1);
      } else {
        skipValue(depth + 1);
      }
      ws();
      int c = next();
      if (c == ']') {
        return;
      }
      if (c != ',') {
        throw MALFORMED;
      }
    }
  }

  private void choices() {
    arrayOfObjects(fChoiceField, 2);
  }

  private void choiceField(int ks, int ke, int depth) {
    int c = peek();
    if (c == '{' && (key(ks, ke, "delta") || key(ks, ke, "message"))) {
      object(fChatDeltaField, depth + 1);
    } else if (c == '"' && key(ks, ke, "text")) {
      stringFact(F_CHOICE_CONTENT);
    } else if (c == '"' && key(ks, ke, "finish_reason")) {
      facts |= F_FINISHED; // a token chunk's is null: this compares nothing on the token path
      skipString();
    } else {
      skipValue(depth + 1);
    }
  }

  private void chatDeltaField(int ks, int ke, int depth) {
    int c = peek();
    if (c == '"' && key(ks, ke, "content")) {
      stringFact(F_CHOICE_CONTENT);
    } else if (c == '"' && (key(ks, ke, "reasoning_content") || key(ks, ke, "reasoning"))) {
      stringFact(F_CHOICE_REASONING);
    } else if (c == '[' && key(ks, ke, "tool_calls")) {
      arrayOfObjects(fToolCallField, depth + 1);
    } else if (c == '{' && key(ks, ke, "function_call")) {
      object(fFunctionField, depth + 1);
    } else {
      skipValue(depth + 1);
    }
  }

  private void toolCallField(int ks, int ke, int depth) {
    if (peek() == '{' && key(ks, ke, "function")) {
      object(fFunctionField, depth + 1);
    } else {
      skipValue(depth + 1);
    }
  }

  private void functionField(int ks, int ke, int depth) {
    if (peek() == '"' && (key(ks, ke, "name") || key(ks, ke, "arguments"))) {
      stringFact(F_CHOICE_TOOL);
    } else {
      skipValue(depth + 1);
    }
  }

  private void ollamaMessageField(int ks, int ke, int depth) {
    if (peek() == '"' && key(ks, ke, "content")) {
      stringFact(F_OLLAMA_CONTENT);
    } else {
      skipValue(depth + 1);
    }
  }

  private void anthropicDelta() {
    object(fAnthropicDeltaField, 2);
  }

  private void anthropicDeltaField(int ks, int ke, int depth) {
    int c = peek();
    if (c != '"') {
      skipValue(depth + 1);
    } else if (key(ks, ke, "type")) {
      int vs = pos + 1;
      skipString();
      deltaType = match(vs, pos - 1, DELTA_TYPES);
    } else if (key(ks, ke, "text")) {
      stringFact(F_DELTA_TEXT);
    } else if (key(ks, ke, "thinking")) {
      stringFact(F_DELTA_THINKING);
    } else if (key(ks, ke, "partial_json")) {
      stringFact(F_DELTA_JSON);
    } else {
      skipValue(depth + 1);
    }
  }

  private void usage() {
    object(fUsageField, 2);
  }

  private void usageField(int ks, int ke, int depth) {
    if (key(ks, ke, "completion_tokens")) {
      usageCompletion = integer(depth + 1);
    } else if (key(ks, ke, "output_tokens")) {
      usageOutput = integer(depth + 1);
    } else {
      skipValue(depth + 1);
    }
  }

  private void responseField(int ks, int ke, int depth) {
    if (peek() == '{' && key(ks, ke, "usage")) {
      object(fResponseUsageField, depth + 1);
    } else {
      skipValue(depth + 1);
    }
  }

  private void responseUsageField(int ks, int ke, int depth) {
    if (key(ks, ke, "output_tokens")) {
      usageResponse = integer(depth + 1);
    } else {
      skipValue(depth + 1);
    }
  }

  // ------------------------------------------------------------------------------------------ JSON scanner

  private int at(int i) {
    return switch (mode) {
      case CHAR_ARRAY -> charScratch[i];
      case BYTES -> bytes[i] & 0xFF;
      case CHARS -> chars.charAt(i);
      default -> buf.getByte(i) & 0xFF;
    };
  }

  private int peek() {
    if (pos >= end) {
      throw MALFORMED;
    }
    return at(pos);
  }

  private int next() {
    if (pos >= end) {
      throw MALFORMED;
    }
    return at(pos++);
  }

  private void ws() {
    while (pos < end) {
      int c = at(pos);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      pos++;
    }
  }

  private void colon() {
    ws();
    if (next() != ':') {
      throw MALFORMED;
    }
    ws();
  }

  /** After a member's value: true on ',' (and pos on the next key's quote), false on '}'. */
  private boolean nextMember() {
    ws();
    int c = next();
    if (c == '}') {
      return false;
    }
    if (c != ',') {
      throw MALFORMED;
    }
    ws();
    if (peek() != '"') {
      throw MALFORMED;
    }
    return true;
  }

  /** Skips any JSON value at pos. */
  private void skipValue(int depth) {
    if (depth > MAX_DEPTH) {
      throw MALFORMED;
    }
    int c = peek();
    switch (c) {
      case '"' -> skipString();
      case '{' -> object(fSkipField, depth);
      case '[' -> {
        pos++;
        ws();
        if (peek() == ']') {
          pos++;
          return;
        }
        while (true) {
          ws();
          skipValue(depth + 1);
          ws();
          int n = next();
          if (n == ']') {
            return;
          }
          if (n != ',') {
            throw MALFORMED;
          }
        }
      }
      case 't' -> literal("true");
      case 'f' -> literal("false");
      case 'n' -> literal("null");
      default -> {
        if (c == '-' || (c >= '0' && c <= '9')) {
          number();
        } else {
          throw MALFORMED;
        }
      }
    }
  }

  private void skipField(int ks, int ke, int depth) {
    skipValue(depth + 1);
  }

  private void literal(String word) {
    for (int i = 0; i < word.length(); i++) {
      if (next() != word.charAt(i)) {
        throw MALFORMED;
      }
    }
    endOfToken();
  }

  /** A literal or number must not run into letters or digits ({@code truex}, {@code 12a}): Jackson rejects those. */
  private void endOfToken() {
    if (pos < end) {
      int c = at(pos);
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
          || c == '-' || c == '+') {
        throw MALFORMED;
      }
    }
  }

  /**
   * Scans a number at pos (JSON grammar: no leading zeros, no bare '.', no '+').
   *
   * @return its value when it is a non-negative integer of at most 15 digits, else -1
   */
  private long number() {
    boolean negative = false;
    if (peek() == '-') {
      negative = true;
      pos++;
    }
    int first = next();
    if (first < '0' || first > '9') {
      throw MALFORMED;
    }
    long value = first - '0';
    int digits = 1;
    if (first != '0') {
      while (pos < end && at(pos) >= '0' && at(pos) <= '9') {
        value = digits < 18 ? value * 10 + (at(pos) - '0') : value;
        digits++;
        pos++;
      }
    }
    boolean integral = true;
    if (pos < end && at(pos) == '.') {
      integral = false;
      pos++;
      digitsRequired();
    }
    if (pos < end && (at(pos) == 'e' || at(pos) == 'E')) {
      integral = false;
      pos++;
      if (pos < end && (at(pos) == '+' || at(pos) == '-')) {
        pos++;
      }
      digitsRequired();
    }
    endOfToken();
    if (!integral || digits > 15) {
      return -1;
    }
    return negative && value != 0 ? -1 : value;
  }

  private void digitsRequired() {
    int c = next();
    if (c < '0' || c > '9') {
      throw MALFORMED;
    }
    while (pos < end && at(pos) >= '0' && at(pos) <= '9') {
      pos++;
    }
  }

  /** A usage count: the value when it is a non-negative integer, else -1 (other values are skipped). */
  private long integer(int depth) {
    int c = peek();
    if (c == '-' || (c >= '0' && c <= '9')) {
      return number();
    }
    skipValue(depth);
    return -1;
  }

  /** Skips the string at pos (on its opening quote); pos ends after the closing quote. */
  private void skipString() {
    if (next() != '"') {
      throw MALFORMED;
    }
    if (mode == BYTES) {
      skipPlainRun();
    }
    while (true) {
      int c = next();
      if (c == '"') {
        return;
      }
      if (c == '\\') {
        int e = next();
        if (e == 'u') {
          for (int i = 0; i < 4; i++) {
            if (hex(next()) < 0) {
              throw MALFORMED;
            }
          }
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
          throw MALFORMED;
        }
      } else if (c < 0x20) {
        throw MALFORMED; // raw control characters are not allowed in JSON strings
      }
    }
  }

  /**
   * Moves past whole 8-byte words of a string's plain run (no quote, backslash or control character in them):
   * most of an event's bytes are string contents, and this reads them a word at a time instead of a byte at a
   * time. The byte loop of {@link #skipString} takes over at the first word that holds anything else.
   */
  private void skipPlainRun() {
    byte[] b = bytes;
    int i = pos;
    while (i + 8 <= end && !ByteWords.hasQuoteBackslashOrControl((long) LONGS.get(b, i))) {
      i += 8;
    }
    pos = i;
  }

  private static int hex(int c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }

  /** True when the (already validated) string body in [start, end) decodes to {@code literal}. */
  private boolean key(int start, int stop, String literal) {
    int i = start;
    int n = literal.length();
    for (int k = 0; k < n; k++) {
      if (i >= stop) {
        return false;
      }
      int c = at(i++);
      if (c == '\\') {
        int e = at(i++);
        if (e == 'u') {
          c = (hex(at(i)) << 12) | (hex(at(i + 1)) << 8) | (hex(at(i + 2)) << 4) | hex(at(i + 3));
          i += 4;
        } else {
          c = unescape(e);
        }
      }
      if (c != literal.charAt(k)) {
        return false;
      }
    }
    return i == stop;
  }

  private static int unescape(int e) {
    return switch (e) {
      case 'b' -> '\b';
      case 'f' -> '\f';
      case 'n' -> '\n';
      case 'r' -> '\r';
      case 't' -> '\t';
      default -> e; // '"', '\\', '/'
    };
  }

  private int match(int start, int stop, String[] names) {
    for (int i = 0; i < names.length; i++) {
      if (key(start, stop, names[i])) {
        return i;
      }
    }
    return -1;
  }

  private static int matchTypeName(String sseType) {
    for (int i = 0; i < TYPES.length; i++) {
      if (TYPES[i].equals(sseType)) {
        return i;
      }
    }
    return -1;
  }

  /** Decodes the (validated) JSON string body in [start, stop) of the current input. */
  private String decode(int start, int stop) {
    StringBuilder sb = new StringBuilder(stop - start);
    int run = start; // start of the current run of unescaped units
    int i = start;
    while (i < stop) {
      if (at(i) != '\\') {
        i++;
        continue;
      }
      appendRun(sb, run, i);
      int e = at(i + 1);
      if (e == 'u') {
        sb.append((char) ((hex(at(i + 2)) << 12) | (hex(at(i + 3)) << 8) | (hex(at(i + 4)) << 4) | hex(at(i + 5))));
        i += 6;
      } else {
        sb.append((char) unescape(e));
        i += 2;
      }
      run = i;
    }
    appendRun(sb, run, stop);
    return sb.toString();
  }

  private void appendRun(StringBuilder sb, int from, int to) {
    if (from >= to) {
      return;
    }
    switch (mode) {
      case CHAR_ARRAY -> sb.append(charScratch, from, to - from);
      case CHARS -> sb.append(chars, from, to);
      case BYTES -> sb.append(new String(bytes, from, to - from, StandardCharsets.UTF_8));
      default -> sb.append(buf.toString(from, to - from, StandardCharsets.UTF_8));
    }
  }
}
