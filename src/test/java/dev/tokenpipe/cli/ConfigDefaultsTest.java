package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.Main;
import dev.tokenpipe.sim.SimCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Flag > environment > YAML file > built-in default, for the server commands. */
class ConfigDefaultsTest {
  @TempDir Path dir;

  private SimCommand parse(Map<String, String> env, String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    Cli.configureServerDefaults(cl, args, env);
    return (SimCommand) cl.parseArgs(args).subcommand().commandSpec().userObject();
  }

  @Test
  void builtInDefaultsApplyWithoutEnvOrFile() {
    assertThat(parse(Map.of(), "sim").port()).isEqualTo(8000);
  }

  @Test
  void environmentVariableSetsAnOptionAndTheFlagWins() {
    Map<String, String> env = Map.of("TOKENPIPE_PORT", "9100", "TOKENPIPE_ITL", "7ms");
    assertThat(parse(env, "sim").port()).isEqualTo(9100);
    assertThat(parse(env, "sim").config().defaultProfile().itl().p50Nanos()).isEqualTo(7_000_000);
    assertThat(parse(env, "sim", "--port", "9200").port()).isEqualTo(9200);
  }

  @Test
  void yamlFileSetsOptionsAndEnvironmentWinsOverIt() throws Exception {
    Path file = dir.resolve("sim.yaml");
    Files.writeString(file, "port: 9300\nmodel: [a, b]\ntokens: 12\n");
    SimCommand fromFile = parse(Map.of(), "sim", "--config", file.toString());
    assertThat(fromFile.port()).isEqualTo(9300);
    assertThat(fromFile.config().models()).containsExactly("a", "b");
    assertThat(fromFile.config().defaultProfile().tokens()).isEqualTo(12);
    assertThat(parse(Map.of("TOKENPIPE_PORT", "9400", "TOKENPIPE_CONFIG", file.toString()), "sim").port()).isEqualTo(9400);
  }

  /**
   * An empty TOKENPIPE_UPSTREAM is refused as --upstream '' is: serve took it as no upstream and quietly
   * answered with the built-in simulated model, a deployment whose variable was left blank serving made-up text.
   */
  @Test
  void anEmptyValueFromTheEnvironmentIsRefusedAsTheFlagsIs() {
    for (String[] c : new String[][] {{"serve", "TOKENPIPE_UPSTREAM"}, {"sim", "TOKENPIPE_MODEL"}}) {
      CommandLine cl = Cli.newCommandLine(new Main());
      Cli.configureServerDefaults(cl, new String[] {c[0]}, Map.of(c[1], ""));
      assertThatThrownBy(() -> cl.parseArgs(c[0])).as(c[1]).isInstanceOf(CommandLine.ParameterException.class)
          .hasMessageContaining("must not be empty");
    }
  }

  @Test
  void unknownKeyInTheFileIsAOneLineError() throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(file, "port: 1\nbogus: 2\n");
    assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", file.toString()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'bogus' is not an option of tokenpipe sim");
  }

  /**
   * Every error about the file names it and the key's line, as a duplicate or a bad value does: the file may come
   * from TOKENPIPE_CONFIG, set far from the command line, and "config file: 'bogus'" left the user to guess which.
   */
  @Test
  void anUnknownOrNestedKeyNamesTheFileAndTheLine() throws Exception {
    Path file = dir.resolve("keys.yaml");
    Files.writeString(file, "port: 1\nbogus: 2\n");
    assertThatThrownBy(() -> parse(Map.of(ConfigDefaults.CONFIG_ENV, file.toString()), "sim"))
        .hasMessageContaining("config file " + file + ", line 2: 'bogus' is not an option of tokenpipe sim");
    Files.writeString(file, "# sim\nport: {n: 9300}\n");
    assertThatThrownBy(() -> parse(Map.of(ConfigDefaults.CONFIG_ENV, file.toString()), "sim"))
        .hasMessageContaining("config file " + file + ", line 2: 'port' must be a value or a list of values");
  }

  /**
   * A value that is no value, a mapping or a list inside a list, is refused with its key: it was read as an empty
   * string, so {@code upstream: [http://a:8000, {host: b}]} served only a, and {@code port: {n: 1}} the default.
   */
  @Test
  void aNestedValueInTheFileIsAOneLineErrorNamingItsKey() throws Exception {
    for (String yaml : new String[] {"model: [a, {name: b}]\n", "model: [a, [b, c]]\n", "port: {n: 9300}\n"}) {
      Path file = dir.resolve("nested.yaml");
      Files.writeString(file, yaml);
      String key = yaml.substring(0, yaml.indexOf(':'));
      assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", file.toString())).as(yaml)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'" + key + "'").hasMessageContaining("a value or a list of values");
    }
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      assertThat(Main.execute("sim", "--config", dir.resolve("nested.yaml").toString())).isEqualTo(Cli.EXIT_USAGE);
    } finally {
      System.setErr(old);
    }
    assertThat(err.toString(StandardCharsets.UTF_8).strip()).doesNotContain("\n").contains("'port'");
  }

  /**
   * A file with no settings (empty, or every line commented out, as one is while trying things) is an empty YAML
   * document, valid: it sets nothing. It was refused as "expected a mapping", exit 64.
   */
  @Test
  void anEmptyOrAllCommentedFileSetsNothing() throws Exception {
    for (String yaml : new String[] {"", "\n", "# port: 9300\n# tokens: 12\n", "---\n"}) {
      Path file = dir.resolve("empty.yaml");
      Files.writeString(file, yaml);
      assertThat(parse(Map.of(), "sim", "--config", file.toString()).port()).as("[%s]", yaml).isEqualTo(8000);
    }
  }

  @Test
  void missingOrMalformedFileIsAUsageError() throws Exception {
    assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", dir.resolve("nope.yaml").toString()))
        .hasMessageContaining("no such file");
    Path list = dir.resolve("list.yaml");
    Files.writeString(list, "- 1\n- 2\n");
    assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", list.toString()))
        .hasMessageContaining("expected a mapping");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      assertThat(Main.execute("sim", "--config", dir.resolve("nope.yaml").toString())).isEqualTo(Cli.EXIT_USAGE);
    } finally {
      System.setErr(old);
    }
  }

  /** Runs a command in-process; its exit code and what it printed on stderr. */
  private static String[] execute(String... args) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Main.execute(args);
    } finally {
      System.setErr(old);
    }
    return new String[] {String.valueOf(code), err.toString(StandardCharsets.UTF_8).strip()};
  }

  /**
   * A key set twice: the last value won without a word ({@code tokens: 5} then {@code tokens: 7} served 7), so a
   * file edited by two people ran on whichever line came last. Now bad usage naming the key and both lines.
   */
  @Test
  void aKeySetTwiceInTheFileIsAOneLineErrorNamingTheKeyAndItsLines() throws Exception {
    Path file = dir.resolve("twice.yaml");
    Files.writeString(file, "port: 9300\ntokens: 5\n# later\ntokens: 7\n");
    assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", file.toString()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(file.toString()).hasMessageContaining("'tokens'")
        .hasMessageContaining("line 2").hasMessageContaining("line 4");
    String[] r = execute("sim", "--config", file.toString());
    assertThat(r[0]).as(r[1]).isEqualTo(String.valueOf(Cli.EXIT_USAGE));
    assertThat(r[1]).doesNotContain("\n").contains("'tokens'").contains("line 4");
  }

  /**
   * A key without a value ({@code max-streams: ~}, or {@code max-streams:} with nothing after it) is a YAML null,
   * and the command quietly ran on the built-in default: a limit the file seems to set and does not.
   */
  @Test
  void aKeyWithoutAValueIsAOneLineErrorNamingTheKeyAndItsLine() throws Exception {
    for (String yaml : new String[] {"port: 9300\ncapacity: ~\n", "port: 9300\ncapacity:\n", "port: 9300\ncapacity: null\n"}) {
      Path file = dir.resolve("null.yaml");
      Files.writeString(file, yaml);
      assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", file.toString())).as(yaml)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(file.toString()).hasMessageContaining("'capacity'").hasMessageContaining("line 2")
          .hasMessageContaining("no value");
    }
    Path list = dir.resolve("list-null.yaml");
    Files.writeString(list, "port: 9300\nmodel:\n  - a\n  - ~\n");
    assertThatThrownBy(() -> parse(Map.of(), "sim", "--config", list.toString()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'model' has an entry with no value")
        .hasMessageContaining("line 4");
    Path serve = dir.resolve("serve.yaml");
    Files.writeString(serve, "max-streams: ~\n");
    String[] r = execute("serve", "--config", serve.toString());
    assertThat(r[0]).as(r[1]).isEqualTo(String.valueOf(Cli.EXIT_USAGE));
    assertThat(r[1]).doesNotContain("\n").contains("'max-streams'").contains("line 1");
  }

  /**
   * A bad value read from the file is named as the file's, as a bad flag names the flag: it said "--burst must be
   * between 1 and 1024" for a file that said {@code burst: 0}, and no flag --burst had been typed.
   */
  @Test
  void aBadValueFromTheFileNamesTheFileTheKeyAndTheLine() throws Exception {
    String[][] cases = {
        {"port: 9300\nburst: 0\n", "--burst must be between 1 and 1024", "line 2"},
        {"ttft: banana\n", "--ttft", "line 1"},
        {"port: 9300\n\nthreads: 100000\n", "--threads must be 0..1024", "line 3"},
    };
    for (String[] c : cases) {
      Path file = dir.resolve("bad-value.yaml");
      Files.writeString(file, c[0]);
      String[] r = execute("sim", "--config", file.toString());
      assertThat(r[0]).as(r[1]).isEqualTo(String.valueOf(Cli.EXIT_USAGE));
      assertThat(r[1].lines().findFirst().orElse("")).as(c[0]).contains(c[1])
          .contains("config file " + file).contains(c[2]);
    }
    // The same value as a flag names only the flag; from the environment, the variable.
    String[] flag = execute("sim", "--burst", "0");
    assertThat(flag[1]).contains("--burst must be between 1 and 1024").doesNotContain("config file");
  }

  @Test
  void badFlagValueIsOneLineAndUsageExitCode() {
    assertThat(Main.execute("sim", "--port", "notaport")).isEqualTo(Cli.EXIT_USAGE);
    assertThat(Main.execute("sim", "--no-such-flag")).isEqualTo(Cli.EXIT_USAGE);
    assertThat(Main.execute("--version")).isZero();
    assertThat(Main.execute("sim", "--help")).isZero();
  }
}
