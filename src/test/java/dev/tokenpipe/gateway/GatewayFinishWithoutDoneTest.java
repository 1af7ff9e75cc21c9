package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Servers that send no {@code [DONE]} (llama.cpp before ggml-org/llama.cpp#9459, TGI before
 * huggingface/text-generation-inference#2221, ik_llama.cpp#467, gpustack/llama-box#2) end a chat stream with the
 * choice's {@code finish_reason} and the body's last chunk. The official SDK takes that as a whole answer; the
 * gateway appended {@code upstream_cut}, "ended without its terminator", to every such answer, so the SDK raised
 * through the gateway where it succeeded direct. A finish and a body ended by its own framing are whole; without
 * the finish, or when the body ends at a close, it is still a cut.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayFinishWithoutDoneTest {
  static final String CHAT = "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String USAGE = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
      + "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream()
        .on("finish", x -> x.sseHead("").event(ChatChunks.role()).event(ChatChunks.content("Hello"))
            .event(ChatChunks.finish("stop")).end())
        .on("finish-usage", x -> x.sseHead("").event(ChatChunks.role()).event(ChatChunks.content("Hello"))
            .event(ChatChunks.finish("length")).event(USAGE).end())
        .on("no-finish", x -> x.sseHead("").event(ChatChunks.role()).event(ChatChunks.content("Hello")).end())
        // n = 2: choice 1 finishes, choice 0 is cut mid-answer, and the body still ends by its last chunk (a proxy
        // that ends a chunked body cleanly when its upstream failed)
        .on("two-one-finished", x -> x.sseHead("").event(choice(0, "{\"content\":\"Hel\"}", null))
            .event(choice(1, "{\"content\":\"Hi\"}", null)).event(choice(1, "{}", "stop")).end())
        .on("two-both-finished", x -> x.sseHead("").event(choice(0, "{\"content\":\"Hello\"}", null))
            .event(choice(1, "{\"content\":\"Hi\"}", null)).event(choice(1, "{}", "stop"))
            .event(choice(0, "{}", "length")).end())
        .on("finish-length-short", x -> {
          String body = ChatChunks.sseEvent(ChatChunks.content("Hello")) + ChatChunks.sseEvent(ChatChunks.finish("stop"));
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + (body.length() + 100)
              + "\r\n\r\n" + body).close(); // its length promised more than came
        })
        .on("finish-chunked-unended", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
          String body = ChatChunks.sseEvent(ChatChunks.content("Hello")) + ChatChunks.sseEvent(ChatChunks.finish("stop"));
          x.write(Integer.toHexString(body.length()) + "\r\n" + body + "\r\n").close(); // no last chunk
        })
        .on("finish-then-close", x -> {
          x.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
          x.write(ChatChunks.sseEvent(ChatChunks.content("Hello")) + ChatChunks.sseEvent(ChatChunks.finish("stop")))
              .close(); // a close-delimited body: its close proves nothing
        });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url())));
  }

  static String choice(int index, String delta, String finishReason) {
    return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":"
        + index + ",\"delta\":" + delta + ",\"finish_reason\":" + (finishReason == null ? "null" : "\"" + finishReason + "\"")
        + "}]}";
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"finish", "finish-usage"})
  void aFinishAndTheBodysOwnEndAreAWholeStream(String model) throws Exception {
    double doneBefore = gateway.metrics().requests.labelValues("openai-chat", "done").get();
    double errorsBefore = gateway.metrics().requests.labelValues("openai-chat", "error").get();
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted(model));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.bodyText()).as("%s", r).doesNotContain("event: error").doesNotContain("upstream_cut")
        .contains("\"finish_reason\":\"").doesNotContain("[DONE]"); // the gateway adds nothing to the upstream's stream
    // Booked as done, not as an error: the books close just after the last bytes went out, so wait for them.
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (gateway.metrics().requests.labelValues("openai-chat", "done").get() == doneBefore && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(gateway.metrics().requests.labelValues("openai-chat", "done").get()).isEqualTo(doneBefore + 1);
    assertThat(gateway.metrics().requests.labelValues("openai-chat", "error").get()).isEqualTo(errorsBefore);
  }

  @ParameterizedTest
  @ValueSource(strings = {"no-finish", "finish-then-close", "finish-length-short", "finish-chunked-unended"})
  void withoutTheFinishOrWithABodyEndedByACloseItIsStillACut(String model) throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/chat/completions", CHAT.formatted(model));

    assertThat(r.bodyText()).as("%s", r).contains("event: error").contains("upstream_cut");
  }

  @Test
  void onTheTokenApiTheStreamEndsWithItsOwnDone() throws Exception {
    Wire.Response r = Wire.post(gateway.port(), "/v1/stream", "{\"model\":\"finish\",\"prompt\":\"hi\"}");

    assertThat(r.bodyText()).as("%s", r).isEqualTo("data: Hello\n\ndata: [DONE]\n\n");
  }

  @Test
  void withSeveralChoicesEachMustFinishElseItIsStillACut() throws Exception {
    String two = "{\"model\":\"%s\",\"stream\":true,\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    Wire.Response cut = Wire.post(gateway.port(), "/v1/chat/completions", two.formatted("two-one-finished"));

    assertThat(cut.bodyText()).as("choice 0 never finished: %s", cut).contains("event: error").contains("upstream_cut");

    Wire.Response whole = Wire.post(gateway.port(), "/v1/chat/completions", two.formatted("two-both-finished"));

    assertThat(whole.bodyText()).as("%s", whole).doesNotContain("event: error").doesNotContain("upstream_cut")
        .contains("\"length\"");
  }
}
