package dev.tokenpipe.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.doctor.DoctorRun;
import dev.tokenpipe.doctor.ProxyProcess;
import dev.tokenpipe.gateway.GatewayConfig;
import dev.tokenpipe.gateway.GatewayServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Runs the shipped proxy configurations in {@code deploy/} (NGINX, HAProxy, Caddy: the real Debian 12 binaries) in
 * front of an in-process {@code tokenpipe serve} with its built-in simulated model, and proves that streams pass
 * them unbuffered: doctor finds nothing (probe mode and endpoint mode, 3 staggered streams), a raw-socket client
 * with {@code Accept-Encoding: gzip} receives one token event per read and no {@code Content-Encoding}, and the
 * health check path answers through the proxy.
 *
 * <p>Each deploy file is used unchanged except for two substitutions, each of which must match exactly once (so a
 * reworded deploy file fails here instead of silently testing something else):
 * <ul>
 *   <li>the gateway address: regex {@value #GATEWAY_REGEX} → {@code 127.0.0.1:<gateway port>} (all three files);</li>
 *   <li>the listen address, per proxy (see {@link Proxy}): NGINX {@code listen 80;} → {@code listen 127.0.0.1:<port>;},
 *       HAProxy {@code bind :80} → {@code bind 127.0.0.1:<port>}, Caddy's site address {@code :80} →
 *       {@code http://127.0.0.1:<port>}.</li>
 * </ul>
 * NGINX's file is a server block plus an upstream, so it is embedded in a minimal {@code nginx.conf}
 * ({@code daemon off}, pid, error log and temp paths in the proxy's temp dir). A missing proxy binary skips that
 * proxy's tests, or fails them when {@code CI=true} ({@link ProxyProcess#requireBinary}).
 *
 * <p>The opposite (the same proxies with their classic buffering configuration, flagged by doctor) is covered by
 * {@code dev.tokenpipe.doctor.NginxDoctorTest} (gzip on text/event-stream: held-until-end) and
 * {@code HaproxyDoctorTest} (defaults: clock-bursts).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeployConfigTest {
  /** Where the deploy files point at the gateway. */
  static final String GATEWAY_REGEX = "127\\.0\\.0\\.1:8080\\b";

  /** A slow enough built-in model for per-event assertions: 20 tokens, one every 50 ms. */
  static final String SIM = "ttft=100ms itl=50ms tokens=20";

  enum Proxy {
    NGINX("/usr/sbin/nginx", "nginx", "deploy/nginx/tokenpipe.conf", "(?m)^(\\s*listen\\s+)80;", "$1127.0.0.1:\\${port};",
        "nginx.conf", List.of("/usr/sbin/nginx", "-e", "${dir}/startup-error.log", "-c", "${config}", "-p", "${dir}")),
    HAPROXY("/usr/sbin/haproxy", "haproxy", "deploy/haproxy/haproxy.cfg", "(?m)^(\\s*bind\\s+):80\\b", "$1127.0.0.1:\\${port}",
        "haproxy.cfg", List.of("/usr/sbin/haproxy", "-db", "-f", "${config}")),
    CADDY("/usr/bin/caddy", "caddy", "deploy/caddy/Caddyfile", "(?m)^:80(\\s*\\{)", "http://127.0.0.1:\\${port}$1",
        "Caddyfile", List.of("/usr/bin/caddy", "run", "--adapter", "caddyfile", "--config", "${config}"));

    final String binary;
    final String debianPackage;
    final String deployFile;
    final String listenRegex;
    final String listenReplacement;
    final String configName;
    final List<String> command;

    Proxy(String binary, String debianPackage, String deployFile, String listenRegex, String listenReplacement,
        String configName, List<String> command) {
      this.binary = binary;
      this.debianPackage = debianPackage;
      this.deployFile = deployFile;
      this.listenRegex = listenRegex;
      this.listenReplacement = listenReplacement;
      this.configName = configName;
      this.command = command;
    }
  }

  static GatewayServer gateway;
  static final Map<Proxy, ProxyProcess> running = new EnumMap<>(Proxy.class);

  @BeforeAll
  static void startGateway() throws Exception {
    gateway = GatewayServer.start(GatewayConfig.defaults().withPort(0));
    // Warm-up and baseline: one stream straight from the gateway, so the first proxy measured doesn't pay for
    // the JVM's first request, and the log shows what the proxies are compared with.
    System.out.println("[deploy DIRECT] " + RawStream.chat(gateway.port(), SIM).summary());
  }

  @AfterAll
  static synchronized void stopAll() {
    for (ProxyProcess p : running.values()) {
      p.close();
    }
    running.clear();
    if (gateway != null) {
      gateway.close();
    }
  }

  /** The proxy running its deploy file (started on first use, stopped in {@link #stopAll}). */
  static synchronized ProxyProcess proxy(Proxy proxy) throws Exception {
    ProxyProcess.requireBinary(proxy.binary, proxy.debianPackage);
    ProxyProcess p = running.get(proxy);
    if (p == null) {
      p = ProxyProcess.startWithText("deploy-" + proxy.debianPackage, config(proxy), proxy.configName, gateway.port(),
          Map.of(), proxy.command);
      running.put(proxy, p);
    }
    return p;
  }

  /** The deploy file with the listen and gateway addresses substituted ({@code ${port}}, {@code ${upstream}}). */
  static String config(Proxy proxy) throws Exception {
    String text = Files.readString(Path.of(proxy.deployFile));
    text = replaceOnce(proxy.deployFile, text, proxy.listenRegex, proxy.listenReplacement);
    text = replaceOnce(proxy.deployFile, text, GATEWAY_REGEX, "127.0.0.1:\\${upstream}");
    if (proxy != Proxy.NGINX) {
      return text;
    }
    return """
        # Minimal nginx.conf generated by DeployConfigTest around deploy/nginx/tokenpipe.conf.
        daemon off;
        master_process off;
        worker_processes 1;
        pid ${dir}/nginx.pid;
        error_log ${dir}/error.log warn;
        events { worker_connections 256; }
        http {
            access_log off;
            client_body_temp_path ${dir}/client_body;
            proxy_temp_path ${dir}/proxy_temp;
            fastcgi_temp_path ${dir}/fastcgi_temp;
            uwsgi_temp_path ${dir}/uwsgi_temp;
            scgi_temp_path ${dir}/scgi_temp;
            # ---- deploy/nginx/tokenpipe.conf (listen and gateway address substituted) ----
        """ + text + "\n}\n";
  }

  static String replaceOnce(String file, String text, String regex, String replacement) {
    Matcher m = Pattern.compile(regex).matcher(text);
    int n = 0;
    while (m.find()) {
      n++;
    }
    assertThat(n).as("matches of /%s/ in %s", regex, file).isEqualTo(1);
    return Pattern.compile(regex).matcher(text).replaceFirst(replacement);
  }

  @Test
  void substitutionsTouchOnlyTheAddresses() throws Exception {
    for (Proxy proxy : Proxy.values()) {
      String original = Files.readString(Path.of(proxy.deployFile));
      String substituted = config(proxy);
      assertThat(substituted).contains(original.lines()
          .filter(l -> !l.matches(".*(" + GATEWAY_REGEX + ").*") && !Pattern.compile(proxy.listenRegex).matcher(l + "\n").find())
          .toList().toArray(String[]::new));
      assertThat(substituted).contains("127.0.0.1:${upstream}", "127.0.0.1:${port}").doesNotContain("8080");
    }
  }

  @ParameterizedTest
  @EnumSource(Proxy.class)
  void doctorProbeThroughTheProxyIsClean(Proxy proxy) throws Exception {
    ProxyProcess p = proxy(proxy);
    DoctorRun run = DoctorRun.run("--probe-only", "--probe-count", "40", "-c", "3", p.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript() + p.log()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(run.json().get("mode").asText()).isEqualTo("probe");
    assertThat(run.json().get("probe_url").asText()).startsWith(p.url("/tokenpipe/probe?"));
    assertThat(run.json().get("streams")).hasSize(3);
    for (var s : run.json().get("streams")) {
      assertThat(s.get("events")).as(run.transcript()).hasSize(41); // 40 stamped events + [DONE]
    }
    assertNothingHeld(run);
    var stats = run.json().get("stats");
    assertThat(stats.get("events_per_read").asDouble()).as(run.transcript()).isLessThan(1.3);
    assertThat(stats.get("hold_p50_ms").asDouble()).as(run.transcript()).isLessThan(25);
    assertThat(stats.get("hold_p90_ms").asDouble()).as(run.transcript()).isLessThan(25);
    assertThat(stats.get("content_encoding").isNull() || stats.get("content_encoding").asText().isEmpty())
        .as(run.transcript()).isTrue();
  }

  @ParameterizedTest
  @EnumSource(Proxy.class)
  void doctorOnTheChatEndpointThroughTheProxyIsClean(Proxy proxy) throws Exception {
    ProxyProcess p = proxy(proxy);
    DoctorRun run = DoctorRun.run("--no-probe", "-c", "3", "--max-tokens", "40",
        "-H", "X-Tokenpipe-Sim: ttft=50ms itl=40ms tokens=40", p.url("/v1/chat/completions"));

    assertThat(run.exitCode()).as(run.transcript() + p.log()).isZero();
    assertThat(run.json().get("verdict").asText()).isEqualTo("clean");
    assertThat(run.json().get("mode").asText()).isEqualTo("endpoint");
    assertThat(run.json().get("streams")).hasSize(3);
    assertNothingHeld(run);
    // The gateway's anti-buffering headers survive the proxy (at least Cache-Control: no-transform).
    assertThat(run.findingIds()).doesNotContain("headers-missing");
    assertThat(run.json().get("stats").get("events_per_read").asDouble()).as(run.transcript()).isLessThan(1.3);
  }

  static void assertNothingHeld(DoctorRun run) {
    for (var f : run.json().get("findings")) {
      assertThat(f.get("holds_tokens").asBoolean()).as("finding %s\n%s", f.get("id"), run.transcript()).isFalse();
    }
    assertThat(run.findingIds()).as(run.transcript()).doesNotContain("held-until-end", "compressed-stream", "size-bursts",
        "clock-bursts", "nagle-stalls", "group-commit", "events-held", "token-groups");
  }

  @ParameterizedTest
  @EnumSource(Proxy.class)
  void rawSocketGetsOneTokenEventPerReadAndNoCompression(Proxy proxy) throws Exception {
    ProxyProcess p = proxy(proxy);
    RawStream s = RawStream.chat(p.port(), SIM);
    System.out.println("[deploy " + proxy + "] " + s.summary());

    assertThat(s.status()).as(s.head()).isEqualTo(200);
    assertThat(s.header("Content-Type")).startsWith("text/event-stream");
    assertThat(s.header("Content-Encoding")).as(s.head()).isNull();
    assertThat(s.header("Content-Length")).as(s.head()).isNull();
    assertThat(s.header("Cache-Control")).as(s.head()).isEqualTo("no-cache, no-transform");
    if (proxy == Proxy.NGINX) {
      // NGINX acts on X-Accel-* response headers and does not pass them on (and proxy_buffering is off anyway).
      assertThat(s.header("X-Accel-Buffering")).as(s.head()).isNull();
    } else {
      assertThat(s.header("X-Accel-Buffering")).as(s.head()).isEqualTo("no");
    }
    assertThat(s.tokenEvents()).as(s.summary()).isEqualTo(20);
    assertThat(s.done()).as(s.summary()).isTrue();
    // Structure, strictly, at the writer: each token event carries its own emission stamp, in order, the
    // model's 50 ms apart (written and flushed one by one), and each reached the client whole.
    List<Long> stamps = s.tokenStampsMicros();
    assertThat(stamps).as(s.summary()).hasSize(20).isSorted().doesNotHaveDuplicates();
    List<Double> stampGaps = new java.util.ArrayList<>();
    for (int i = 1; i < stamps.size(); i++) {
      stampGaps.add((stamps.get(i) - stamps.get(i - 1)) / 1e3);
    }
    assertThat(RawStream.median(stampGaps)).as(s.summary()).isBetween(35.0, 70.0);
    // Timing, statistically: a busy machine may merge a read or hold an event now and then (once 51 ms on a
    // loaded 2-core machine); a buffering proxy or a flush timer holds most events, which these percentiles see.
    assertThat(s.readsWithTokenEvents()).as("reads carrying token events: %s", s.summary()).isGreaterThanOrEqualTo(16);
    assertThat(s.tokenGapMillisMedian()).as(s.summary()).isBetween(35.0, 70.0);
    assertThat(s.holdMillisPercentile(0.5)).as("p50 hold: %s", s.summary()).isLessThan(20.0);
    assertThat(s.holdMillisPercentile(0.9)).as("p90 hold: %s", s.summary()).isLessThan(35.0);
  }

  @ParameterizedTest
  @EnumSource(Proxy.class)
  void readinessAnswersThroughTheProxy(Proxy proxy) throws Exception {
    ProxyProcess p = proxy(proxy);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    HttpResponse<String> res = client.send(HttpRequest.newBuilder(URI.create(p.url("/readyz"))).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());

    assertThat(res.statusCode()).as(res.body()).isEqualTo(200);
    assertThat(res.body()).contains("\"status\":\"ready\"");
  }
}
