package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A stream was asked for and the answer is no stream and no error status: a redirect (an {@code http://} URL of an
 * {@code https://} API), a 204. The one line chat prints must say what came, not only that it lacks a content type:
 * it said "expected text/event-stream but got no content type" for a 301, with the status and where it pointed left out.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NotStreamStatusTest {
  @Test
  void aRedirectSaysItsStatusAndWhereItPoints() throws Exception {
    ExchangeOutcome o = FramingAfterEndTest.exchangeWith(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://api.example.com/v1/chat/completions\r\nContent-Length: 0\r\n\r\n");

    assertThat(o.error()).isEqualTo(ErrorClass.NOT_STREAM);
    assertThat(o.message()).contains("HTTP 301", "redirect to https://api.example.com/v1/chat/completions");
  }

  @Test
  void aNoContentAnswerSaysItsStatus() throws Exception {
    ExchangeOutcome o = FramingAfterEndTest.exchangeWith("HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(o.error()).isEqualTo(ErrorClass.NOT_STREAM);
    assertThat(o.message()).contains("HTTP 204");
  }

  @Test
  void aPlain200KeepsItsMessage() throws Exception {
    ExchangeOutcome o = FramingAfterEndTest.exchangeWith(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");

    assertThat(o.error()).isEqualTo(ErrorClass.NOT_STREAM);
    assertThat(o.message()).isEqualTo("expected text/event-stream but got 'application/json': {}");
  }
}
