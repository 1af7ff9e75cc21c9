package dev.tokenpipe.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * One blocking HTTP/1.1 request from a server to itself over loopback, read to the close: how {@code serve}
 * and {@code sim} run their real request path once before they say they are ready (class loading and
 * first-use initialisation otherwise land in the first user's time to first token).
 */
public final class SelfRequest {
  private static final int TIMEOUT_MILLIS = 10_000;

  private SelfRequest() {}

  /**
   * POSTs {@code jsonBody} to {@code path} with {@code Connection: close} and reads the whole response.
   *
   * @param headerLines extra header lines, each {@code Name: value}
   * @throws IOException when the server cannot be reached or does not answer within 10 s
   */
  public static void post(InetSocketAddress address, String path, String jsonBody, String... headerLines)
      throws IOException {
    post(address, path, jsonBody, from -> { }, headerLines);
  }

  /**
   * As {@link #post(InetSocketAddress, String, String, String...)}, from a socket bound before it connects:
   * {@code beforeConnect} learns the address the server will see the connection come from (the host's own
   * address and a port this socket holds, so no other socket can connect from it meanwhile).
   */
  public static void post(InetSocketAddress address, String path, String jsonBody,
      Consumer<InetSocketAddress> beforeConnect, String... headerLines) throws IOException {
    InetAddress host = address.getAddress().isAnyLocalAddress() ? InetAddress.getLoopbackAddress() : address.getAddress();
    byte[] body = jsonBody.getBytes(StandardCharsets.UTF_8);
    StringBuilder head = new StringBuilder("POST ").append(path).append(" HTTP/1.1\r\nHost: localhost\r\n")
        .append("Content-Type: application/json\r\nConnection: close\r\nContent-Length: ").append(body.length).append("\r\n");
    for (String h : headerLines) {
      head.append(h).append("\r\n");
    }
    head.append("\r\n");
    try (Socket s = new Socket()) {
      s.setReuseAddress(false); // (the default) no other socket may bind this port while this one holds it
      s.bind(new InetSocketAddress(host, 0));
      beforeConnect.accept((InetSocketAddress) s.getLocalSocketAddress());
      s.connect(new InetSocketAddress(host, address.getPort()), TIMEOUT_MILLIS);
      s.setSoTimeout(TIMEOUT_MILLIS);
      OutputStream out = s.getOutputStream();
      out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[8192];
      while (in.read(buf) >= 0) {
        // to the close: the whole response crossed the server
      }
    }
  }
}
