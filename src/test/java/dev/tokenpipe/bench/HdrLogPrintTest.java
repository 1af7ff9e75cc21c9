package dev.tokenpipe.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/**
 * {@code bench merge} prints each metric in its own unit. Before, one header "metric (ms)" stood over every row,
 * {@code output_tokens 28 20 20 ...} included: 20 tokens read as 20 ms.
 */
class HdrLogPrintTest {
  @Test
  void tokenRowsSayTokensAndLatencyRowsSayMilliseconds() {
    Map<String, Histogram> merged = new LinkedHashMap<>();
    Histogram ttft = new Histogram(3);
    ttft.recordValue(100_000); // microseconds
    Histogram tokens = new Histogram(3);
    tokens.recordValue(20);
    merged.put("ttft", ttft);
    merged.put("output_tokens", tokens);
    StringWriter out = new StringWriter();

    HdrLog.print(merged, new PrintWriter(out, true));

    assertThat(out.toString()).doesNotContain("(ms)")
        .containsPattern("(?m)^ttft\\s+ms\\s+1\\s+100(\\.0)?\\s")
        .containsPattern("(?m)^output_tokens\\s+tokens\\s+1\\s+20\\s");
  }
}
