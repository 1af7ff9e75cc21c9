package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.Main;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;

/** One rule for every duration flag of every command: a bare number is seconds, units always work. */
class DurationFlagsTest {

  @Test
  void bareNumbersAreSecondsAndUnitsAreAccepted() {
    assertThat(Durations.parse("20")).isEqualTo(Duration.ofSeconds(20));
    assertThat(Durations.parse("1.5")).isEqualTo(Duration.ofMillis(1500));
    assertThat(Durations.parse("0")).isEqualTo(Duration.ZERO);
    assertThat(Durations.parse("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(Durations.parse("5s")).isEqualTo(Duration.ofSeconds(5));
    assertThat(Durations.parse("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(Durations.parse("800us")).isEqualTo(Duration.ofNanos(800_000));
    assertThat(Durations.parse(" 3 S ")).isEqualTo(Duration.ofSeconds(3));
    assertThatThrownBy(() -> Durations.parse("-5")).hasMessageContaining("negative");
    assertThatThrownBy(() -> Durations.parse("5 parsecs")).hasMessageContaining("unknown unit");
    assertThatThrownBy(() -> Durations.parse("soon")).hasMessageContaining("not a duration");
    assertThatThrownBy(() -> Durations.parse("1e30")).isInstanceOf(IllegalArgumentException.class);
  }

  /** Every option typed Duration, in every command and subcommand, reads "20" as 20 s and "20ms" as 20 ms. */
  @Test
  void everyDurationFlagOfEveryCommandReadsBareNumbersAsSeconds() {
    List<String> seen = new ArrayList<>();
    CommandLine root = Cli.newCommandLine(new Main());
    forEachCommand(root, cmd -> {
      for (OptionSpec o : cmd.getCommandSpec().options()) {
        if (o.type() != Duration.class) {
          continue;
        }
        String name = cmd.getCommandSpec().qualifiedName() + " " + o.longestName();
        seen.add(name);
        assertThat(convert(cmd, o, "20")).as(name).isEqualTo(Duration.ofSeconds(20));
        assertThat(convert(cmd, o, "20ms")).as(name).isEqualTo(Duration.ofMillis(20));
        assertThat(convert(cmd, o, "2m")).as(name).isEqualTo(Duration.ofMinutes(2));
        if (o.defaultValue() != null) {
          // Default strings carry their unit so that help shows what they mean.
          assertThat(o.defaultValue()).as(name + " default").matches("0|[0-9.]+(ms|s|m|h)");
        }
      }
    });
    assertThat(seen).contains("tokenpipe bench --timeout", "tokenpipe bench --duration", "tokenpipe bench --connect-timeout",
        "tokenpipe chat --timeout", "tokenpipe serve --heartbeat", "tokenpipe serve --drain-timeout",
        "tokenpipe sim --group-commit");
  }

  /**
   * A bad value of any duration flag is one clean message naming the flag and what a duration looks like, as
   * --hedge-after's is, not picocli's "cannot convert 'abc' to Duration (java.lang.IllegalArgumentException: ...)".
   */
  @Test
  void aBadValueOfEveryDurationFlagSaysWhatADurationIs() {
    List<String> seen = new ArrayList<>();
    forEachCommand(Cli.newCommandLine(new Main()), cmd -> {
      for (OptionSpec o : cmd.getCommandSpec().options()) {
        if (o.type() != Duration.class) {
          continue;
        }
        String name = cmd.getCommandSpec().qualifiedName() + " " + o.longestName();
        seen.add(name);
        List<String> args = new ArrayList<>(List.of(cmd.getCommandSpec().qualifiedName().split(" ")));
        args.removeFirst(); // the root's own name
        args.addAll(List.of(o.longestName(), "abc"));
        assertThatThrownBy(() -> Cli.newCommandLine(new Main()).parseArgs(args.toArray(String[]::new)))
            .as(name).isInstanceOf(CommandLine.ParameterException.class)
            .hasMessageContaining(o.longestName()).hasMessageContaining("not a duration: 'abc' (use e.g. 250ms, 1.5s, 2m)")
            .hasMessageNotContaining("cannot convert").hasMessageNotContaining("java.lang");
      }
    });
    assertThat(seen).contains("tokenpipe serve --health-interval", "tokenpipe serve --heartbeat", "tokenpipe bench --timeout");
  }

  /** Flags whose value is a count or a duration, or p50/p99 pairs, follow the same rule through the parser. */
  @Test
  void durationsInsideOtherFlagsFollowTheSameRule() {
    assertThat(Durations.parse("2").toMillis()).isEqualTo(2000);
    // bench --warmup 5 is a request count (documented), --warmup 5s a duration: checked in BenchErrorsTest.
    CommandLine root = Cli.newCommandLine(new Main());
    CommandLine.ParseResult pr = root.parseArgs("bench", "-z", "5", "-t", "20", "http://127.0.0.1:1/v1/chat/completions");
    CommandLine.ParseResult bench = pr.subcommand();
    assertThat(bench.matchedOptionValue("-z", Duration.ZERO)).isEqualTo(Duration.ofSeconds(5));
    assertThat(bench.matchedOptionValue("-t", Duration.ZERO)).isEqualTo(Duration.ofSeconds(20));
  }

  private static Duration convert(CommandLine cmd, OptionSpec o, String value) {
    try {
      CommandLine.ITypeConverter<?>[] converters = o.converters();
      assertThat(converters).as(o.longestName() + " has the Durations converter").isNotEmpty();
      return (Duration) converters[0].convert(value);
    } catch (Exception e) {
      throw new AssertionError(o.longestName() + ": " + e.getMessage(), e);
    }
  }

  private static void forEachCommand(CommandLine cmd, java.util.function.Consumer<CommandLine> action) {
    action.accept(cmd);
    cmd.getSubcommands().values().forEach(sub -> forEachCommand(sub, action));
  }
}
