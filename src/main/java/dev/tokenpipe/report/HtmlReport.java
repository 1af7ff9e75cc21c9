package dev.tokenpipe.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a bench result as one self-contained HTML file: the JSON result, uPlot (inlined from its webjar) and
 * the page script all in the file, so it opens offline, from an e-mail attachment or a CI artifact, and needs
 * no network. The page marks itself {@code data-rendered="true"} on {@code <body>} once every chart has drawn
 * (with {@code data-charts} and per chart {@code data-series} / {@code data-painted}), which is what the
 * browser test asserts.
 */
public final class HtmlReport {
  static final String UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";
  static final String TEMPLATE = "dev/tokenpipe/report/bench.html";

  private HtmlReport() {}

  /** The page for {@code report} (a {@code tokenpipe.bench/v1} document). */
  public static String render(JsonNode report) {
    String json;
    try {
      json = Json.MAPPER.writeValueAsString(report);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    // "</script" inside the JSON would end the script element early; "<\/" is the same string to JSON.
    json = json.replace("</", "<\\/");
    String title = report.path("config").path("url").asText("tokenpipe bench");
    return resource(TEMPLATE)
        .replace("/*UPLOT_CSS*/", resource(UPLOT + "uPlot.min.css"))
        .replace("/*UPLOT_JS*/", resource(UPLOT + "uPlot.iife.min.js").replace("</script", "<\\/script"))
        .replace("__TITLE__", escape(title))
        .replace("__REPORT_JSON__", json);
  }

  /**
   * Another page built like {@link #render}: the class-path resource {@code templateResource} with the same
   * placeholders as {@code bench.html} (uPlot's CSS and JS, the title, the JSON data) filled in, so it is
   * self-contained and opens offline too. {@code tokenpipe demo} uses it for its page of two runs.
   */
  public static String renderPage(String templateResource, String title, JsonNode data) {
    String json;
    try {
      json = Json.MAPPER.writeValueAsString(data);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    json = json.replace("</", "<\\/");
    return resource(templateResource)
        .replace("/*UPLOT_CSS*/", resource(UPLOT + "uPlot.min.css"))
        .replace("/*UPLOT_JS*/", resource(UPLOT + "uPlot.iife.min.js").replace("</script", "<\\/script"))
        .replace("__TITLE__", escape(title))
        .replace("__REPORT_JSON__", json);
  }

  public static void write(Path file, JsonNode report) throws IOException {
    Files.writeString(file, render(report), StandardCharsets.UTF_8);
  }

  /** Pretty-printed JSON, the machine-readable twin of the page. */
  public static void writeJson(Path file, JsonNode report) throws IOException {
    Files.writeString(file, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report) + "\n",
        StandardCharsets.UTF_8);
  }

  private static String resource(String name) {
    try (InputStream in = HtmlReport.class.getClassLoader().getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + name + " (is the uplot webjar on the class path?)");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
