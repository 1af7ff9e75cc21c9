package dev.tokenpipe.docs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.gateway.GatewayCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * What {@code 0} means for a flag is said in docs/serve.md's flag table wherever {@code --help} says it: serve.md
 * gave {@code --first-token-timeout}, {@code --upstream-idle-timeout} and {@code --slow-client-timeout} no zero,
 * though {@code 0} turns each off, so a reader could only guess whether 0 meant "at once".
 */
class ZeroValuesDocTest {
  static final Pattern ZERO = Pattern.compile("\\(0 = ([^)]+)\\)");

  @Test
  void everyServeFlagWhoseHelpGivesZeroAMeaningHasItInServeMd() throws Exception {
    List<String> rows = Files.readAllLines(Path.of("docs/serve.md")).stream().filter(l -> l.startsWith("| `")).toList();
    List<String> missing = new ArrayList<>();
    for (CommandLine.Model.OptionSpec o : Cli.newCommandLine(new GatewayCommand()).getCommandSpec().options()) {
      Matcher m = ZERO.matcher(String.join(" ", o.description()));
      if (!m.find()) {
        continue;
      }
      String row = rows.stream().filter(l -> l.contains("`" + o.longestName() + "`")).findFirst().orElse("");
      if (!row.contains("`0`")) {
        missing.add(o.longestName() + " (--help: 0 = " + m.group(1) + ")");
      }
    }
    assertThat(missing).as("serve.md's flag rows that do not say what 0 means").isEmpty();
  }
}
