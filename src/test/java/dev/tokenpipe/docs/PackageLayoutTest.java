package dev.tokenpipe.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The layout docs/architecture.md states, held against the sources: a core package never uses a command package,
 * and a command package uses another only where the doc names the reason ({@code demo} runs the others,
 * {@code serve} starts the sim as its built-in model). Only {@code dev.tokenpipe.Main}, above every command,
 * knows them all. A use is any {@code dev.tokenpipe.<package>.<Type>} in a source file: an import, a qualified
 * name in code or a doc link, since each ties the two packages together.
 */
class PackageLayoutTest {
  static final Path SOURCES = Path.of("src/main/java/dev/tokenpipe");
  static final Set<String> COMMANDS = Set.of("gateway", "sim", "bench", "doctor", "chat", "demo");
  /** The command packages each command package may use, with docs/architecture.md's reason. */
  static final Map<String, Set<String>> COMPOSES = Map.of(
      "demo", Set.of("gateway", "sim", "bench", "doctor"),
      "gateway", Set.of("sim"));
  static final Pattern USE = Pattern.compile("dev\\.tokenpipe\\.([a-z]+)\\.[A-Z]");

  @Test
  void corePackagesUseNoCommandAndCommandsUseOnlyWhatTheyCompose() throws IOException {
    Set<String> wrong = new TreeSet<>();
    Set<String> packages = new TreeSet<>();
    try (Stream<Path> files = Files.walk(SOURCES)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        Path rel = SOURCES.relativize(f);
        String own = rel.getNameCount() == 1 ? "" : rel.getName(0).toString();
        packages.add(own);
        if (own.isEmpty()) {
          continue; // Main: the entry point wires every command
        }
        Matcher m = USE.matcher(Files.readString(f));
        while (m.find()) {
          String used = m.group(1);
          if (used.equals(own) || !COMMANDS.contains(used)) {
            continue;
          }
          if (!COMMANDS.contains(own)) {
            wrong.add(rel + ": core package '" + own + "' uses command package '" + used + "'");
          } else if (!COMPOSES.getOrDefault(own, Set.of()).contains(used)) {
            wrong.add(rel + ": command package '" + own + "' uses command package '" + used + "'");
          }
        }
      }
    }
    assertThat(packages).as("the sources were found and read").contains("", "cli", "gateway", "sse");
    assertThat(wrong).isEmpty();
  }

  @Test
  void theDocNamesEveryAllowedUse() throws IOException {
    var rows = Files.readAllLines(Path.of("docs/architecture.md"));
    for (var e : COMPOSES.entrySet()) {
      String row = rows.stream().filter(l -> l.startsWith("| `" + e.getKey() + "` uses |")).findFirst().orElse("");
      for (String used : e.getValue()) {
        assertThat(row).as("docs/architecture.md has a row '| `%s` uses | ... `%s` ...'", e.getKey(), used)
            .contains("`" + used + "`");
      }
    }
  }
}
