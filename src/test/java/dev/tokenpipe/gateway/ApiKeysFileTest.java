package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code --api-keys-file} reads as keys. A comment after a key on its line was part of the key: the line
 * {@code sk-two # staging} let in {@code Bearer sk-two # staging} and refused {@code Bearer sk-two}. A bearer key
 * has no spaces (RFC 6750 §2.1, b64token), so what follows a key on its line is a comment or a mistake.
 */
class ApiKeysFileTest {
  @TempDir Path dir;

  @Test
  void aCommentAfterAKeyIsNotPartOfIt() throws IOException {
    Path file = Files.writeString(dir.resolve("keys.txt"), "# ours\nsk-one\nsk-two   # the staging key\n  sk-three#4\n");
    ApiKeys keys = new ApiKeys(ApiKeys.load(file));

    assertThat(keys.check(bearer("sk-two"))).as("the key before the comment").isNull();
    assertThat(keys.check(bearer("sk-two   # the staging key"))).as("the line as it stands").isNotNull();
    assertThat(keys.check(bearer("sk-one"))).isNull();
    assertThat(keys.check(bearer("sk-three#4"))).as("a # inside a word is the key's").isNull();
  }

  private static HttpHeaders bearer(String key) {
    return new DefaultHttpHeaders().set("Authorization", "Bearer " + key);
  }
}
