package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Help wraps without cutting sentences and prints no picocli warnings, for every command. */
class HelpTextTest {

  record Help(String out, String err) {}

  static Help help(String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    java.io.PrintStream oldErr = System.err;
    java.io.ByteArrayOutputStream tracer = new java.io.ByteArrayOutputStream();
    System.setErr(new java.io.PrintStream(tracer, true)); // picocli's tracer writes its warnings to System.err
    try {
      cl.execute(args);
    } finally {
      System.setErr(oldErr);
    }
    return new Help(out.toString(), err + tracer.toString());
  }

  /** A script that lost its command word must not "succeed" having run nothing (it printed the usage, exit 0). */
  @Test
  void noCommandIsAUsageErrorWithTheCommandsOnStderr() {
    CommandLine cl = Cli.newCommandLine(new Main());
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    assertThat(cl.execute()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString()).contains("Commands:").contains("serve").endsWith("tokenpipe: no command given" + System.lineSeparator());
    assertThat(help("--help").out()).contains("Commands:");
  }

  @Test
  void rootHelpListsEveryCommandWithAWholeSentence() {
    Help h = help("--help");
    String list = h.out().substring(h.out().indexOf("Commands:"));
    List<String> entries = new ArrayList<>();
    for (String line : list.split("\n")) {
      if (line.matches("  [a-z]+ .*")) {
        entries.add(line.strip());
      } else if (line.startsWith("    ") && !entries.isEmpty()) {
        entries.set(entries.size() - 1, entries.get(entries.size() - 1) + " " + line.strip());
      }
    }
    assertThat(entries).hasSizeGreaterThanOrEqualTo(7);
    for (String e : entries) {
      assertThat(e).as("command list entry is a whole sentence").endsWith(".");
    }
    assertThat(h.err()).doesNotContain("WARN");
  }

  @Test
  void everyCommandsHelpFitsTheWidthAndHasNoPicocliWarning() {
    for (String[] args : List.of(new String[] {"--help"}, new String[] {"bench", "--help"}, new String[] {"bench", "compare", "--help"},
        new String[] {"bench", "merge", "--help"}, new String[] {"serve", "--help"}, new String[] {"sim", "--help"},
        new String[] {"doctor", "--help"}, new String[] {"chat", "--help"}, new String[] {"demo", "--help"})) {
      Help h = help(args);
      String name = String.join(" ", args);
      assertThat(h.err()).as(name).doesNotContain("[picocli WARN]");
      assertThat(h.out()).as(name).contains("Usage:");
      for (String line : h.out().split("\n")) {
        assertThat(line.length()).as(name + ": " + line).isLessThanOrEqualTo(80);
      }
    }
    assertThat(help("bench", "compare", "--help").out()).contains("95% confidence intervals");
  }

  @Test
  void sourceLinesJoinIntoParagraphs() {
    assertThat(HelpLayout.paragraphs(new String[] {"One sentence that goes", "on here.", "Next one:", "  indented", "", "Last"}))
        .containsExactly("One sentence that goes on here.", "Next one:", "  indented", "", "Last");
  }
}
