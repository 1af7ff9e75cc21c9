package dev.tokenpipe.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import org.junit.jupiter.api.Test;

class DemoTableTest {
  static JsonNode bench(double ttftP50, double ttftP99, double itlP99, double heldP99, long errors) throws Exception {
    return Json.MAPPER.readTree("""
        {"totals":{"requests":100,"errors":%d},
         "metrics":{"ttft":{"count":100,"p50":%s,"p99":%s},"itl":{"count":900,"p99":%s},
                    "tokens_per_event":{"count":1000,"mean":1.0},"one_way_delay":{"count":1000,"p99":%s}}}
        """.formatted(errors, ttftP50, ttftP99, itlP99, heldP99));
  }

  @Test
  void rowsPerPathThenRatios() throws Exception {
    JsonNode t = DemoTable.json(bench(2000, 4000, 0.02, 1800, 1), bench(300, 1500, 60, 1.2, 0));

    assertThat(t.get("before").get("ttft_spread").asDouble()).isEqualTo(2.0);
    assertThat(t.get("ratio").get("ttft_p50").asDouble()).isEqualTo(0.15);
    assertThat(t.get("ratio").get("errors").asDouble()).isEqualTo(-1);
    String text = DemoTable.render(t);
    assertThat(text.lines()).hasSize(4);
    assertThat(text).containsPattern("(?m)^  before +2000 ms +4000 ms +2.00x +0.02 ms +1.0 +1800 ms +1/100$")
        .containsPattern("(?m)^  after +300 ms +1500 ms +5.00x +60.0 ms +1.0 +1.2 ms +0/100$")
        .containsPattern("(?m)^  after/before +0.15x +0.38x +2.50x +3000x +1.00x +0.00067x$");
  }

  @Test
  void missingMetricsPrintAsDash() throws Exception {
    JsonNode empty = Json.MAPPER.readTree("{\"totals\":{\"requests\":3,\"errors\":3},\"metrics\":{}}");
    String text = DemoTable.render(DemoTable.json(empty, empty));
    assertThat(text).containsPattern("(?m)^  before +- +- +- +- +- +- +3/3$");
  }
}
