package dev.tokenpipe.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Why a file named by an option could not be read, in the words of cat and ls: "no such file", "permission
 * denied", "is a directory". The JDK's NoSuchFileException and AccessDeniedException carry only the path as
 * their message, so printing the message alone said nothing but the name the user had just typed.
 */
public final class FileProblem {
  private FileProblem() {}

  public static String reason(IOException e) {
    if (e instanceof NoSuchFileException) {
      return "no such file";
    }
    if (e instanceof AccessDeniedException) {
      return "permission denied";
    }
    String why = e instanceof FileSystemException fs && fs.getReason() != null ? fs.getReason() : e.getMessage();
    if (why == null || why.isBlank()) {
      return e.getClass().getSimpleName();
    }
    int nl = why.indexOf('\n');
    why = (nl < 0 ? why : why.substring(0, nl)).strip();
    // "Is a directory" from the OS reads as the other reasons do: lower case, in the middle of a line.
    return why.length() > 1 && Character.isLowerCase(why.charAt(1)) ? Character.toLowerCase(why.charAt(0)) + why.substring(1) : why;
  }

  /**
   * Why {@code file}, an output option's value, could not be written, or null when it can be as far as can be
   * told before writing: checked before a run, not after its minutes of load. With {@code makeDirs} (the caller
   * creates missing folders) a missing folder is fine when the nearest existing one is writable.
   */
  public static String unwritable(Path file, boolean makeDirs) {
    Path abs = file.toAbsolutePath();
    if (Files.isDirectory(abs)) {
      return "is a directory";
    }
    Path dir = abs.getParent();
    if (makeDirs) {
      while (dir != null && !Files.exists(dir)) {
        dir = dir.getParent();
      }
    }
    if (dir == null || !Files.isDirectory(dir)) {
      return "no such directory " + abs.getParent();
    }
    if (!Files.isWritable(dir) || (Files.exists(abs) && !Files.isWritable(abs))) {
      return "permission denied";
    }
    return null;
  }
}
