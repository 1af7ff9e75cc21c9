package dev.tokenpipe.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server that compresses the stream although the client asked for {@code Accept-Encoding: identity}: its events
 * cannot be read as they come (the client does not inflate: a compressed stream is itself a buffering finding,
 * doctor's). The message said "stream ended without its end event ... after 0 events", which reads as a cut
 * model; it must say what happened.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CompressedStreamTest {
  @Test
  void aGzipStreamIsNamedAsCompressedNotAsCut() throws Exception {
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GZIPOutputStream z = new GZIPOutputStream(gz)) {
      z.write(("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n")
          .getBytes(StandardCharsets.UTF_8));
    }
    ByteArrayOutputStream response = new ByteArrayOutputStream();
    response.writeBytes(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(gz.size()) + "\r\n").getBytes(StandardCharsets.US_ASCII));
    response.writeBytes(gz.toByteArray());
    response.writeBytes("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));

    ExchangeOutcome o = FramingAfterEndTest.exchangeWith(response.toByteArray());

    assertThat(o.error()).isEqualTo(ErrorClass.TRUNCATED);
    assertThat(o.message()).isEqualTo("the server compressed the stream (Content-Encoding: gzip) though asked for"
        + " identity: its events cannot be read as they come");
  }
}
