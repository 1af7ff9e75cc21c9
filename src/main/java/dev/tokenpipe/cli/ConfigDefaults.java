package dev.tokenpipe.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
  private final JsonNode file;

  ConfigDefaults(Map<String, String> env, JsonNode file) {
    this.env = env;
    this.file = file;
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
    return new ConfigDefaults(env, path == null ? null : readYaml(Path.of(path)));
  }

  private static JsonNode readYaml(Path path) {
    try {
      JsonNode node = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(path));
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
        throw new IllegalArgumentException("config file: '" + k + "' is not an option of tokenpipe " + command.name());
      }
      // A mapping, or a list inside a list, reads as an empty text (asText): the value would vanish without a word.
      JsonNode v = e.getValue();
      boolean flat = v.isArray() ? java.util.stream.StreamSupport.stream(v.spliterator(), false).allMatch(JsonNode::isValueNode)
          : v.isValueNode();
      if (!flat) {
        throw new IllegalArgumentException("config file: '" + k + "' must be a value or a list of values, not " + v);
      }
    });
  }
}
