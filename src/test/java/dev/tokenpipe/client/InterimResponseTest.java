package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Interim responses (RFC 9110 §15.2) before the final head: a server may send {@code 103 Early Hints} (or
 * {@code 100 Continue} unasked) before its answer. The client must wait for the final head and read its stream;
 * it took a {@code 103} for the answer and reported a complete stream as "not a stream" (chat, bench: exit 3).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class InterimResponseTest {
  private static final String STREAM = FramingAfterEndTest.HEAD + FramingAfterEndTest.EVENTS + "0\r\n\r\n";

  @Test
  void anEarlyHintsHeadBeforeTheStreamIsSkipped() throws Exception {
    ExchangeOutcome o = FramingAfterEndTest.exchangeWith("HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" + STREAM);

    assertThat(o.error()).as(o.message()).isNull();
    assertThat(o.status()).isEqualTo(200);
    assertThat(o.sawTerminator()).isTrue();
  }

  @Test
  void anUnaskedContinueAndEarlyHintsBeforeTheStreamAreSkipped() throws Exception {
    ExchangeOutcome o = FramingAfterEndTest.exchangeWith(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + STREAM);

    assertThat(o.error()).as(o.message()).isNull();
    assertThat(o.status()).isEqualTo(200);
    assertThat(o.sawTerminator()).isTrue();
  }
}
