package dev.tokenpipe.client;

import static dev.tokenpipe.client.DialectUpstream.CUT;
import static dev.tokenpipe.client.DialectUpstream.NDJSON;
import static dev.tokenpipe.client.DialectUpstream.SSE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.client.StreamingClientTest.Recorder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client reads every dialect's stream end by the shared definition, over real sockets: Anthropic's
 * {@code message_stop} and Responses' {@code response.completed} / {@code .incomplete} complete a stream,
 * Ollama's {@code done} line too; the same streams cut before their end are truncated, whether the body ends
 * cleanly or the connection drops; {@code response.failed} and Anthropic's {@code event: error} are error events.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DialectStreamsTest {
  static final List<String> TEXT = List.of("Hello", ",", " world", "!");
  static DialectUpstream upstream;
  static StreamingClient client;

  @BeforeAll
  static void start() throws Exception {
    upstream = new DialectUpstream()
        .on("/anthropic/v1/messages", SSE, DialectUpstream.anthropic(TEXT, 15))
        .on("/anthropic-cut/v1/messages", SSE, DialectUpstream.before(DialectUpstream.anthropic(TEXT, 15), "message_stop"))
        .on("/anthropic-drop/v1/messages", SSE, with(DialectUpstream.before(DialectUpstream.anthropic(TEXT, 15), "message_delta"), CUT))
        .on("/anthropic-error/v1/messages", SSE, DialectUpstream.anthropicOverloaded())
        .on("/responses/v1/responses", SSE, DialectUpstream.responses(TEXT, 12, "response.completed"))
        .on("/incomplete/v1/responses", SSE, DialectUpstream.responses(TEXT, 4, "response.incomplete"))
        .on("/responses-cut/v1/responses", SSE,
            DialectUpstream.before(DialectUpstream.responses(TEXT, 12, "response.completed"), "response.completed"))
        .on("/failed/v1/responses", SSE, DialectUpstream.responsesFailed())
        .on("/ollama/api/chat", NDJSON, DialectUpstream.ollama(TEXT, 4))
        .on("/ollama-cut/api/chat", NDJSON, DialectUpstream.before(DialectUpstream.ollama(TEXT, 4), "\"done\":true"));
    client = StreamingClient.create(1, 5000);
  }

  @AfterAll
  static void stop() throws Exception {
    client.close();
    upstream.close();
  }

  static List<String> with(List<String> parts, String last) {
    List<String> out = new ArrayList<>(parts);
    out.add(last);
    return out;
  }

  static Recorder exchange(String path) throws Exception {
    ClientRequest req = new ClientRequest(HttpTarget.parse(upstream.url(path)), "POST", List.of(), "{}".getBytes(), true);
    Recorder r = new Recorder();
    client.exchangeOnce(req, r, TimeUnit.SECONDS.toNanos(20));
    r.end.get(30, TimeUnit.SECONDS);
    return r;
  }

  /** Generated text, the last usage and the number of generated events, read as bench and chat read them. */
  record Read(String text, int usage, int generated) {}

  static Read read(Recorder r) {
    StringBuilder text = new StringBuilder();
    int usage = -1;
    int generated = 0;
    for (StreamEvent e : r.events) {
      ChunkContent c = ChunkContent.of(e.event().type(), e.data());
      text.append(c.content());
      usage = c.completionTokens() >= 0 ? c.completionTokens() : usage;
      generated += c.isGenerated() ? 1 : 0;
    }
    return new Read(text.toString(), usage, generated);
  }

  @Test
  void anthropicMessageStopCompletesTheStream() throws Exception {
    Recorder r = exchange("/anthropic/v1/messages");
    ExchangeOutcome o = r.end.get();
    assertThat(o.ok()).as(o.message()).isTrue();
    assertThat(o.sawTerminator()).isTrue();
    assertThat(r.events.getLast().event().type()).isEqualTo("message_stop");
    assertThat(r.events.getLast().isTerminator()).isTrue();
    assertThat(r.events.stream().filter(StreamEvent::isTerminator)).hasSize(1);
    assertThat(o.endNanos()).isEqualTo(r.events.getLast().readNanos());
    // message_start's usage.output_tokens (1) is not the output: message_delta's is.
    assertThat(read(r)).isEqualTo(new Read("Hello, world!", 15, 4));
  }

  @Test
  void anthropicCutBeforeMessageStopIsTruncated() throws Exception {
    ExchangeOutcome clean = exchange("/anthropic-cut/v1/messages").end.get();
    assertThat(clean.error()).as(clean.message()).isEqualTo(ErrorClass.TRUNCATED);
    assertThat(clean.message()).contains("without its end event");
    assertThat(clean.sawTerminator()).isFalse();
    ExchangeOutcome dropped = exchange("/anthropic-drop/v1/messages").end.get();
    assertThat(dropped.error()).as(dropped.message()).isEqualTo(ErrorClass.TRUNCATED);
    assertThat(dropped.message()).contains("connection closed mid-stream");
  }

  @Test
  void anthropicErrorEventIsAStreamError() throws Exception {
    ExchangeOutcome o = exchange("/anthropic-error/v1/messages").end.get();
    assertThat(o.error()).isEqualTo(ErrorClass.STREAM_ERROR);
    assertThat(o.errorKey()).isEqualTo("stream_error");
    assertThat(o.message()).isEqualTo("error event: Overloaded");
  }

  @Test
  void responsesCompletedCompletesTheStreamAndCarriesTheUsage() throws Exception {
    Recorder r = exchange("/responses/v1/responses");
    ExchangeOutcome o = r.end.get();
    assertThat(o.ok()).as(o.message()).isTrue();
    assertThat(r.events.getLast().event().type()).isEqualTo("response.completed");
    assertThat(r.events.getLast().isTerminator()).isTrue();
    // The .done events repeat the text: they are not generated output.
    assertThat(read(r)).isEqualTo(new Read("Hello, world!", 12, 4));
  }

  /** {@code response.incomplete} is how Responses ends at max_output_tokens: a complete stream, as chat's "length". */
  @Test
  void responsesIncompleteIsACompleteStream() throws Exception {
    Recorder r = exchange("/incomplete/v1/responses");
    ExchangeOutcome o = r.end.get();
    assertThat(o.ok()).as(o.message()).isTrue();
    assertThat(o.sawTerminator()).isTrue();
    assertThat(read(r).usage()).isEqualTo(4);
  }

  @Test
  void responsesCutBeforeCompletedIsTruncated() throws Exception {
    ExchangeOutcome o = exchange("/responses-cut/v1/responses").end.get();
    assertThat(o.error()).as(o.message()).isEqualTo(ErrorClass.TRUNCATED);
  }

  @Test
  void responsesFailedIsAStreamErrorWithItsMessage() throws Exception {
    Recorder r = exchange("/failed/v1/responses");
    ExchangeOutcome o = r.end.get();
    assertThat(o.error()).isEqualTo(ErrorClass.STREAM_ERROR);
    assertThat(o.message()).isEqualTo("error event: The model failed to generate a response.");
    assertThat(o.sawTerminator()).isTrue();
  }

  @Test
  void ollamaDoneCompletesAndACutBeforeItIsTruncated() throws Exception {
    Recorder r = exchange("/ollama/api/chat");
    assertThat(r.end.get().ok()).as(r.end.get().message()).isTrue();
    assertThat(r.events.getLast().isTerminator()).isTrue();
    assertThat(read(r)).isEqualTo(new Read("Hello, world!", 4, 4));
    ExchangeOutcome cut = exchange("/ollama-cut/api/chat").end.get();
    assertThat(cut.error()).as(cut.message()).isEqualTo(ErrorClass.TRUNCATED);
  }
}
