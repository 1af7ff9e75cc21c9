package dev.tokenpipe.sse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class EmissionStampTest {

  @Test
  void toIdHasTheDocumentedForm() {
    assertThat(new EmissionStamp(12, 1732600000123456L).toId()).isEqualTo("tp.12.1732600000123456");
  }

  @Test
  void roundTrips() {
    for (EmissionStamp s : new EmissionStamp[] {
        new EmissionStamp(0, 0), new EmissionStamp(12, 1732600000123456L),
        new EmissionStamp(Long.MAX_VALUE, Long.MAX_VALUE), new EmissionStamp(7, EmissionStamp.nowMicros())}) {
      assertThat(EmissionStamp.parse(s.toId())).contains(s);
    }
  }

  @Test
  void roundTripsThroughTheSseIdField() {
    EmissionStamp stamp = new EmissionStamp(3, 1732600000123456L);
    SseEvent event = RecordingListener.parse(SseEncoder.event(null, stamp.toId(), "{}")).events.get(0);
    assertThat(EmissionStamp.parse(event.lastEventId())).contains(stamp);
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(strings = {"", "tp", "tp.", "tp..", "tp.1", "tp.1.", "tp..1", "tp.1.2.3", "tp.-1.2", "tp.1.-2",
      "tp.+1.2", "tp. 1.2", "tp.1.2 ", "TP.1.2", "xtp.1.2", "tp.a.b", "tp.1.2x", "tp.١.٢",
      "tp.9223372036854775808.1", "tp.1.99999999999999999999", "chatcmpl-123", "42"})
  void garbageParsesToEmpty(String id) {
    assertThat(EmissionStamp.parse(id)).isEqualTo(Optional.empty());
  }

  @Test
  void negativeValuesAreRejected() {
    assertThatThrownBy(() -> new EmissionStamp(-1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new EmissionStamp(0, -1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void nowMicrosIsWallClockMicros() {
    long before = Instant.now().toEpochMilli();
    long micros = EmissionStamp.nowMicros();
    long after = Instant.now().toEpochMilli();
    assertThat(micros / 1000).isBetween(before, after);
  }
}
