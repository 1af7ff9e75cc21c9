package dev.tokenpipe.gateway;

import dev.tokenpipe.openai.ApiError;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.unix.Errors;
import java.nio.channels.ClosedChannelException;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a failed upstream acquisition (connect, or TLS handshake) means, decided in one place: whose
 * fault it is and how the client hears of it.
 *
 * <p>Only a failure <em>of the upstream</em> (refused, timed out, TLS) counts against its health. A
 * <em>local</em> failure is our own socket's: the process or the system is out of file descriptors
 * ({@code EMFILE}/{@code ENFILE}), socket buffers or memory ({@code ENOBUFS}/{@code ENOMEM}), or
 * ephemeral ports ({@code EADDRNOTAVAIL}), or our channel was closed before its connect ran. It never marks
 * an upstream failed and is never reported as "upstream refused": the exchange retries it once on the same
 * upstream, then answers 503 {@code gateway_overloaded} with {@code Retry-After} (errno values are
 * Linux's, asm-generic/errno-base.h and errno.h).
 *
 * @param kind the error the client gets if no retry helps
 * @param error the error for it, or null for the kind's own
 * @param local our own socket failed, not the upstream
 */
record ConnectFailure(ErrorKind kind, ApiError error, boolean local) {
  /** Negative errno values as Netty's native transports report them ({@link Errors.NativeIoException#expectedErr()}). */
  private static final Set<Integer> LOCAL_ERRNOS = Set.of(
      -24,  // EMFILE: this process is at its open-file limit (ulimit -n)
      -23,  // ENFILE: the system-wide file table is full
      -105, // ENOBUFS
      -12,  // ENOMEM
      -99); // EADDRNOTAVAIL: no free local port for the connection
  /** The same conditions as the JDK's NIO transport words them (strerror). */
  private static final String[] LOCAL_MESSAGES = {
      "too many open files", "no buffer space available", "cannot allocate memory", "cannot assign requested address"};

  /** Classifies {@code cause} and counts a local failure in {@code metrics}. */
  static ConnectFailure of(Throwable cause, GatewayMetrics metrics) {
    ConnectFailure f = classify(cause);
    if (f.local) {
      metrics.localConnectFailures.inc();
    }
    return f;
  }

  static ConnectFailure classify(Throwable cause) {
    if (cause instanceof UpstreamTls.HandshakeFailedException tls) {
      // The message names the upstream and the handshake's reason (untrusted certificate, wrong host name, ...).
      return new ConnectFailure(ErrorKind.UPSTREAM_TLS, ErrorKind.UPSTREAM_TLS.apiError(tls.getMessage()), false);
    }
    if (cause instanceof ConnectTimeoutException) {
      return new ConnectFailure(ErrorKind.UPSTREAM_CONNECT_TIMEOUT, null, false);
    }
    if (isLocal(cause)) {
      return new ConnectFailure(ErrorKind.GATEWAY_OVERLOADED, null, true);
    }
    return new ConnectFailure(ErrorKind.UPSTREAM_REFUSED, null, false);
  }

  /**
   * Why a connection failed, in a few words for a log line that already names the upstream: {@code connection
   * refused}, {@code connection timed out after 100 ms}, {@code no route to host}. A transport's exception says it
   * with its class name, the system call and the address again ({@code AnnotatedConnectException: finishConnect(..)
   * failed with error(-111): Connection refused: /10.0.0.5:8000}).
   */
  static String describe(Throwable cause) {
    if (cause == null) {
      return "failed";
    }
    Throwable t = cause;
    while (t.getCause() != null && t.getCause() != t && (t.getMessage() == null || t instanceof io.netty.handler.codec.DecoderException)) {
      t = t.getCause(); // a wrapper without words of its own
    }
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      return t.getClass().getSimpleName();
    }
    m = m.strip();
    Matcher syscall = SYSCALL.matcher(m);
    if (syscall.lookingAt()) {
      m = m.substring(syscall.end());
    }
    Matcher address = ADDRESS.matcher(m);
    if (address.find()) {
      m = m.substring(0, address.start());
    }
    if (t instanceof java.net.UnknownHostException) {
      return "unknown host " + m;
    }
    if (m.isEmpty()) {
      return t.getClass().getSimpleName();
    }
    // "Connection refused" reads as "connection refused" mid-line; an acronym ("PKIX path ...") stays as it is
    boolean word = m.length() > 1 && Character.isUpperCase(m.charAt(0)) && Character.isLowerCase(m.charAt(1));
    return word ? Character.toLowerCase(m.charAt(0)) + m.substring(1) : m;
  }

  /** The system call a native transport's message starts with: {@code finishConnect(..) failed with error(-111): }. */
  private static final Pattern SYSCALL = Pattern.compile("\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ");
  /** The remote address the transports append: {@code : /127.0.0.1:8000}, {@code : localhost/127.0.0.1:8000}. */
  private static final Pattern ADDRESS = Pattern.compile(": [^\\s/]*/[0-9a-fA-F.:\\[\\]]+:\\d+$");

  private static boolean isLocal(Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof ClosedChannelException) {
        return true; // our channel closed before its connect ran: nothing reached the upstream
      }
      if (t instanceof Errors.NativeIoException n && LOCAL_ERRNOS.contains(n.expectedErr())) {
        return true;
      }
      String m = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
      for (String local : LOCAL_MESSAGES) {
        if (m.contains(local)) {
          return true;
        }
      }
    }
    return false;
  }
}
