package dev.tokenpipe.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Defaults for a server command's options from the environment and an optional YAML file, so
 * every flag can be set three ways (flag > environment > file > built-in default):
 *
 * <ul>
 *   <li>{@code --max-streams 500}
 *   <li>{@code TOKENPIPE_MAX_STREAMS=500} (long name, upper case, dashes as underscores)
 *   <li>{@code max-streams: 500} in the file named by {@code --config FILE} or
 *       {@code TOKENPIPE_CONFIG} (a YAML list gives a repeatable option several values)
 * </ul>
 */
public final class ConfigDefaults implements CommandLine.IDefaultValueProvider {
  public static final String ENV_PREFIX = "TOKENPIPE_";
  public static final String CONFIG_ENV = "TOKENPIPE_CONFIG";

  private final Map<String, String> env;
  private final Path path;
  private final JsonNode file;
  /** The line of each top-level key of the file, so an error can point at it. */
  private final Map<String, Integer> lines;

  ConfigDefaults(Map<String, String> env, JsonNode file) {
    this(env, null, file, Map.of());
  }

  private ConfigDefaults(Map<String, String> env, Path path, JsonNode file, Map<String, Integer> lines) {
    this.env = env;
    this.path = path;
    this.file = file;
    this.lines = lines;
  }

  /**
   * Reads the config file named by {@code --config} in {@code args} or by {@code TOKENPIPE_CONFIG}.
   *
   * @throws IllegalArgumentException with a one-line message when the file is unreadable or not YAML
   */
  public static ConfigDefaults from(String[] args, Map<String, String> env) {
    String path = env.get(CONFIG_ENV);
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--config") && i + 1 < args.length) {
        path = args[i + 1];
      } else if (args[i].startsWith("--config=")) {
        path = args[i].substring("--config=".length());
      }
    }
    if (path == null) {
      return new ConfigDefaults(env, null);
    }
    Path file = Path.of(path);
    String text = read(file);
    JsonNode node = readYaml(file, text);
    return new ConfigDefaults(env, file, node, node == null ? Map.of() : keyLines(file, text));
  }

  private static String read(Path path) {
    try {
      return Files.readString(path);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read config file " + path + ": " + FileProblem.reason(e));
    }
  }

  /**
   * The line of each top-level key. A key set twice is refused, naming both lines: YAML's last value won without a
   * word (Jackson's tree keeps the last), so a file edited by two people ran on whichever line came last. A key with
   * no value ({@code max-streams: ~}, or nothing after the colon) is refused too: the built-in default applied as if
   * the line were not there, a limit the file seems to set and does not.
   */
  private static Map<String, Integer> keyLines(Path path, String text) {
    Map<String, Integer> lines = new HashMap<>();
    try (JsonParser p = new YAMLFactory().createParser(text)) {
      int depth = 0;
      String key = null;
      for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
        int line = p.currentTokenLocation().getLineNr();
        if (depth == 1 && t == JsonToken.FIELD_NAME) {
          key = p.currentName();
          Integer first = lines.putIfAbsent(key, line);
          if (first != null) {
            throw new IllegalArgumentException("config file " + path + ": '" + key + "' is set twice, on line " + first
                + " and on line " + line + "; keep one");
          }
        } else if (depth == 1 && t == JsonToken.VALUE_NULL) {
          throw new IllegalArgumentException("config file " + path + ", line " + lines.get(key) + ": '" + key
              + "' has no value; give one, or remove the line for the built-in default");
        } else if (depth == 2 && t == JsonToken.VALUE_NULL && p.getParsingContext().inArray()) {
          // A list entry with no value read as the text "null": model: [a, ~] served a model named "null".
          throw new IllegalArgumentException("config file " + path + ", line " + line + ": '" + key
              + "' has an entry with no value");
        }
        if (t.isStructStart()) {
          depth++;
        } else if (t.isStructEnd()) {
          depth--;
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read config file " + path + ": " + FileProblem.reason(e));
    }
    return lines;
  }

  private static JsonNode readYaml(Path path, String text) {
    try {
      JsonNode node = new ObjectMapper(new YAMLFactory()).readTree(text);
      if (node == null || node.isMissingNode() || node.isNull()) {
        return null; // no document, or every line commented out: a file that sets nothing, like no file
      }
      if (!node.isObject()) {
        throw new IllegalArgumentException("config file " + path + ": expected a mapping of option names to values");
      }
      return node;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read config file " + path + ": " + FileProblem.reason(e));
    }
  }

  /**
   * Where a value that was not typed as a flag came from, for an error about it: {@code TOKENPIPE_BURST=0} or
   * {@code config file tokenpipe.yaml, line 2: burst: 0}; null when neither sets the option (the built-in default).
   */
  public String source(OptionSpec option) {
    String name = envName(option);
    if (env.get(name) != null) {
      return name + "=" + env.get(name);
    }
    JsonNode v = file == null ? null : file.get(key(option));
    if (v == null || v.isNull()) {
      return null;
    }
    return where(key(option)) + key(option) + ": " + (v.isValueNode() ? v.asText() : v.toString());
  }

  /** "config file F, line 2: ", the start of an error about a key of the file: F may come from TOKENPIPE_CONFIG. */
  private String where(String key) {
    return "config file" + (path == null ? "" : " " + path) + (lines.containsKey(key) ? ", line " + lines.get(key) : "") + ": ";
  }

  /** The environment variable that sets an option, e.g. TOKENPIPE_MAX_STREAMS for --max-streams. */
  public static String envName(OptionSpec option) {
    return ENV_PREFIX + key(option).toUpperCase(Locale.ROOT).replace('-', '_');
  }

  /** The YAML key of an option: its long name without dashes in front. */
  public static String key(OptionSpec option) {
    return option.longestName().replaceFirst("^-+", "");
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec option) || option.usageHelp() || option.versionHelp() || key(option).equals("config")) {
      return null;
    }
    String fromEnv = env.get(envName(option));
    if (fromEnv != null) {
      return fromEnv;
    }
    JsonNode v = file == null ? null : file.get(key(option));
    if (v == null || v.isNull()) {
      return null;
    }
    if (v.isArray()) {
      List<String> parts = new ArrayList<>();
      v.forEach(e -> parts.add(e.asText()));
      return String.join(",", parts);
    }
    return v.asText();
  }

  /**
   * @throws IllegalArgumentException naming the first file key that is no option of {@code command}, or whose
   *     value is neither a value nor a list of values
   */
  void checkKeys(CommandLine.Model.CommandSpec command) {
    if (file == null) {
      return;
    }
    List<String> known = command.options().stream().map(ConfigDefaults::key).toList();
    file.fields().forEachRemaining(e -> {
      String k = e.getKey();
      if (!known.contains(k)) {
        throw new IllegalArgumentException(where(k) + "'" + k + "' is not an option of tokenpipe " + command.name());
      }
      // A mapping, or a list inside a list, reads as an empty text (asText): the value would vanish without a word.
      JsonNode v = e.getValue();
      boolean flat = v.isArray() ? java.util.stream.StreamSupport.stream(v.spliterator(), false).allMatch(JsonNode::isValueNode)
          : v.isValueNode();
      if (!flat) {
        throw new IllegalArgumentException(where(k) + "'" + k + "' must be a value or a list of values, not " + v);
      }
    });
  }
}
