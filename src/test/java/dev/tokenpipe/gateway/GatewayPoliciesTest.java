package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.dialect.AnthropicMessages;
import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.dialect.Framing;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The gateway's policies without sockets: headers, lifecycle, event classification, upstream URLs. */
class GatewayPoliciesTest {

  @Test
  void streamHeadSetsAntiBufferingHeadersAndDropsLengthEncodingAndHopByHop() {
    HttpHeaders up = new DefaultHttpHeaders()
        .add("Content-Type", "text/event-stream")
        .add("Content-Length", "42")
        .add("Content-Encoding", "gzip")
        .add("Connection", "close, X-Hop")
        .add("X-Hop", "1")
        .add("Keep-Alive", "timeout=5")
        .add("Trailer", "X-Checksum")
        .add("Upgrade", "h2c")
        .add("X-Request-Id", "abc");
    HttpResponse head = StreamHeaders.streamHead(up, io.netty.handler.codec.http.HttpResponseStatus.OK, Framing.SSE, true);
    HttpHeaders h = head.headers();
    assertThat(h.get("Content-Type")).isEqualTo("text/event-stream; charset=utf-8");
    assertThat(h.get("Cache-Control")).isEqualTo("no-cache, no-transform");
    assertThat(h.get("X-Accel-Buffering")).isEqualTo("no");
    assertThat(h.get("Transfer-Encoding")).isEqualTo("chunked");
    assertThat(h.get("X-Request-Id")).isEqualTo("abc");
    for (String gone : List.of("Content-Length", "Content-Encoding", "Connection", "X-Hop", "Keep-Alive", "Trailer", "Upgrade")) {
      assertThat(h.contains(gone)).as(gone).isFalse();
    }
  }

  @Test
  void ndjsonKeepsItsContentType() {
    HttpHeaders up = new DefaultHttpHeaders().add("Content-Type", "application/x-ndjson");
    assertThat(StreamHeaders.streamHead(up, io.netty.handler.codec.http.HttpResponseStatus.OK, Framing.NDJSON, true).headers().get("Content-Type")).isEqualTo("application/x-ndjson");
  }

  @Test
  void upstreamRequestHeadersAskForIdentityAndCarryOnlyTheConfiguredCredential() {
    HttpHeaders h = new DefaultHttpHeaders()
        .add("Accept-Encoding", "gzip, br")
        .add("Authorization", "Bearer client")
        .add("Proxy-Authorization", "Basic x")
        .add("TE", "trailers")
        .add("Expect", "100-continue")
        .add("Host", "gateway.example");
    Upstream u = Upstream.parse("http://10.0.0.5:8000/v1");
    h.add("x-api-key", "gateway-key");
    StreamHeaders.toUpstream(h, u, null, Dialects.OPENAI_CHAT, false);
    assertThat(h.get("Accept-Encoding")).isEqualTo("identity");
    assertThat(h.get("Host")).isEqualTo("10.0.0.5:8000");
    assertThat(h.contains("Authorization")).isFalse();
    assertThat(h.contains("x-api-key")).as("a gateway key in Anthropic's header never reaches the upstream").isFalse();
    assertThat(h.contains("Proxy-Authorization")).isFalse();
    assertThat(h.contains("TE")).isFalse();
    assertThat(h.contains("Expect")).isFalse();
    StreamHeaders.toUpstream(h, u, "sk-up", Dialects.OPENAI_CHAT, false);
    assertThat(h.get("Authorization")).isEqualTo("Bearer sk-up");
  }

  @Test
  void anthropicUpstreamKeyGoesAsXApiKeyAndTheClientsVersionIsKept() {
    HttpHeaders h = new DefaultHttpHeaders().add("x-api-key", "client-key").add("anthropic-version", "2024-01-01");
    StreamHeaders.toUpstream(h, Upstream.parse("http://10.0.0.5:8000"), "sk-ant", Dialects.ANTHROPIC_MESSAGES, true);
    assertThat(h.get("x-api-key")).isEqualTo("sk-ant");
    assertThat(h.contains("Authorization")).isFalse();
    assertThat(h.get("anthropic-version")).isEqualTo("2024-01-01");
    HttpHeaders bare = new DefaultHttpHeaders();
    StreamHeaders.toUpstream(bare, Upstream.parse("http://10.0.0.5:8000"), "sk-ant", Dialects.ANTHROPIC_MESSAGES, true);
    assertThat(bare.get("anthropic-version")).isEqualTo(AnthropicMessages.VERSION);
  }

  @Test
  void passthroughHeadKeepsStatusAndLength() {
    HttpResponse up = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_REQUEST);
    up.headers().add("Content-Type", "application/json").add("Content-Length", "17").add("Connection", "close");
    HttpResponse head = StreamHeaders.passthroughHead(up, true);
    assertThat(head.status().code()).isEqualTo(400);
    assertThat(head.headers().get("Content-Length")).isEqualTo("17");
    assertThat(head.headers().contains("Connection")).isFalse();
  }

  @Test
  void lifecycleAllowsOnlyTheDocumentedTransitions() {
    assertThat(StreamState.PENDING.canMoveTo(StreamState.RELAYING)).isTrue();
    assertThat(StreamState.PENDING.canMoveTo(StreamState.PENDING)).isTrue();
    assertThat(StreamState.RELAYING.canMoveTo(StreamState.DONE)).isTrue();
    assertThat(StreamState.ERROR_BODY.canMoveTo(StreamState.DONE)).isFalse();
    for (StreamState terminal : List.of(StreamState.DONE, StreamState.FAILED, StreamState.CANCELLED)) {
      assertThat(terminal.isTerminal()).isTrue();
      for (StreamState any : StreamState.values()) {
        assertThat(terminal.canMoveTo(any)).as("%s -> %s", terminal, any).isFalse();
      }
    }
  }

  @Test
  void chunksAreClassifiedAsTheDesignDefinesTokens() {
    assertThat(Chunk.classify("[DONE]", false).done()).isTrue();
    assertThat(Chunk.classify("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", false).isContent()).isFalse();
    assertThat(Chunk.classify("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}", false).content()).isEqualTo("Hi");
    assertThat(Chunk.classify("{\"choices\":[{\"text\":\" there\"}]}", false).content()).isEqualTo(" there");
    assertThat(Chunk.classify("{\"choices\":[],\"usage\":{\"completion_tokens\":7}}", false).usageTokens()).isEqualTo(7);
    assertThat(Chunk.classify("{\"error\":{\"message\":\"x\"}}", false).error()).isNotNull();
    assertThat(Chunk.classify("{\"message\":{\"content\":\"ol\"},\"done\":false}", false).content()).isEqualTo("ol");
    assertThat(Chunk.classify(" plain token", true).content()).isEqualTo(" plain token");
  }

  @Test
  void upstreamUrlsAreParsedAndSecretsRefused() {
    Upstream u = Upstream.parse("http://model:8000/v1/");
    assertThat(u.target("/v1/chat/completions")).isEqualTo("/v1/chat/completions");
    assertThat(Upstream.parse("http://model/prefix").target("/v1/models")).isEqualTo("/prefix/v1/models");
    assertThat(u.tls()).isFalse();
    assertThat(u.authority()).isEqualTo("model:8000");
    assertThat(Upstream.parse("http://model").authority()).isEqualTo("model");
    Upstream https = Upstream.parse("https://api.example.com/v1");
    assertThat(https.tls()).isTrue();
    assertThat(https.port()).isEqualTo(443);
    assertThat(https.name()).isEqualTo("https://api.example.com:443");
    assertThat(https.authority()).as("Host header").isEqualTo("api.example.com");
    assertThat(https.target("/v1/chat/completions")).isEqualTo("/v1/chat/completions");
    assertThat(Upstream.parse("https://10.0.0.5:8443").authority()).isEqualTo("10.0.0.5:8443");
    assertThat(Upstream.parse("https://[::1]:8443").tlsHost()).isEqualTo("::1");
    assertThatThrownBy(() -> Upstream.parse("ftp://model")).hasMessageContaining("only http:// and https://");
    assertThatThrownBy(() -> Upstream.parse("http://user:pw@model:8000")).hasMessageContaining("credentials");
  }

  @Test
  void configToStringNeverShowsTheUpstreamKey() {
    GatewayConfig c = GatewayConfig.defaults().withAuth(Set.of("sk-client"), "sk-upstream-secret");
    assertThat(c.toString()).doesNotContain("sk-upstream-secret").doesNotContain("sk-client");
  }
}
