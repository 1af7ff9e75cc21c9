package dev.tokenpipe.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tokenpipe.openai.Json;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The before/after table, computed from two {@code tokenpipe.bench/v1} results: one row per path, then the
 * after/before ratios. Pure: JSON in, text out.
 */
final class DemoTable {
  /** One column: a label, where its value comes from in a bench result, and how to print it. */
  record Column(String key, String label, String unit) {}

  static final List<Column> COLUMNS = List.of(
      new Column("ttft_p50", "TTFT p50", "ms"),
      new Column("ttft_p99", "TTFT p99", "ms"),
      new Column("ttft_spread", "p99/p50", "x"),
      new Column("itl_p99", "ITL p99", "ms"),
      new Column("tokens_per_event", "tokens/event", ""),
      new Column("delivery_p99", "held p99", "ms"),
      new Column("errors", "errors", "n"));

  private DemoTable() {}

  /** The numbers of one run, by column key (errors as a count; -1 where bench measured nothing). */
  static ObjectNode row(JsonNode bench) {
    JsonNode m = bench.path("metrics");
    double p50 = value(m, "ttft", "p50");
    double p99 = value(m, "ttft", "p99");
    ObjectNode r = Json.MAPPER.createObjectNode();
    r.put("ttft_p50", p50);
    r.put("ttft_p99", p99);
    r.put("ttft_spread", p50 > 0 && p99 >= 0 ? p99 / p50 : -1);
    r.put("itl_p99", value(m, "itl", "p99"));
    r.put("tokens_per_event", value(m, "tokens_per_event", "mean"));
    r.put("delivery_p99", value(m, "one_way_delay", "p99"));
    r.put("errors", bench.path("totals").path("errors").asLong());
    r.put("requests", bench.path("totals").path("requests").asLong());
    return r;
  }

  private static double value(JsonNode metrics, String metric, String stat) {
    JsonNode s = metrics.path(metric);
    return s.path("count").asLong() == 0 ? -1 : s.path(stat).asDouble();
  }

  /** The table as JSON for the HTML page: columns, the two rows and the ratios. */
  static ObjectNode json(JsonNode before, JsonNode after) {
    ObjectNode t = Json.MAPPER.createObjectNode();
    ArrayNode cols = t.putArray("columns");
    for (Column c : COLUMNS) {
      cols.addObject().put("key", c.key()).put("label", c.label()).put("unit", c.unit());
    }
    ObjectNode b = row(before);
    ObjectNode a = row(after);
    t.set("before", b);
    t.set("after", a);
    ObjectNode ratio = t.putObject("ratio");
    for (Column c : COLUMNS) {
      double x = b.path(c.key()).asDouble();
      double y = a.path(c.key()).asDouble();
      ratio.put(c.key(), c.unit().equals("n") || x <= 0 || y < 0 ? -1 : y / x);
    }
    return t;
  }

  /** The table for the terminal. */
  static String render(JsonNode table) {
    List<String[]> lines = new ArrayList<>();
    List<String> head = new ArrayList<>(List.of(""));
    COLUMNS.forEach(c -> head.add(c.label()));
    lines.add(head.toArray(String[]::new));
    for (String path : List.of("before", "after")) {
      JsonNode r = table.path(path);
      List<String> cells = new ArrayList<>(List.of(path));
      for (Column c : COLUMNS) {
        cells.add(c.unit().equals("n") ? r.path("errors").asLong() + "/" + r.path("requests").asLong()
            : format(r.path(c.key()).asDouble(), c.unit()));
      }
      lines.add(cells.toArray(String[]::new));
    }
    List<String> ratio = new ArrayList<>(List.of("after/before"));
    for (Column c : COLUMNS) {
      double v = table.path("ratio").path(c.key()).asDouble();
      ratio.add(v < 0 ? "" : format(v, "x"));
    }
    lines.add(ratio.toArray(String[]::new));
    int[] width = new int[COLUMNS.size() + 1];
    for (String[] l : lines) {
      for (int i = 0; i < l.length; i++) {
        width[i] = Math.max(width[i], l[i].length());
      }
    }
    StringBuilder out = new StringBuilder();
    for (String[] l : lines) {
      StringBuilder line = new StringBuilder("  ").append(pad(l[0], width[0], true));
      for (int i = 1; i < l.length; i++) {
        line.append("   ").append(pad(l[i], width[i], false));
      }
      out.append(line.toString().stripTrailing()).append('\n');
    }
    return out.toString();
  }

  static String format(double v, String unit) {
    if (v < 0) {
      return "-";
    }
    String n;
    if (unit.equals("x")) {
      n = v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : v >= 10 ? String.format(Locale.ROOT, "%.1f", v)
          : v >= 0.1 || v == 0 ? String.format(Locale.ROOT, "%.2f", v) : String.format(Locale.ROOT, "%.2g", v);
      return n + "x";
    }
    n = v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : v >= 1 ? String.format(Locale.ROOT, "%.1f", v)
        : String.format(Locale.ROOT, "%.2f", v);
    return unit.isEmpty() ? n : n + " " + unit;
  }

  private static String pad(String s, int width, boolean left) {
    String fill = " ".repeat(Math.max(0, width - s.length()));
    return left ? s + fill : fill + s;
  }
}
