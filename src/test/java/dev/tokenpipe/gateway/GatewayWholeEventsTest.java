package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Whole events: an upstream event that arrives in pieces goes to the client once, when its blank line
 * arrives (a client cannot dispatch it earlier anyway), and heartbeats only ever sit between events.
 * The gateway's heartbeat is 100 ms, the upstream pauses 600 ms inside an event.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayWholeEventsTest {
  static final String HEAD_OF_EVENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel";
  static final String REST_OF_EVENT = "lo\"},\"finish_reason\":null}]}\n\n";
  static final String STREAM = "data: " + ChatChunks.role() + "\n\n" + HEAD_OF_EVENT + REST_OF_EVENT + "data: [DONE]\n\n";

  static ScriptedUpstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() throws IOException {
    upstream = new ScriptedUpstream().on("split-event", x -> {
      x.sseHead("");
      x.event(ChatChunks.role());
      x.pause(100).chunk(HEAD_OF_EVENT);
      x.pause(600).chunk(REST_OF_EVENT);
      x.event(ChatChunks.DONE).end();
    });
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0).withUpstreams(List.of(upstream.url()))
        .withHeartbeat(Duration.ofMillis(100), Duration.ZERO));
  }

  @AfterAll
  static void stop() throws IOException {
    gateway.close();
    upstream.close();
  }

  static Wire.Response splitEvent() throws IOException {
    return Wire.post(gateway.port(), "/v1/chat/completions",
        "{\"model\":\"split-event\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  }

  @Test
  void heartbeatsOnlySitBetweenEventsAndTheClientDispatchesWhatTheUpstreamSent() throws Exception {
    Wire.Response r = splitEvent();

    assertThat(r.complete()).as("%s", r).isTrue();
    assertThat(r.events().events()).isEqualTo(Wire.Parsed.of(STREAM).events());
    assertThat(r.bodyWithoutComments()).as("the upstream's bytes, unchanged").isEqualTo(STREAM);
    String body = r.bodyText();
    for (int i = body.indexOf("\n:"); i >= 0; i = body.indexOf("\n:", i + 1)) {
      assertThat(body.substring(0, i + 1)).as("text before a comment at %d", i).endsWith("\n\n");
    }
  }

  @Test
  @Tag("issue9")
  void anEventThatArrivesInPiecesGoesOutWhole() throws Exception {
    Wire.Response r = splitEvent();

    assertThat(r.complete()).as("%s", r).isTrue();
    List<String> reads = r.reads().stream().map(b -> new String(b, StandardCharsets.UTF_8)).toList();
    assertThat(reads).filteredOn(t -> t.contains("\"content\":\"Hel"))
        .as("the read that brought the event's first bytes, in %s", reads)
        .singleElement().asString().contains(REST_OF_EVENT);
  }
}
