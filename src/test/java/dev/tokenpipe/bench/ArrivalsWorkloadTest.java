package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.testing.SimExtension;
import dev.tokenpipe.tokens.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Gamma/Poisson arrivals have the requested burstiness; ShareGPT files set each request's output length. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ArrivalsWorkloadTest {
  @RegisterExtension static final SimExtension sim = new SimExtension();
  @TempDir Path dir;

  static double cv(List<Double> xs) {
    double mean = xs.stream().mapToDouble(d -> d).average().orElse(0);
    double var = xs.stream().mapToDouble(d -> (d - mean) * (d - mean)).sum() / (xs.size() - 1);
    return Math.sqrt(var) / mean;
  }

  @Test
  void gapDistributionsHaveTheRequestedMeanAndCoefficientOfVariation() {
    SplittableRandom random = new SplittableRandom(7);
    for (double[] c : new double[][] {{0.25, 2.0}, {1, 1.0}, {4, 0.5}}) {
      Arrivals a = Arrivals.parse("gamma", c[0]);
      List<Double> gaps = new ArrayList<>();
      for (int i = 0; i < 100_000; i++) {
        gaps.add(a.nextGap(1e7, random));
      }
      assertThat(gaps.stream().mapToDouble(d -> d).average().orElse(0)).as("mean, burstiness %s", c[0]).isCloseTo(1e7, within(2e5));
      assertThat(cv(gaps)).as("CV, burstiness %s", c[0]).isCloseTo(c[1], within(c[1] * 0.05));
    }
    List<Double> poisson = new ArrayList<>();
    Arrivals p = Arrivals.parse("poisson", null);
    for (int i = 0; i < 100_000; i++) {
      poisson.add(p.nextGap(1e7, random));
    }
    assertThat(cv(poisson)).isCloseTo(1.0, within(0.05));
    assertThat(Arrivals.parse("constant", null).nextGap(5, random)).isEqualTo(5);
  }

  /** The intended start times bench actually used (per-request rows) have the gamma process's CV. */
  @Test
  void gammaArrivalsInARealRunHaveTheRequestedBurstiness() throws Exception {
    Path json = dir.resolve("gamma.json");
    BenchCli r = BenchCli.run("bench", "--rate", "150", "--arrival", "gamma", "--burstiness", "0.25", "-n", "500", "-c", "64",
        "--progress", "none", "--json", json.toString(), "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=2", sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    assertThat(res.path("config").path("arrival").asText()).isEqualTo("gamma");
    assertThat(res.path("config").path("burstiness").asDouble()).isEqualTo(0.25);
    List<Double> starts = new ArrayList<>();
    res.path("requests").forEach(row -> starts.add(row.path("start_ms").asDouble()));
    starts.sort(Double::compare);
    List<Double> gaps = new ArrayList<>();
    for (int i = 1; i < starts.size(); i++) {
      gaps.add(starts.get(i) - starts.get(i - 1));
    }
    // CV 2 expected; 500 gaps of a heavy-tailed process: the sample CV's spread is about +-0.3.
    assertThat(cv(gaps)).as("inter-arrival CV").isBetween(1.5, 2.6);
    assertThat(r.out()).contains("gamma burstiness 0.25");
  }

  @Test
  void shareGptFileSendsEachRepliesLengthAsMaxTokens() throws Exception {
    String[] replies = {"Yes.", "The lighthouse keeper found a bottle on the rocks at dawn.",
        "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen."};
    StringBuilder file = new StringBuilder("[\n");
    for (int i = 0; i < replies.length; i++) {
      file.append(i > 0 ? ",\n" : "").append("{\"id\": \"c").append(i).append("\", \"conversations\": [")
          .append("{\"from\": \"human\", \"value\": \"question ").append(i).append("\"}, ")
          .append("{\"from\": \"gpt\", \"value\": \"").append(replies[i]).append("\"}]}");
    }
    file.append(",\n{\"id\": \"no-reply\", \"conversations\": [{\"from\": \"human\", \"value\": \"skipped\"}]}\n]\n");
    Path prompts = Files.writeString(dir.resolve("sharegpt.json"), file);
    Path json = dir.resolve("sg.json");
    BenchCli r = BenchCli.run("bench", "-n", "3", "-c", "1", "--progress", "none", "--prompts-file", prompts.toString(),
        "--json", json.toString(), "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=500", sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode res = BenchCli.json(json);
    assertThat(res.path("config").path("prompts").asInt()).isEqualTo(3);
    List<Integer> got = new ArrayList<>();
    res.path("requests").forEach(row -> got.add(row.path("output_tokens").asInt()));
    List<Integer> expected = new ArrayList<>();
    for (String reply : replies) {
      expected.add(Tokenizer.cl100k().count(reply));
    }
    assertThat(expected).doesNotHaveDuplicates();
    assertThat(got).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  void jsonlEntriesMayCarryTheirOwnOutputLength() throws Exception {
    Path prompts = Files.writeString(dir.resolve("p.jsonl"), "{\"prompt\": \"a\", \"max_tokens\": 4}\n\"b\"\n");
    Path json = dir.resolve("l.json");
    BenchCli r = BenchCli.run("bench", "-n", "2", "-c", "1", "--progress", "none", "--max-tokens", "9", "--prompts-file",
        prompts.toString(), "--json", json.toString(), "-H", "X-Tokenpipe-Sim: ttft=5ms itl=1ms tokens=500", sim.chatUrl());
    assertThat(r.exitCode()).as(r.err()).isZero();
    List<Integer> got = new ArrayList<>();
    BenchCli.json(json).path("requests").forEach(row -> got.add(row.path("output_tokens").asInt()));
    assertThat(got).containsExactlyInAnyOrder(4, 9);
    BenchCli bad = BenchCli.run("bench", "--prompts-file", Files.writeString(dir.resolve("bad.json"), "[{\"x\": 1}]").toString(),
        "http://127.0.0.1:1/v1/chat/completions");
    assertThat(bad.exitCode()).isEqualTo(64);
    assertThat(bad.err().lines().findFirst().orElse("")).contains("entry 0");
  }
}
