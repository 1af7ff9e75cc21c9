package dev.tokenpipe.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogReader;
import org.HdrHistogram.HistogramLogWriter;

/**
 * HdrHistogram interval logs ({@code --hdr FILE}): one tagged interval histogram per metric per second, values
 * in microseconds (tokens for {@code tokens_per_event}/{@code output_tokens}). Any HdrHistogram tool reads them
 * (HistogramLogProcessor, HdrHistogram's plotter); {@code tokenpipe bench merge} adds logs of several
 * generator processes into one.
 */
final class HdrLog implements AutoCloseable {
  private final HistogramLogWriter writer;

  HdrLog(File file, long startMillis) throws FileNotFoundException {
    writer = new HistogramLogWriter(file);
    writer.outputComment("tokenpipe bench: values in microseconds, tokens for tokens_per_event/output_tokens");
    writer.outputLogFormatVersion();
    writer.setBaseTime(startMillis);
    writer.outputStartTime(startMillis);
    writer.outputBaseTime(startMillis);
    writer.outputLegend();
  }

  synchronized void write(Map<Metric, Histogram> intervals) {
    for (Map.Entry<Metric, Histogram> e : intervals.entrySet()) {
      Histogram h = e.getValue();
      if (h.getTotalCount() > 0) {
        h.setTag(e.getKey().key);
        writer.outputIntervalHistogram(h);
      }
    }
  }

  @Override
  public synchronized void close() {
    writer.close();
  }

  /** All histograms of the given logs added up per tag, in first-seen order. */
  static Map<String, Histogram> read(File... files) throws FileNotFoundException, NotALog {
    Map<String, Histogram> merged = new LinkedHashMap<>();
    for (File f : files) {
      addTo(merged, f);
    }
    return merged;
  }

  /**
   * Adds one log's histograms to {@code merged} per tag. HistogramLogReader skips lines it does not understand,
   * so any text file reads as a log without histograms: a file is a log when it holds a histogram, or, empty,
   * when it has the format line every HistogramLogWriter (bench's too) puts first.
   */
  static void addTo(Map<String, Histogram> merged, File f) throws FileNotFoundException, NotALog {
    Map<String, Histogram> mine = new LinkedHashMap<>();
    try {
      HistogramLogReader reader = new HistogramLogReader(f);
      EncodableHistogram e;
      while ((e = reader.nextIntervalHistogram()) != null) {
        if (e instanceof Histogram h) {
          String tag = h.getTag() == null ? "untagged" : h.getTag();
          mine.computeIfAbsent(tag, k -> new Histogram(3)).add(h);
        }
      }
    } catch (FileNotFoundException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new NotALog(f);
    }
    if (mine.isEmpty() && !hasFormatLine(f)) {
      throw new NotALog(f);
    }
    mine.forEach((tag, h) -> merged.computeIfAbsent(tag, k -> new Histogram(3)).add(h));
  }

  private static boolean hasFormatLine(File f) {
    try (BufferedReader in = Files.newBufferedReader(f.toPath(), StandardCharsets.ISO_8859_1)) {
      for (int i = 0; i < 16; i++) {
        String line = in.readLine();
        if (line == null) {
          return false;
        }
        if (line.startsWith("#[Histogram log format version")) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  /** A file given as a log that is not one. */
  static final class NotALog extends Exception {
    NotALog(File f) {
      super("not an HdrHistogram log: " + f, null, false, false);
    }
  }

  /** Writes merged histograms as one interval each, tagged, so the output is itself mergeable. */
  static void write(File out, Map<String, Histogram> merged) throws FileNotFoundException {
    HistogramLogWriter w = new HistogramLogWriter(out);
    w.outputComment("tokenpipe bench merge");
    w.outputLogFormatVersion();
    w.outputLegend();
    for (Map.Entry<String, Histogram> e : merged.entrySet()) {
      Histogram h = e.getValue();
      h.setTag(e.getKey());
      h.setStartTimeStamp(0);
      h.setEndTimeStamp(0);
      w.outputIntervalHistogram(0, 0, h);
    }
    w.close();
  }

  static void print(Map<String, Histogram> merged, PrintWriter out) {
    // Each row in its own unit: the token rows are counts, and under one "(ms)" header 20 tokens read as 20 ms.
    out.printf(Locale.ROOT, "%-16s %-6s %10s %9s %9s %9s %9s %9s %9s%n", "metric", "unit", "count", "p50", "p90", "p99", "p99.9",
        "max", "mean");
    for (Map.Entry<String, Histogram> e : merged.entrySet()) {
      Histogram h = e.getValue();
      boolean counts = e.getKey().equals("tokens_per_event") || e.getKey().equals("output_tokens");
      double s = counts ? 1 : 1000.0;
      out.printf(Locale.ROOT, "%-16s %-6s %10d %9s %9s %9s %9s %9s %9s%n", e.getKey(), counts ? "tokens" : "ms", h.getTotalCount(),
          Summary.num(h.getValueAtPercentile(50) / s), Summary.num(h.getValueAtPercentile(90) / s),
          Summary.num(h.getValueAtPercentile(99) / s), Summary.num(h.getValueAtPercentile(99.9) / s),
          Summary.num(h.getMaxValue() / s), Summary.num(h.getMean() / s));
    }
  }
}
