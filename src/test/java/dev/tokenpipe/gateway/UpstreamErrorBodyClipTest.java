package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tokenpipe.dialect.Dialects;
import dev.tokenpipe.openai.ApiError;
import org.junit.jupiter.api.Test;

/**
 * UpstreamErrorBody.toApiError cuts a kept upstream message at 8,192 UTF-16 chars, never inside a surrogate pair:
 * a lone high surrogate reaches the client as '?' (Netty's UTF-8 writer) or as a lone \\uD83D escape, which strict
 * JSON decoders (serde_json, for one) reject, and the client could not read the error.
 */
class UpstreamErrorBodyClipTest {

  @Test
  void aKeptMessageIsNeverCutInsideASurrogatePair() {
    String message = "a".repeat(8191) + "\uD83D\uDE00" + "b".repeat(100); // an emoji across the 8,192nd char
    String body = "{\"error\":{\"message\":\"" + message + "\",\"type\":\"server_error\"}}";

    ApiError e = UpstreamErrorBody.toApiError(Dialects.OPENAI_CHAT, 502, body);

    String kept = e.message();
    boolean loneSurrogate = false;
    for (int i = 0; i < kept.length(); i++) {
      char c = kept.charAt(i);
      if (Character.isHighSurrogate(c) && (i + 1 == kept.length() || !Character.isLowSurrogate(kept.charAt(i + 1)))) {
        loneSurrogate = true;
      }
    }
    assertThat(loneSurrogate).as("the cut message (%d chars, ends with \"%s\") holds a lone surrogate",
        kept.length(), kept.substring(kept.length() - 6).replace("\uD83D", "\\uD83D")).isFalse();
  }
}
