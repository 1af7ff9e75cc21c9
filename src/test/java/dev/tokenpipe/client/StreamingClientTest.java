package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.AbstractMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The client core over real sockets: per-read and per-event timestamps, heads, and error classification. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StreamingClientTest {
  static SimServer sim;
  static StreamingClient client;

  @BeforeAll
  static void start() {
    sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
    client = StreamingClient.create(1, 5000);
  }

  @AfterAll
  static void stop() {
    client.close();
    sim.close();
  }

  static final class Recorder implements ExchangeListener {
    final List<long[]> reads = new CopyOnWriteArrayList<>();
    final List<StreamEvent> events = new CopyOnWriteArrayList<>();
    final CompletableFuture<ExchangeOutcome> end = new CompletableFuture<>();
    volatile long written;
    volatile int status;
    volatile String contentType;

    @Override public void onWritten(long nanos, long wallMicros) { written = nanos; }
    @Override public void onHead(int s, HttpHeaders h, long nanos) { status = s; contentType = h.get("content-type"); }
    @Override public void onRead(long nanos, long wallMicros, int bytes) { reads.add(new long[] {nanos, bytes}); }
    @Override public void onEvent(StreamEvent e) { events.add(e); }
    @Override public void onEnd(ExchangeOutcome o) { end.complete(o); }
  }

  static ClientRequest chat(String simHeader, boolean stream) {
    String body = "{\"model\":\"tokenpipe-sim\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    return new ClientRequest(HttpTarget.parse("http://127.0.0.1:" + sim.port() + "/v1/chat/completions"), "POST",
        List.of(new AbstractMap.SimpleImmutableEntry<>("X-Tokenpipe-Sim", simHeader)), body.getBytes(), true);
  }

  static Recorder exchange(ClientRequest req, long timeoutNanos) throws Exception {
    Recorder r = new Recorder();
    client.exchangeOnce(req, r, timeoutNanos);
    r.end.get(30, TimeUnit.SECONDS);
    return r;
  }

  @Test
  void everyReadAndEventIsTimestamped() throws Exception {
    Recorder r = exchange(chat("ttft=50ms itl=20ms tokens=5", true), 0);
    ExchangeOutcome o = r.end.get();
    assertThat(o.ok()).as(o.message()).isTrue();
    assertThat(o.sawTerminator()).isTrue();
    assertThat(r.status).isEqualTo(200);
    assertThat(r.contentType).startsWith("text/event-stream");
    // role chunk, 5 tokens, finish chunk, [DONE]: tokens 20 ms apart arrive in separate reads (most of them: on a
    // machine at load 30 the sim's timers fire late and two tokens can share a read).
    assertThat(r.events).hasSize(8);
    assertThat(r.reads.size()).isGreaterThanOrEqualTo(4);
    for (StreamEvent e : r.events) {
      assertThat(e.readNanos()).isGreaterThan(r.written);
      assertThat(e.parsedNanos()).isGreaterThanOrEqualTo(e.readNanos());
      assertThat(e.event().lastEventId()).startsWith("tp.");
    }
    assertThat((r.events.get(1).readNanos() - r.written) / 1e6).isBetween(45.0, 250.0);
    assertThat(r.events.getLast().isTerminator()).isTrue();
    assertThat(o.endNanos()).isEqualTo(r.events.getLast().readNanos());
    ChunkContent first = ChunkContent.of("message", r.events.get(0).data());
    assertThat(first.hasContent()).as("role chunk is not a token").isFalse();
    assertThat(ChunkContent.of("message", r.events.get(1).data()).hasContent()).isTrue();
  }

  @Test
  void errorsAreClassified() throws Exception {
    assertThat(exchange(chat("error_rate=1 error_status=502", true), 0).end.get().errorKey()).isEqualTo("http_502");
    assertThat(exchange(chat("ttft=5ms itl=1ms tokens=5 drop_after=2", true), 0).end.get().error()).isEqualTo(ErrorClass.TRUNCATED);
    assertThat(exchange(chat("ttft=5ms itl=1ms tokens=5 stall_after=1 stall=5s", true), 300_000_000L).end.get().error())
        .isEqualTo(ErrorClass.TIMEOUT);
    ExchangeOutcome notStream = exchange(chat("ttft=5ms itl=1ms tokens=2", false), 0).end.get();
    assertThat(notStream.error()).isEqualTo(ErrorClass.NOT_STREAM);
    assertThat(notStream.message()).contains("application/json");
    Recorder refused = new Recorder();
    client.exchangeOnce(new ClientRequest(HttpTarget.parse("http://127.0.0.1:1/x"), "GET", List.of(), null, true), refused, 0);
    assertThat(refused.end.get(10, TimeUnit.SECONDS).error()).isEqualTo(ErrorClass.CONNECT);
  }

  @Test
  void keepAliveConnectionCarriesSeveralExchanges() throws Exception {
    Connection c = client.connect(HttpTarget.parse("http://127.0.0.1:" + sim.port() + "/"), null).get(5, TimeUnit.SECONDS);
    try {
      for (int i = 0; i < 3; i++) {
        Recorder r = new Recorder();
        c.send(chat("ttft=5ms itl=1ms tokens=3", true), r, 0);
        ExchangeOutcome o = r.end.get(10, TimeUnit.SECONDS);
        assertThat(o.ok()).as(o.message()).isTrue();
        assertThat(o.reusable()).isTrue();
      }
    } finally {
      c.close();
    }
  }

  @Test
  void chunkContentReadsOpenAiShapes() {
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}").content()).isEqualTo("Hi");
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}").reasoning()).isEqualTo("hmm");
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"content\":null}}]}").hasContent()).isFalse();
    assertThat(ChunkContent.of("message", "{\"choices\":[{\"text\":\"t\",\"index\":0}]}").content()).isEqualTo("t");
    assertThat(ChunkContent.of("message", "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7}}").completionTokens()).isEqualTo(7);
    assertThat(ChunkContent.of("message", "{\"error\":{\"message\":\"overloaded\",\"type\":\"x\"}}").error()).isEqualTo("overloaded");
    assertThat(ChunkContent.of("error", "boom").error()).isEqualTo("boom");
    assertThat(ChunkContent.of("message", "plain token").content()).isEqualTo("plain token");
    assertThat(ChunkContent.of("message", "[DONE]").hasContent()).isFalse();
    assertThat(ChunkContent.of("message", "{not json").error()).startsWith("unparseable");
  }

  @Test
  void targetsParse() {
    HttpTarget t = HttpTarget.parse("https://api.example.com/v1/chat/completions?x=1");
    assertThat(t.tls()).isTrue();
    assertThat(t.port()).isEqualTo(443);
    assertThat(t.hostHeader()).isEqualTo("api.example.com");
    assertThat(t.pathAndQuery()).isEqualTo("/v1/chat/completions?x=1");
    assertThat(HttpTarget.parse("http://[::1]:8000").hostHeader()).isEqualTo("[::1]:8000");
  }
}
