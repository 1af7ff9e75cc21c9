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

  @Test
  void badFlagValueIsOneLineAndUsageExitCode() {
    assertThat(Main.execute("sim", "--port", "notaport")).isEqualTo(Cli.EXIT_USAGE);
    assertThat(Main.execute("sim", "--no-such-flag")).isEqualTo(Cli.EXIT_USAGE);
    assertThat(Main.execute("--version")).isZero();
    assertThat(Main.execute("sim", "--help")).isZero();
  }
}
