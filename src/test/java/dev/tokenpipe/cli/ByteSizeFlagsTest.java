package dev.tokenpipe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.Main;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Size flags (--max-body of serve and sim): units work, and a bad value is one clean line naming the flag. */
class ByteSizeFlagsTest {

  @Test
  void sizesTakeBytesKibAndMib() {
    assertThat(ByteSizes.parse("65536")).isEqualTo(65536);
    assertThat(ByteSizes.parse("64KiB")).isEqualTo(64 * 1024);
    assertThat(ByteSizes.parse("1mb")).isEqualTo(1024 * 1024);
    assertThatThrownBy(() -> ByteSizes.parse("99999999999999999999")).hasMessage("size too large: '99999999999999999999'");
  }

  @Test
  void aBadMaxBodySaysWhatASizeIs() {
    for (String command : List.of("serve", "sim")) {
      for (String[] bad : List.of(new String[] {"abc", "not a size: 'abc' (use e.g. 65536, 64KiB, 1MiB)"},
          new String[] {"5GB", "unknown unit in size '5GB' (use B, KiB or MiB)"},
          new String[] {"99999999999999999999", "size too large: '99999999999999999999'"})) {
        assertThatThrownBy(() -> Cli.newCommandLine(new Main()).parseArgs(command, "--max-body", bad[0]))
            .as(command + " --max-body " + bad[0]).isInstanceOf(CommandLine.ParameterException.class)
            .hasMessageContaining("--max-body").hasMessageContaining(bad[1])
            .hasMessageNotContaining("cannot convert").hasMessageNotContaining("java.lang");
      }
    }
  }
}
