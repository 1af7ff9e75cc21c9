package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.RawClient;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The gateway's first-token timeout and token books use the shared definition of a generated token: a model
 * that thinks, or only calls a tool, for longer than --first-token-timeout is making progress, not stalled.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayGeneratedKindsTest {
  static final String CHAT = GatewayStreamingTest.CHAT;
  private static final String HEAD = "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,";
  private static final int DELTAS = 10;
  private static final String[] KINDS = {"content", "reasoning", "tool"};

  @Test
  void reasoningAndToolCallStreamsOutliveAShortFirstTokenTimeout() throws Exception {
    AtomicInteger requests = new AtomicInteger();
    try (FakeUpstream up = new FakeUpstream()
            .on("/v1/chat/completions", (head, out, self) -> stream(out, KINDS[Math.min(2, requests.getAndIncrement())]));
         GatewayServer g = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(up.url()))
             .withTimeouts(Duration.ofMillis(800), Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofSeconds(30)))) {
      // A warm-up request first: a cold gateway on a busy machine can take longer than the timeout to relay anything.
      try (RawClient warm = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
        assertThat(warm.readToEnd()).isTrue();
      }
      for (String kind : List.of("reasoning", "tool")) {
        try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
          assertThat(c.readToEnd()).isTrue();
          // 10 deltas 150 ms apart after a 150 ms pause: 1.65 s of output, twice the first-token timeout.
          assertThat(c.body()).as(kind).doesNotContain("first_token_timeout").contains("data: [DONE]");
          assertThat(c.body()).contains(kind.equals("tool") ? "\"arguments\":\"{\\\"n\\\":9" : "\"reasoning_content\":\"step 9\"");
        }
      }
      // One token per generated event (the model sends no usage), none for the role and finish chunks; the books
      // of a stream close just after its last bytes went out, so wait for them.
      long expected = 1 + 2L * DELTAS;
      GatewayStreamingTest.await(() -> g.metrics().count("tokens") >= expected, Duration.ofSeconds(10));
      assertThat(g.metrics().count("tokens")).isEqualTo(expected);
    }
  }

  /** Role chunk, then one content delta, or DELTAS reasoning or tool-call deltas 150 ms apart; finish, [DONE]. */
  private static void stream(OutputStream out, String kind) throws IOException {
    FakeUpstream.sseHead(out, "");
    FakeUpstream.chunk(out, "data: " + HEAD + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
    for (int i = 0; i < (kind.equals("content") ? 1 : DELTAS); i++) {
      sleep(kind.equals("content") ? 0 : 150);
      String delta = kind.equals("content") ? "{\"content\":\"hi\"}" : kind.equals("tool")
          ? "{\"tool_calls\":[{\"index\":0,\"function\":{" + (i == 0 ? "\"name\":\"f\"," : "") + "\"arguments\":\"{\\\"n\\\":" + i + "\"}}]}"
          : "{\"reasoning_content\":\"step " + i + "\"}";
      FakeUpstream.chunk(out, "data: " + HEAD + "\"delta\":" + delta + ",\"finish_reason\":null}]}\n\n");
    }
    FakeUpstream.chunk(out, "data: " + HEAD + "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    FakeUpstream.end(out);
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
