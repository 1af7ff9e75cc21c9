package dev.tokenpipe.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tokenpipe.Main;
import dev.tokenpipe.cli.Cli;
import dev.tokenpipe.openai.Json;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import picocli.CommandLine;

/** Runs {@code tokenpipe ...} in-process with captured output, as the tests' one way to drive the CLI. */
record BenchCli(int exitCode, String out, String err) {

  static BenchCli run(String... args) {
    CommandLine cl = Cli.newCommandLine(new Main());
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new BenchCli(code, out.toString(), err.toString());
  }

  static JsonNode json(Path file) throws IOException {
    return Json.MAPPER.readTree(file.toFile());
  }

  static double metric(JsonNode result, String metric, String stat) {
    return result.path("metrics").path(metric).path(stat).asDouble();
  }
}
