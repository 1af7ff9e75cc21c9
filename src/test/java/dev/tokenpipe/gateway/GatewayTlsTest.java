package dev.tokenpipe.gateway;

import static dev.tokenpipe.gateway.GatewayStreamingTest.await;
import static dev.tokenpipe.gateway.GatewayStreamingTest.lastData;
import static dev.tokenpipe.gateway.GatewayStreamingTest.median;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.openai.Json;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import dev.tokenpipe.testing.RawClient;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code https://} upstreams over real sockets: a throwaway CA and certificates made with the openssl CLI,
 * a Netty HTTPS model server ({@link TlsUpstream}) streaming one event every 50 ms, the gateway in front.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayTlsTest {
  static final String CHAT = GatewayStreamingTest.CHAT;
  static final String PLAIN_CHAT = GatewayBadInputTest.PLAIN_CHAT;
  static final int EVENTS = 12;

  @TempDir static Path dir;
  static TlsUpstream.Certs certs;
  static TlsUpstream good;
  static TlsUpstream wrongHost;

  @BeforeAll
  static void start() throws Exception {
    certs = TlsUpstream.Certs.create(dir);
    good = new TlsUpstream(certs.goodCert(), certs.goodKey(), EVENTS, 50);
    wrongHost = new TlsUpstream(certs.wrongHostCert(), certs.wrongHostKey(), 3, 5);
  }

  @AfterAll
  static void stop() {
    if (good != null) {
      good.close();
    }
    if (wrongHost != null) {
      wrongHost.close();
    }
  }

  static GatewayConfig config(Path ca, String... upstreams) {
    // One event loop: both requests of a test land on the same per-loop pool. Round-robin: the retry test
    // needs the bad upstream to take its turn (P2C, the default, may never pick it in three requests).
    return GatewayConfig.defaults().withPort(0).withThreads(1).withBalance("round-robin").withUpstreams(List.of(upstreams))
        .withUpstreamCa(ca);
  }

  @Test
  void streamsThroughATlsUpstreamOneEventPerReadAtItsPaceOnOnePooledConnection() throws Exception {
    good.hostHeaders.clear();
    int connectionsBefore = good.connections.get();
    int handshakesBefore = good.handshakes.get();
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), good.url()))) {
      for (int round = 0; round < 2; round++) {
        try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
          assertThat(c.readToEnd()).isTrue();
          assertThat(c.status()).isEqualTo(200);
          assertThat(c.head()).contains("content-type: text/event-stream");
          List<RawClient.Read> events = c.eventReads();
          assertThat(events).as("every event its own read through the TLS hop").hasSize(EVENTS);
          assertThat(events).allSatisfy(r -> assertThat(r.count("id: tp.")).as(r.text()).isEqualTo(1));
          List<Long> gaps = new ArrayList<>();
          for (int i = 1; i < events.size(); i++) {
            gaps.add((events.get(i).nanos() - events.get(i - 1).nanos()) / 1_000_000);
          }
          assertThat(median(gaps)).as("gaps %s ms", gaps).isBetween(35L, 80L);
          assertThat(c.body()).contains("data: [DONE]\n\n").doesNotContain("event: error");
        }
      }
      assertThat(good.hostHeaders).containsExactly("127.0.0.1:" + good.port(), "127.0.0.1:" + good.port());
      assertThat(good.connections.get() - connectionsBefore).as("keep-alive TLS connection reused").isEqualTo(1);
      assertThat(good.handshakes.get() - handshakesBefore).isEqualTo(1);
    }
  }

  @Test
  void sniAndHostNameVerificationUseTheUpstreamsHostName() throws Exception {
    good.sniNames.clear();
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), "https://localhost:" + good.port()))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
        assertThat(c.readToEnd()).isTrue();
        assertThat(c.body()).contains("data: [DONE]").doesNotContain("event: error");
      }
    }
    assertThat(good.sniNames).containsExactly("localhost");
    assertThat(good.hostHeaders).contains("localhost:" + good.port());
    good.sniNames.clear();
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), good.url()))) {
      try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
        assertThat(c.readToEnd()).isTrue();
      }
    }
    assertThat(good.sniNames).as("no SNI for an IP address (RFC 6066)").containsExactly("-");
  }

  @Test
  void anUntrustedCertificateIs502NamingTheUpstreamAndTheTlsFailure() throws Exception {
    try (GatewayServer g = GatewayServer.start(config(null, good.url()))) {
      long t0 = System.nanoTime();
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      assertThat((System.nanoTime() - t0) / 1_000_000).as("no hang").isLessThan(3000);
      assertThat(error.at("/error/code").asText()).isEqualTo("upstream_tls_error");
      assertThat(error.at("/error/type").asText()).isEqualTo("server_error");
      assertThat(error.at("/error/message").asText())
          .startsWith("Upstream " + good.url() + ": TLS handshake failed: ")
          .contains("certification path");
      await(() -> g.metrics().errors("upstream_tls") == 1, Duration.ofSeconds(5));
      // A stream:true request's head waits for the upstream's: the same error as an HTTP status.
      JsonNode streamError = errorOf(RawClient.post(g.port(), "/v1/chat/completions", CHAT), 502);
      assertThat(streamError.at("/error/code").asText()).isEqualTo("upstream_tls_error");
      assertThat(streamError.at("/error/message").asText()).contains("TLS handshake failed");
    }
  }

  @Test
  void aCertificateForAnotherHostNameIs502() throws Exception {
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), wrongHost.url()))) {
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      assertThat(error.at("/error/code").asText()).isEqualTo("upstream_tls_error");
      assertThat(error.at("/error/message").asText())
          .startsWith("Upstream " + wrongHost.url() + ": TLS handshake failed: ")
          .contains("127.0.0.1"); // "No subject alternative names matching IP address 127.0.0.1 found"
    }
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), "https://localhost:" + wrongHost.port()))) {
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      assertThat(error.at("/error/message").asText()).contains("TLS handshake failed").contains("localhost");
    }
  }

  @Test
  void aTlsFailureIsRetriedOnAnotherHealthyUpstreamTransparently() throws Exception {
    try (GatewayServer g = GatewayServer.start(config(certs.ca(), wrongHost.url(), good.url()))) {
      for (int i = 0; i < 3; i++) {
        try (RawClient c = RawClient.post(g.port(), "/v1/chat/completions", CHAT)) {
          assertThat(c.readToEnd()).isTrue();
          assertThat(c.body()).contains("data: [DONE]").doesNotContain("event: error");
        }
      }
      // Each request that picked the bad upstream was retried (it is marked down only after
      // UpstreamSet.FAILURES_TO_MARK_DOWN failures in a row); no client saw the failure.
      assertThat(g.metrics().count("retries")).isBetween(1L, 3L);
      assertThat(g.metrics().errors(ErrorKind.UPSTREAM_TLS.label())).isZero();
    }
  }

  @Test
  void aPlainHttpServerBehindAnHttpsUrlIs502() throws Exception {
    try (SimServer sim = SimServer.start(SimConfig.defaults(), "127.0.0.1", 0);
         GatewayServer g = GatewayServer.start(config(null, "https://127.0.0.1:" + sim.port()))) {
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      assertThat(error.at("/error/code").asText()).isEqualTo("upstream_tls_error");
      assertThat(error.at("/error/message").asText()).startsWith("Upstream https://127.0.0.1:" + sim.port() + ": TLS handshake failed: ");
    }
  }

  @Test
  void aSilentUpstreamFailsTheHandshakeWithinTheConnectTimeout() throws Exception {
    try (FakeUpstream plain = new FakeUpstream();
         GatewayServer g = GatewayServer.start(config(certs.ca(), "https://127.0.0.1:" + plain.port())
             .withConnectTimeout(Duration.ofMillis(800)))) {
      // FakeUpstream waits for an HTTP head that a ClientHello never completes: the handshake times out.
      long t0 = System.nanoTime();
      JsonNode error = errorOf(RawClient.post(g.port(), "/v1/chat/completions", PLAIN_CHAT), 502);
      long millis = (System.nanoTime() - t0) / 1_000_000;
      assertThat(millis).as("handshake limited by --connect-timeout").isBetween(700L, 3000L);
      assertThat(error.at("/error/message").asText()).contains("TLS handshake failed").contains("timed out");
    }
  }

  @Test
  void aBadUpstreamCaFileIsAOneLineUsageError() throws Exception {
    Path missing = dir.resolve("missing.pem");
    Run r = serve("--port", "0", "--upstream", good.url(), "--upstream-ca", missing.toString());
    assertThat(r.code()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("--upstream-ca " + missing + ": no such file");

    Path notPem = Files.writeString(dir.resolve("not.pem"), "hello\n");
    r = serve("--port", "0", "--upstream", good.url(), "--upstream-ca", notPem.toString());
    assertThat(r.code()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("--upstream-ca " + notPem);
  }

  record Run(int code, String err) {}

  static Run serve(String... args) {
    CommandLine cl = Cli.newCommandLine(new GatewayCommand());
    StringWriter err = new StringWriter();
    cl.setErr(new PrintWriter(err, true));
    cl.setOut(new PrintWriter(new StringWriter(), true));
    return new Run(cl.execute(args), err.toString());
  }

  static JsonNode errorOf(RawClient c, int status) throws Exception {
    try (c) {
      assertThat(c.readToEnd()).isTrue();
      assertThat(c.status()).as(c.all()).isEqualTo(status);
      assertThat(c.head()).contains("content-type: application/json");
      return Json.MAPPER.readTree(c.body());
    }
  }
}
