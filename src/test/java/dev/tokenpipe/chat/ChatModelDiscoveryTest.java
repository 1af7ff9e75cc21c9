package dev.tokenpipe.chat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.StreamProfile;
import dev.tokenpipe.testing.SimExtension;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Without --model, chat uses the model the target lists instead of the sim's default name. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ChatModelDiscoveryTest {
  @RegisterExtension
  static final SimExtension sim = new SimExtension(new SimConfig(List.of("my-model"), 1 << 20,
      SimConfig.defaults().defaultProfile().with(StreamProfile.parseOverrides("ttft=10ms itl=2ms tokens=5")), null, 0));

  @Test
  void worksAgainstAServerThatDoesNotServeTheDefaultModel() {
    ChatCommandTest.Run r = ChatCommandTest.chat("--url", sim.chatUrl(), "hi");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.err()).contains("5 tokens (usage)").doesNotContain("404");
  }

  @Test
  void anUnknownModelFlagStillFails() {
    ChatCommandTest.Run r = ChatCommandTest.chat("--url", sim.chatUrl(), "--model", "tokenpipe-sim", "hi");
    assertThat(r.code()).isEqualTo(ChatCommand.EXIT_REQUEST_FAILED);
    assertThat(r.err()).contains("404");
  }
}
