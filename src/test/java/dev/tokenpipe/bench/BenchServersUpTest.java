package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.testing.BenchScript;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/hedging.sh and bench/routing.sh wait for their servers through bench/lib.sh's bench_started, as the
 * other scripts do: a server that does not come up (or, for serve, never becomes ready on /readyz) stops the
 * script with its name and its log's last lines, before any load is sent. hedging.sh went on to measure a
 * serve that was not ready after its own /readyz loop ran out; routing.sh's own wait said "did not come up"
 * without the log, and only after 30 s of curls for a sim that had already exited.
 *
 * <p>Run on a copy of the scripts and bench/lib.sh next to stubs (tokenpipe, curl, jq): a server is a sleep the
 * script's EXIT trap kills, or a process that exits at once with an error in its log.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BenchServersUpTest {
  @TempDir
  Path dir;

  /** A serve that answers (its /v1/models) but never becomes ready: the run stops when bench_up's 30 s are over. */
  @Test
  void hedgingStopsWithTheLogOfAServeThatNeverBecomesReady() throws Exception {
    BenchScript.Result r = run("hedging.sh", "serve) echo 'serve: no upstream usable (stub)' >&2; exec sleep 120 ;;",
        "*/v1/models) exit 0 ;;", "10");
    assertThat(r.exit()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("hedging: serve (off) did not answer /readyz on port 18450")
        .contains("serve: no upstream usable (stub)");
    assertThat(r.started()).as("nothing measured").doesNotContain("bench");
  }

  /** A sim that exits at start (its port taken) stops the run at once, with the reason from its log. */
  @Test
  void routingStopsAtOnceWithTheLogOfASimThatExited() throws Exception {
    long start = System.nanoTime();
    BenchScript.Result r = run("routing.sh", "sim) echo 'tokenpipe sim: cannot listen (stub)' >&2; exit 1 ;;", "", "1", "1");
    assertThat(r.exit()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("routing: sim 1 did not answer /v1/models on port 18420")
        .contains("tokenpipe sim: cannot listen (stub)");
    assertThat((System.nanoTime() - start) / 1_000_000).as("no wait for a process that is gone").isLessThan(15_000);
    assertThat(r.started()).doesNotContain("serve", "bench");
  }

  /**
   * Runs {@code bench/<script> args...} with a stub launcher whose sim and serve sleep unless {@code launcherCase}
   * (a case branch) says otherwise, and a stub curl that fails unless {@code curlCase} (a case branch on the URL)
   * says otherwise.
   */
  private BenchScript.Result run(String script, String launcherCase, String curlCase, String... args) throws Exception {
    return new BenchScript(dir, script)
        .launcher("case $1 in\n" + launcherCase + "\nsim|serve) exec sleep 120 ;;\nesac\nexit 0")
        .tool("curl", "url=${*: -1}\ncase $url in\n" + curlCase + "\n*) exit 7 ;;\nesac")
        .tool("jq", "exit 0")
        .run(Map.of(), 75, args);
  }
}
