package dev.tokenpipe.http;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tokenpipe.http.ChunkedBody.Step;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ChunkedBody} against RFC 9112 §7.1: any split of a randomly framed body (sizes in either case with
 * leading zeros, extensions, bare-LF line ends, trailer fields) gives exactly the data that was framed and ends
 * exactly where the body ends; broken framing and exceeded bounds are errors, never a hang or a guess.
 */
class ChunkedBodyTest {

  private record Framed(byte[] wire, byte[] data) {}

  @Test
  void anySplitOfRandomBodiesGivesTheirDataAndEndsAtTheirEnd() {
    for (int seed = 0; seed < 2000; seed++) {
      Random rnd = new Random(seed);
      Framed f = frame(rnd);
      byte[] after = "HTTP/1.1 200 OK\r\n".getBytes(US_ASCII); // a next response must not be read as body
      byte[] wire = concat(f.wire, after);
      for (int round = 0; round < 3; round++) {
        ChunkedBody body = new ChunkedBody();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        int end = -1;
        for (int i = 0; i < wire.length && end < 0; ) {
          int n = round == 0 ? 1 : Math.min(wire.length - i, 1 + rnd.nextInt(40));
          ByteBuf in = Unpooled.directBuffer(n + 4).writeZero(2).writeBytes(wire, i, n).skipBytes(2);
          int base = i - in.readerIndex();
          for (Step s; (s = body.next(in)) != Step.NEED_MORE; ) {
            if (s == Step.DATA) {
              assertThat(body.dataTo()).isGreaterThan(body.dataFrom());
              data.write(wire, base + body.dataFrom(), body.dataTo() - body.dataFrom());
            } else {
              end = base + in.readerIndex();
              break;
            }
          }
          i += n;
          in.release();
        }
        assertThat(end).as("seed %d round %d: end of body", seed, round).isEqualTo(f.wire.length);
        assertThat(data.toByteArray()).as("seed %d round %d: data", seed, round).isEqualTo(f.data);
        assertThat(body.ended()).isTrue();
      }
    }
  }

  private static Framed frame(Random rnd) {
    ByteArrayOutputStream wire = new ByteArrayOutputStream();
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    int chunks = rnd.nextInt(6);
    for (int c = 0; c < chunks; c++) {
      byte[] d = new byte[1 + rnd.nextInt(rnd.nextBoolean() ? 20 : 600)];
      String alphabet = "data: {}\r\n\n0;"; // bytes that look like framing
      for (int i = 0; i < d.length; i++) {
        d[i] = (byte) alphabet.charAt(rnd.nextInt(alphabet.length()));
      }
      String hex = Integer.toHexString(d.length);
      hex = "0".repeat(rnd.nextInt(3)) + (rnd.nextBoolean() ? hex : hex.toUpperCase());
      write(wire, hex + extension(rnd) + eol(rnd));
      wire.writeBytes(d);
      write(wire, eol(rnd));
      data.writeBytes(d);
    }
    write(wire, "0".repeat(1 + rnd.nextInt(2)) + extension(rnd) + eol(rnd));
    for (int t = rnd.nextInt(3); t > 0; t--) {
      write(wire, "x-trailer-" + t + ": v" + eol(rnd));
    }
    write(wire, eol(rnd));
    return new Framed(wire.toByteArray(), data.toByteArray());
  }

  private static String extension(Random rnd) {
    return switch (rnd.nextInt(4)) {
      case 0 -> ";name=value";
      case 1 -> " ; q=\"a;b\"";
      default -> "";
    };
  }

  private static String eol(Random rnd) {
    return rnd.nextInt(5) == 0 ? "\n" : "\r\n";
  }

  @Test
  void aWholeChunkIsRecognisedOnlyWhenTheReadIsExactlyOneChunk() {
    assertThat(ChunkedBody.wholeChunk(buf("5\r\nhello\r\n"))).isEqualTo(5);
    assertThat(ChunkedBody.wholeChunk(buf("0000000A\r\n0123456789\r\n"))).isEqualTo(10);
    assertThat(ChunkedBody.wholeChunk(buf("5\r\nhello\r\n5\r\nhello\r\n"))).isEqualTo(-1); // two chunks
    assertThat(ChunkedBody.wholeChunk(buf("5\r\nhel"))).isEqualTo(-1); // a part
    assertThat(ChunkedBody.wholeChunk(buf("5;x=1\r\nhello\r\n"))).isEqualTo(-1); // an extension
    assertThat(ChunkedBody.wholeChunk(buf("5\nhello\n"))).isEqualTo(-1); // bare LFs take the full decoder
    assertThat(ChunkedBody.wholeChunk(buf("0\r\n\r\n"))).isEqualTo(-1); // the last chunk
    assertThat(ChunkedBody.wholeChunk(buf("5\r\nhelloXY"))).isEqualTo(-1); // no CRLF after the data
    assertThat(ChunkedBody.wholeChunk(buf("80000000\r\n"))).isEqualTo(-1); // a size beyond int
    assertThat(ChunkedBody.wholeChunk(buf("000000005\r\nhello\r\n"))).isEqualTo(-1); // nine digits: the decoder's job
  }

  @Test
  void aWholeChunkLeavesTheDecoderWhereReadingItWould() {
    ByteBuf in = buf("5\r\nhello\r\n");
    ChunkedBody body = new ChunkedBody();
    assertThat(body.next(in)).isEqualTo(Step.DATA);
    assertThat(body.next(in)).isEqualTo(Step.NEED_MORE);
    assertThat(body.atChunkStart()).isTrue();
    assertThat(body.next(buf("0\r\n\r\n"))).isEqualTo(Step.END);
  }

  @Test
  void brokenFramingIsAnErrorNamingWhatIsWrong() {
    assertFraming("zz\r\n", "does not start with a hex digit");
    assertFraming("\r\n", "does not start with a hex digit");
    assertFraming("5x\r\n", "bad character");
    assertFraming("5\rX", "CR without LF");
    assertFraming("5\r\nhelloXY", "not followed by CRLF");
    assertFraming("5\r\nhello\rX", "not followed by CRLF");
    assertFraming("1234567890abcdef0\r\n", "hex digits");
    assertFraming("5;" + "e".repeat(ChunkedBody.MAX_LINE_BYTES) + "\r\n", "size line over");
    assertFraming("0\r\n" + ("x-t: " + "v".repeat(100) + "\r\n").repeat(100), "trailer section over");
  }

  @Test
  void aReadAfterTheEndIsLeftUnread() {
    ChunkedBody body = new ChunkedBody();
    ByteBuf in = buf("1\r\na\r\n0\r\n\r\nEXTRA");
    assertThat(body.next(in)).isEqualTo(Step.DATA);
    assertThat(body.next(in)).isEqualTo(Step.END);
    assertThat(in.toString(US_ASCII)).isEqualTo("EXTRA");
    assertThat(body.next(in)).isEqualTo(Step.END);
    assertThat(in.readableBytes()).isEqualTo(5);
  }

  private static void assertFraming(String wire, String message) {
    ChunkedBody body = new ChunkedBody();
    ByteBuf in = buf(wire);
    assertThatThrownBy(() -> {
      while (body.next(in) != Step.NEED_MORE) {
        // read on until the error
      }
    }).isInstanceOf(ChunkedBody.FramingException.class).hasMessageContaining(message);
  }

  private static ByteBuf buf(String s) {
    return Unpooled.copiedBuffer(s, US_ASCII);
  }

  private static void write(ByteArrayOutputStream out, String s) {
    out.writeBytes(s.getBytes(US_ASCII));
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = new byte[a.length + b.length];
    System.arraycopy(a, 0, c, 0, a.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }
}
