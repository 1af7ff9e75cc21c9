package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench merge -o}: the output never replaces an input, and a place it cannot be written is said before
 * anything is read, as for bench's own {@code --json}. {@code bench merge a.hdr b.hdr -o a.hdr} replaced the run's
 * per-second log with one merged interval (its timeline lost), exit 0; {@code -o /nonexistent/x.hdr} printed
 * the table, then "/nonexistent/x.hdr (No such file or directory)", exit 1.
 */
class BenchMergeOutputTest {
  @TempDir Path dir;

  private Path log(String name, long ttftMicros) throws Exception {
    Histogram h = new Histogram(3);
    h.recordValue(ttftMicros);
    Path p = dir.resolve(name);
    HdrLog.write(p.toFile(), Map.of("ttft", h));
    return p;
  }

  @Test
  void anOutputThatIsOneOfTheInputsIsAUsageErrorAndTheInputIsKept() throws Exception {
    Path a = log("a.hdr", 100_000);
    Path b = log("b.hdr", 200_000);
    byte[] before = Files.readAllBytes(a);

    BenchCli r = BenchCli.run("bench", "merge", a.toString(), b.toString(), "-o", dir.resolve(".").resolve("a.hdr").toString());

    assertThat(r.exitCode()).as(r.err()).isEqualTo(64);
    assertThat(r.err()).contains("is one of the inputs");
    assertThat(r.out()).isEmpty();
    assertThat(Files.readAllBytes(a)).isEqualTo(before);
  }

  @Test
  void anOutputThatCannotBeWrittenIsAUsageErrorBeforeTheTable() throws Exception {
    Path a = log("a.hdr", 100_000);

    BenchCli r = BenchCli.run("bench", "merge", a.toString(), "-o", "/nonexistent-dir-tokenpipe/x.hdr");

    assertThat(r.exitCode()).as(r.err()).isEqualTo(64);
    assertThat(r.err()).contains("cannot write /nonexistent-dir-tokenpipe/x.hdr: no such directory");
    assertThat(r.out()).isEmpty();
  }

  @Test
  void aNewOutputIsWritten() throws Exception {
    Path a = log("a.hdr", 100_000);
    Path b = log("b.hdr", 200_000);
    Path out = dir.resolve("all.hdr");

    BenchCli r = BenchCli.run("bench", "merge", a.toString(), b.toString(), "-o", out.toString());

    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(HdrLog.read(out.toFile()).get("ttft").getTotalCount()).isEqualTo(2);
  }
}
