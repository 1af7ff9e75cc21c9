package dev.tokenpipe.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every range doctor enforces on a flag is the one docs/doctor.md's flag table gives. The table gave
 * {@code --probe-interval} the probe route's 120 s (through "(count - 1) x interval ≤ 300 s") while doctor refuses
 * more than 10 s, and no range at all for {@code --probe-count} (4-10000), {@code --probe-size} (32-65536),
 * {@code --timeout} (100ms-3600s) or {@code --max-tokens} (1-100000): each was found by trying.
 */
class DoctorFlagRangesDocTest {
  static final Pattern BETWEEN = Pattern.compile("(--[a-z-]+) must be between (\\S+) and (\\S+), not");

  /** "10.0s" and "3600.0s" as the doc writes them. */
  static String plain(String bound) {
    return bound.replaceAll("\\.0(?=[a-z]*$)", "");
  }

  @Test
  void theDocsFlagTableGivesEveryRangeDoctorEnforces() throws Exception {
    List<String> rows = Files.readAllLines(Path.of("docs/doctor.md")).stream().filter(l -> l.startsWith("| `")).toList();
    String[][] outOfRange = {{"--concurrency", "0"}, {"--max-tokens", "0"}, {"--probe-interval", "0"}, {"--probe-count", "1"},
        {"--probe-size", "1"}, {"--timeout", "1ms"}, {"--idle-test", "1ms"}};
    for (String[] flag : outOfRange) {
      DoctorRun run = DoctorRun.run(flag[0], flag[1], "http://127.0.0.1:9/v1/chat/completions");
      assertThat(run.exitCode()).as(run.transcript()).isEqualTo(64);
      Matcher m = BETWEEN.matcher(run.err());
      assertThat(m.find()).as(run.err()).isTrue();
      String name = m.group(1);
      String range = plain(m.group(2)) + "–" + plain(m.group(3));
      String shortName = name.substring(name.lastIndexOf('-') + 1);
      String row = rows.stream().filter(l -> l.contains(name + "`") || l.contains(name + "/") || l.contains("/-" + shortName)).findFirst()
          .orElse("");
      assertThat(row).as("docs/doctor.md's row for %s gives its range %s", name, range).contains(range);
    }
  }
}
