package dev.tokenpipe.cli;

import static dev.tokenpipe.cli.BadValuesTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.cli.BadValuesTest.Run;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file named by an option that cannot be read is bad usage (exit 64) in one line that says why: "no such
 * file", "is a directory", "permission denied", not only the name of the file (a NoSuchFileException's message
 * is its path, which is what used to be printed).
 */
class FileValuesTest {
  @TempDir Path dir;

  @Test
  void aMissingApiKeysFileSaysSo() {
    Run r = run("serve", "--port", "0", "--api-keys-file", dir.resolve("keys.txt").toString());
    assertOneLine(r, "--api-keys-file " + dir.resolve("keys.txt") + ": no such file");
  }

  @Test
  void anApiKeysFileThatIsADirectoryOrHoldsNoKeySaysSo() throws IOException {
    assertOneLine(run("serve", "--port", "0", "--api-keys-file", dir.toString()),
        "--api-keys-file " + dir + ": is a directory");
    Path empty = Files.writeString(dir.resolve("empty.txt"), "# no keys yet\n\n");
    assertOneLine(run("serve", "--port", "0", "--api-keys-file", empty.toString()),
        "--api-keys-file " + empty + ": no keys in it (one bearer key per line)");
  }

  @Test
  void anApiKeysLineOfTwoWordsSaysWhichLineAndNeverShowsAKey() throws IOException {
    Path keys = Files.writeString(dir.resolve("keys.txt"), "# ours\nsk-one\nsk-two sk-three\n");
    Run r = run("serve", "--port", "0", "--api-keys-file", keys.toString());
    assertOneLine(r, "--api-keys-file " + keys + ": line 3 holds more than a key (a key has no spaces; a comment"
        + " after a key starts with #)");
    assertThat(r.err()).doesNotContain("sk-");
  }

  @Test
  void anUpstreamCaThatIsADirectorySaysSo() {
    assertOneLine(run("serve", "--port", "0", "--upstream-ca", dir.toString()), "--upstream-ca " + dir + ": is a directory");
  }

  @Test
  void aConfigFileThatIsADirectorySaysSo() {
    assertThatThrownBy(() -> ConfigDefaults.from(new String[] {"sim", "--config", dir.toString()}, Map.of()))
        .hasMessage("cannot read config file " + dir + ": is a directory");
  }

  @Test
  void benchsInputFilesSayWhyTheyCannotBeRead() {
    String url = "http://127.0.0.1:1/v1/chat/completions";
    Path missing = dir.resolve("prompts.jsonl");
    assertOneLine(run("bench", "-n", "1", "--model", "m", "--prompts-file", missing.toString(), url),
        "cannot read --prompts-file " + missing + ": no such file");
    assertOneLine(run("bench", "-n", "1", "--model", "m", "--prompts-file", dir.toString(), url),
        "cannot read --prompts-file " + dir + ": is a directory");
    assertOneLine(run("bench", "-n", "1", "--model", "m", "-D", missing.toString(), url),
        "cannot read -D " + missing + ": no such file");
  }

  @Test
  void theReasonIsTheOneCatAndLsGive() {
    assertThat(FileProblem.reason(new NoSuchFileException("/x/keys.txt"))).isEqualTo("no such file");
    assertThat(FileProblem.reason(new AccessDeniedException("/x/keys.txt"))).isEqualTo("permission denied");
    assertThat(FileProblem.reason(new FileSystemException("/x/keys.txt", null, "Not a directory"))).isEqualTo("not a directory");
    assertThat(FileProblem.reason(new IOException("Is a directory"))).isEqualTo("is a directory");
    assertThat(FileProblem.reason(new IOException("first line\nsecond"))).isEqualTo("first line");
    assertThat(FileProblem.reason(new IOException())).isEqualTo("IOException");
  }

  private static void assertOneLine(Run r, String message) {
    assertThat(r.code()).as(r.err()).isEqualTo(Cli.EXIT_USAGE);
    assertThat(r.errorLines()).as(r.err()).hasSize(1);
    assertThat(r.errorLines().getFirst()).endsWith(message);
  }
}
