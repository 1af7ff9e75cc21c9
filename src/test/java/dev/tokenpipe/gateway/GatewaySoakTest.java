package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.CliProcess;
import dev.tokenpipe.testing.RawClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault-load soak of a real {@code serve} process (its built-in model): 300 concurrent streams per round,
 * with 5% of them cut by the model mid-stream, 5% answered with an error status, and 10% abandoned by their
 * client after the first token. Every stream must end with its terminator or an error the client can see
 * (an HTTP error status or an in-band error event); none may hang; the tokens a client got are exactly the
 * ones the model emitted (the model's emission stamps {@code id: tp.<seq>.<µs>} arrive gap-free and in order);
 * and after the load the process's open descriptors and memory are back where the same load left them
 * before (no growth per round: nothing leaks).
 */
@Tag("stress")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class GatewaySoakTest {
  private static final int STREAMS = 300;
  private static final int ROUNDS = 4;
  private static final int TOKENS = 40;
  private static final Pattern STAMP = Pattern.compile("id: tp\\.(\\d+)\\.");
  private static final String CHAT =
      "{\"model\":\"tokenpipe-sim\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  enum Fate { COMPLETE, CUT, ERROR_STATUS, ABANDON }

  @TempDir Path work;

  @Test
  void underDropsErrorsAndAbandoningClientsEveryStreamEndsVisiblyAndNothingLeaks() throws Exception {
    // A fixed, pre-touched heap: the heap's own growth under load is not a leak and no longer shows in RSS,
    // so RSS growth is what the process holds outside it (direct buffers, threads, metaspace).
    try (CliProcess serve = CliProcess.start(work, List.of("-Xms384m", "-Xmx384m", "-XX:+AlwaysPreTouch"),
        "serve", "--sim", "ttft=20ms itl=5ms tokens=" + TOKENS, "--max-streams", "2000")) {
      Map<Fate, AtomicInteger> outcomes = new ConcurrentHashMap<>();
      round(serve.port(), 0, outcomes); // the same load once, so pools and buffers reach their working size
      long fdsBefore = openFds(serve.process().pid());
      long rssBefore = rssKib(serve.process().pid());
      outcomes.clear();
      for (int r = 1; r <= ROUNDS; r++) {
        round(serve.port(), r, outcomes);
      }
      Thread.sleep(500); // the last cancels reach the model
      long fdsAfter = openFds(serve.process().pid());
      long rssAfter = rssKib(serve.process().pid());
      int total = outcomes.values().stream().mapToInt(AtomicInteger::get).sum();
      assertThat(total).isEqualTo(STREAMS * ROUNDS);
      for (Fate f : Fate.values()) {
        assertThat(outcomes.getOrDefault(f, new AtomicInteger()).get()).as("%s streams", f).isPositive();
      }
      assertThat(fdsAfter).as("open descriptors before %d, after %d", fdsBefore, fdsAfter).isLessThanOrEqualTo(fdsBefore + 16);
      assertThat(rssAfter).as("RSS KiB before %d, after %d", rssBefore, rssAfter).isLessThan(rssBefore + 96 * 1024);
      try (RawClient m = RawClient.get(serve.port(), "/metrics")) {
        assertThat(m.readToEnd()).isTrue();
        assertThat(m.body()).contains("tokenpipe_gateway_active_streams 0.0");
      }
      System.out.printf("soak: %d streams %s; descriptors %d -> %d; RSS %d -> %d KiB%n",
          total, outcomes, fdsBefore, fdsAfter, rssBefore, rssAfter);
    }
  }

  private static void round(int port, int round, Map<Fate, AtomicInteger> outcomes) throws Exception {
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Fate>> done = new ArrayList<>();
      for (int i = 0; i < STREAMS; i++) {
        Fate fate = switch (i % 20) {
          case 0 -> Fate.CUT;
          case 1 -> Fate.ERROR_STATUS;
          case 2, 3 -> Fate.ABANDON;
          default -> Fate.COMPLETE;
        };
        int stream = i;
        done.add(pool.submit(() -> {
          one(port, fate, round + "/" + stream);
          return fate;
        }));
      }
      for (Future<Fate> f : done) {
        outcomes.computeIfAbsent(f.get(60, TimeUnit.SECONDS), k -> new AtomicInteger()).incrementAndGet();
      }
    }
  }

  /** One stream with its fate; throws (failing the test) when the stream ended otherwise. */
  private static void one(int port, Fate fate, String name) throws Exception {
    String sim = switch (fate) {
      case CUT -> "ttft=20ms itl=5ms tokens=" + TOKENS + " drop_after=10";
      case ERROR_STATUS -> "ttft=20ms error_rate=1 error_status=503";
      default -> "ttft=20ms itl=5ms tokens=" + TOKENS;
    };
    try (RawClient c = RawClient.post(port, "/v1/chat/completions", CHAT, "X-Tokenpipe-Sim: " + sim)) {
      if (fate == Fate.ABANDON) {
        assertThat(c.readUntil("\"content\":\"")).as(name).isTrue();
        return; // close mid-stream: the gateway must cancel the model's stream
      }
      assertThat(c.readToEnd()).as("%s ended, no hang", name).isTrue();
      String body = c.body();
      switch (fate) {
        case ERROR_STATUS -> {
          assertThat(c.status()).as(name).isEqualTo(503);
          assertThat(body).as(name).contains("{\"error\":{");
        }
        case CUT -> {
          assertThat(c.status()).as(name).isEqualTo(200);
          assertThat(body).as(name).contains("event: error\ndata: {\"error\":{").contains("upstream_cut")
              .doesNotContain("[DONE]");
          assertGapFree(body, name);
        }
        default -> {
          assertThat(c.status()).as(name).isEqualTo(200);
          assertThat(body).as(name).contains("data: [DONE]").doesNotContain("event: error");
          int seqs = assertGapFree(body, name);
          assertThat(seqs).as("%s: every emitted event arrived", name).isEqualTo(TOKENS + 3);
        }
      }
    }
  }

  /** The model's sequence numbers arrive 0, 1, 2, ... with no gap or repeat; returns how many. */
  private static int assertGapFree(String body, String name) {
    Matcher m = STAMP.matcher(body);
    int expected = 0;
    while (m.find()) {
      assertThat(Integer.parseInt(m.group(1))).as("%s: stamp order", name).isEqualTo(expected);
      expected++;
    }
    return expected;
  }

  private static long openFds(long pid) throws Exception {
    try (var s = Files.list(Path.of("/proc", String.valueOf(pid), "fd"))) {
      return s.count();
    }
  }

  private static long rssKib(long pid) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D", ""));
      }
    }
    throw new IllegalStateException("no VmRSS");
  }
}
