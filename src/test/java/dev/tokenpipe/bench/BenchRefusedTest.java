package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run whose first requests are all refused alike stops at once with one line ({@link FailFast}): before, a
 * URL without its path (`bench http://127.0.0.1:8000`, answered 404) sent the refused request as fast as the
 * server answered for the whole run, 930,503 of them in 60 s against `serve`. Errors a load test measures
 * (here 503) still run to the end.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BenchRefusedTest {
  @TempDir Path dir;
  private HttpServer server;
  private final AtomicInteger posts = new AtomicInteger();

  private String answering(int status, String body) throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      if (ex.getRequestMethod().equals("POST")) {
        posts.incrementAndGet();
      }
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(status, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    server.start();
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  @Test
  void aBareUrlAnsweredNotFoundStopsAfterTheFirstRequestsWithOneLine() throws Exception {
    String url = answering(404, "{\"error\":{\"message\":\"Invalid URL (POST /)\",\"type\":\"invalid_request_error\"}}");
    Path json = dir.resolve("r.json");
    long t0 = System.nanoTime();

    BenchCli r = BenchCli.run("bench", "-c", "2", "-z", "30s", "--warmup", "5s", "--model", "m", "--progress", "none",
        "--json", json.toString(), url);

    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.err().lines().limit(2)).containsExactly(
        "bench: stopped: the first 8 requests were all refused: HTTP 404: Invalid URL (POST /)",
        "bench: the URL has no path; the openai-chat API is at " + url + "/v1/chat/completions");
    assertThat(seconds).as("the run stopped long before its 35 s").isLessThan(20);
    assertThat(r.out().lines().findFirst().orElse("")).endsWith("[STOPPED: requests refused]");
    // The 8 refusals, and at most what the other stream had in flight when the run stopped.
    assertThat(posts.get()).isBetween(FailFast.REQUESTS, FailFast.REQUESTS + 2);
    JsonNode result = BenchCli.json(json);
    assertThat(result.path("refused").asText()).isEqualTo("the first 8 requests were all refused: HTTP 404: Invalid URL (POST /)");
    assertThat(result.path("interrupted").asBoolean()).isFalse();
    // All eight came in the warm-up; the run's result is the refusal, so they are its errors, not warm-up.
    assertThat(result.path("totals").path("ok").asLong()).isZero();
    assertThat(result.path("totals").path("errors").asLong()).isBetween(8L, 10L);
    assertThat(result.path("errors").path("http_404").asLong()).isBetween(8L, 10L);
    assertThat(result.path("totals").path("warmup").asLong()).isLessThanOrEqualTo(2L);
  }

  /** A run too short to reach the refusal stop (fewer than 8 requests) says where the API is all the same. */
  @Test
  void aShortRunOnABareUrlAnsweredNotFoundSaysWhereTheApiIs() throws Exception {
    String url = answering(404, "{\"error\":{\"message\":\"Invalid URL (POST /)\",\"type\":\"invalid_request_error\"}}");

    BenchCli r = BenchCli.run("bench", "-c", "2", "-n", "2", "--model", "m", "--progress", "none", url);

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.err().lines().limit(2)).containsExactly(
        "bench: no request succeeded (2 of 2 failed): HTTP 404: Invalid URL (POST /)",
        "bench: the URL has no path; the openai-chat API is at " + url + "/v1/chat/completions");
  }

  /**
   * Connects still waiting in the target's backlog when the run stops are not waited for (as after Ctrl-C,
   * at most 2 s), and one that completes later sends nothing: before, such a run took until the connects timed
   * out and sent the refused request on each of them.
   */
  @Test
  void connectsStillInTheBacklogAreNotWaitedForOrUsed() throws Exception {
    AtomicInteger requests = new AtomicInteger();
    try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Thread one = new Thread(() -> {
        // Accepts one connection only and refuses every request on it; the other connects wait in the backlog.
        try (Socket s = listener.accept()) {
          BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
          OutputStream out = s.getOutputStream();
          byte[] body = "{\"error\":{\"message\":\"no such model\"}}".getBytes(StandardCharsets.UTF_8);
          for (;;) {
            int length = 0;
            String line;
            while ((line = in.readLine()) != null && !line.isEmpty()) {
              if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
              }
            }
            if (line == null) {
              return;
            }
            in.skip(length);
            requests.incrementAndGet();
            out.write(("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
          }
        } catch (IOException e) {
          // the run closed it
        }
      });
      one.setDaemon(true);
      one.start();
      long t0 = System.nanoTime();

      BenchCli r = BenchCli.run("bench", "-c", "40", "-z", "30s", "--connect-timeout", "20s", "--model", "m",
          "--progress", "none", "http://127.0.0.1:" + listener.getLocalPort() + "/v1/chat/completions");

      long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
      assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
      assertThat(r.err().lines().findFirst().orElse(""))
          .isEqualTo("bench: stopped: the first 8 requests were all refused: HTTP 404: no such model");
      assertThat(seconds).as("not waiting for the 20 s connect timeout of the connects in the backlog").isLessThan(10);
      assertThat(requests.get()).isEqualTo(FailFast.REQUESTS);
    }
  }

  @Test
  void aMissingKeyOnAUrlWithItsPathStopsWithoutAPathHint() throws Exception {
    String url = answering(401, "{\"error\":{\"message\":\"invalid key\"}}");

    BenchCli r = BenchCli.run("bench", "-c", "4", "-z", "30s", "--model", "m", "--progress", "none",
        url + "/v1/messages");

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.err().lines().filter(l -> l.startsWith("bench: ")))
        .containsExactly("bench: stopped: the first 8 requests were all refused: HTTP 401: invalid key");
  }

  @Test
  void aSweepWhoseFirstStepIsRefusedStopsThereAndSaysWhy() throws Exception {
    String url = answering(404, "{\"error\":{\"message\":\"model not found\"}}");

    BenchCli r = BenchCli.run("bench", "--sweep", "concurrency:1,2,4", "-z", "5s", "--model", "m", "--progress", "none",
        url + "/v1/chat/completions");

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.out()).as(r.out()).containsPattern("\\n\\s+1 .* 8  MISSED requests refused\\n");
    assertThat(posts.get()).isEqualTo(FailFast.REQUESTS);
  }

  @Test
  void anOverloadedServerIsMeasuredToTheEnd() throws Exception {
    String url = answering(503, "{\"error\":{\"message\":\"overloaded\"}}");

    BenchCli r = BenchCli.run("bench", "-c", "1", "-n", "30", "--model", "m", "--progress", "none",
        url + "/v1/chat/completions");

    assertThat(r.exitCode()).as(r.out() + r.err()).isEqualTo(BenchCommand.EXIT_ALL_FAILED);
    assertThat(r.err().lines().findFirst().orElse(""))
        .startsWith("bench: no request succeeded (30 of 30 failed): HTTP 503");
    assertThat(posts.get()).isEqualTo(30);
  }
}
