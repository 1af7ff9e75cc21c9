package dev.tokenpipe.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Help.Column;
import picocli.CommandLine.Help.TextTable;

/**
 * How help text is laid out for every command. Descriptions in the code are written as source lines of about
 * 110 characters; picocli would wrap each line on its own (cutting sentences into stubs) and list a
 * subcommand by its first source line only (cutting it mid-sentence). Here source lines are joined into
 * paragraphs (a line ending in '.' or ':', an indented line or an empty one starts a new paragraph), each
 * paragraph is wrapped to the usage width, and the command list shows each command's first sentence whole.
 * The text is not run through {@code String.format}, so a '%' in a description is printed as it is.
 */
final class HelpLayout {
  private HelpLayout() {}

  static void install(CommandLine root) {
    Map<String, CommandLine.IHelpSectionRenderer> sections = root.getHelpSectionMap();
    sections.put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_DESCRIPTION, HelpLayout::description);
    sections.put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST, HelpLayout::commandList);
    root.setHelpSectionMap(sections); // also registers it on every subcommand
  }

  /** The source lines of a description joined into paragraphs; empty strings stand for blank lines. */
  static List<String> paragraphs(String[] lines) {
    List<String> out = new ArrayList<>();
    StringBuilder current = null;
    for (String line : lines) {
      boolean startsNew = line.isBlank() || Character.isWhitespace(line.charAt(0));
      if (current != null && !startsNew) {
        current.append(' ').append(line.strip());
      } else {
        if (current != null) {
          out.add(current.toString());
        }
        current = line.isBlank() ? null : new StringBuilder(line.stripTrailing());
        if (line.isBlank()) {
          out.add("");
        }
      }
      if (current != null && (line.endsWith(".") || line.endsWith(":"))) {
        out.add(current.toString());
        current = null;
      }
    }
    if (current != null) {
      out.add(current.toString());
    }
    return out;
  }

  /** The first sentence of a command's description without its asides in parentheses, for the command list. */
  static String summary(CommandLine.Model.CommandSpec spec) {
    String[] header = spec.usageMessage().header();
    List<String> ps = paragraphs(header.length > 0 ? header : spec.usageMessage().description());
    String first = ps.isEmpty() ? "" : ps.get(0);
    int end = first.indexOf(". ");
    String sentence = end < 0 ? first : first.substring(0, end + 1);
    return sentence.replaceAll("\\s*\\([^()]*\\)", "");
  }

  private static String description(Help help) {
    int width = help.commandSpec().usageMessage().width();
    StringBuilder sb = new StringBuilder();
    for (String p : paragraphs(help.commandSpec().usageMessage().description())) {
      if (p.isEmpty()) {
        sb.append(System.lineSeparator());
        continue;
      }
      TextTable t = TextTable.forColumns(help.colorScheme(), new Column(width, 0, Column.Overflow.WRAP));
      t.indentWrappedLines = 0;
      t.addRowValues(p);
      sb.append(t);
    }
    return sb.toString();
  }

  private static String commandList(Help help) {
    Map<String, Help> subs = help.subcommands();
    if (subs.isEmpty()) {
      return "";
    }
    int width = help.commandSpec().usageMessage().width();
    int nameWidth = 2 + subs.keySet().stream().mapToInt(String::length).max().orElse(0) + 2;
    TextTable t = TextTable.forColumns(help.colorScheme(),
        new Column(nameWidth, 2, Column.Overflow.SPAN),
        new Column(width - nameWidth, 0, Column.Overflow.WRAP));
    for (Map.Entry<String, Help> e : subs.entrySet()) {
      t.addRowValues(e.getKey(), summary(e.getValue().commandSpec()));
    }
    return t.toString();
  }
}
