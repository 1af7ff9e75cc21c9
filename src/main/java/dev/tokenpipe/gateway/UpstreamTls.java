package dev.tokenpipe.gateway;

import dev.tokenpipe.cli.FileProblem;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.NetUtil;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The TLS client toward {@code https://} upstreams: one {@link SslContext} per gateway, built once at
 * start, and one {@link SslHandler} per upstream connection from it.
 *
 * <p>What is verified: the certificate chain against the JDK's default trust store (the one
 * {@code javax.net.ssl.trustStore} selects, else {@code cacerts}) plus the certificates of
 * {@code --upstream-ca}, and the upstream's host name against the certificate (endpoint identification
 * {@code HTTPS}, RFC 2818: DNS names, or IP addresses for an IP upstream). SNI carries the host name
 * (never an IP address). No ALPN: the upstream speaks HTTP/1.1. JDK provider only (no tcnative).
 *
 * <p>The SslHandler does not hold token bytes: it decrypts each TLS record as soon as the whole record
 * has arrived and passes the plaintext of a socket read on at once; the gateway's writes toward the
 * upstream (requests only) are wrapped and sent on every flush.
 */
final class UpstreamTls {
  private final SslContext context;
  private final int handshakeTimeoutMillis;

  private UpstreamTls(SslContext context, int handshakeTimeoutMillis) {
    this.context = context;
    this.handshakeTimeoutMillis = handshakeTimeoutMillis;
  }

  /**
   * @param extraCa PEM file whose certificates are trusted in addition to the JDK's, or null
   * @param handshakeTimeoutMillis how long a handshake may take once TCP connected (the connect timeout)
   * @throws IllegalArgumentException with a one-line reason naming {@code --upstream-ca} when the file is
   *     missing, unreadable or holds no certificate
   */
  static UpstreamTls create(Path extraCa, int handshakeTimeoutMillis) {
    SslContextBuilder b = SslContextBuilder.forClient()
        .sslProvider(SslProvider.JDK)
        .endpointIdentificationAlgorithm("HTTPS");
    if (extraCa != null) {
      b.trustManager(jdkTrustPlus(readPem(extraCa), extraCa));
    }
    try {
      return new UpstreamTls(b.build(), handshakeTimeoutMillis);
    } catch (SSLException e) {
      throw new IllegalStateException("cannot set up TLS toward upstreams: " + e.getMessage(), e);
    }
  }

  /** A handler for a new connection to {@code u}: SNI and the host to verify are the upstream's host. */
  SslHandler newHandler(ByteBufAllocator alloc, Upstream u) {
    SslHandler h = context.newHandler(alloc, u.tlsHost(), u.port());
    SSLEngine engine = h.engine();
    SSLParameters p = engine.getSSLParameters();
    p.setEndpointIdentificationAlgorithm("HTTPS"); // hostname verification, also if the builder's default changes
    if (!NetUtil.isValidIpV4Address(u.tlsHost()) && !NetUtil.isValidIpV6Address(u.tlsHost())) {
      p.setServerNames(List.of(new SNIHostName(u.tlsHost())));
    }
    engine.setSSLParameters(p);
    h.setHandshakeTimeoutMillis(handshakeTimeoutMillis);
    return h;
  }

  /** The certificates of a PEM file (a bundle may hold several). */
  static List<X509Certificate> readPem(Path file) {
    byte[] pem;
    try {
      // Read whole before parsing: CertificateFactory reports a read error (a directory) as a bad certificate.
      pem = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("--upstream-ca " + file + ": " + FileProblem.reason(e));
    }
    List<X509Certificate> certs = new ArrayList<>();
    try (InputStream in = new ByteArrayInputStream(pem)) {
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        certs.add((X509Certificate) c);
      }
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException("--upstream-ca " + file + ": not a PEM certificate bundle: " + oneLine(e));
    }
    if (certs.isEmpty()) {
      throw new IllegalArgumentException("--upstream-ca " + file + ": no PEM certificate in it");
    }
    return certs;
  }

  /** A trust manager factory for the JDK's default trust anchors plus {@code extra}. */
  private static TrustManagerFactory jdkTrustPlus(List<X509Certificate> extra, Path file) {
    try {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int i = 0;
      for (X509Certificate c : defaultTrustAnchors()) {
        store.setCertificateEntry("jdk-" + i++, c);
      }
      for (X509Certificate c : extra) {
        store.setCertificateEntry("upstream-ca-" + i++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(store);
      return tmf;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("--upstream-ca " + file + ": " + oneLine(e));
    }
  }

  private static List<X509Certificate> defaultTrustAnchors() throws GeneralSecurityException {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init((KeyStore) null);
    List<X509Certificate> anchors = new ArrayList<>();
    for (TrustManager tm : tmf.getTrustManagers()) {
      if (tm instanceof X509TrustManager x) {
        anchors.addAll(List.of(x.getAcceptedIssuers()));
      }
    }
    return anchors;
  }

  /**
   * The most specific reason of a failed handshake, for the client's error message: the innermost cause
   * with a message, e.g. "unable to find valid certification path to requested target" or "No subject
   * alternative names matching IP address 127.0.0.1 found".
   */
  static String reason(Throwable t) {
    String msg = null;
    Throwable last = t;
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      last = c;
      if (c.getMessage() != null && !c.getMessage().isBlank()) {
        msg = c.getMessage();
      }
    }
    return msg == null ? last.getClass().getSimpleName() : oneLine(msg);
  }

  private static String oneLine(Throwable e) {
    return oneLine(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
  }

  private static String oneLine(String s) {
    return s.replaceAll("\\s+", " ").strip();
  }

  /** A TLS handshake toward {@code upstream} failed (or timed out) before the request was sent. */
  static final class HandshakeFailedException extends IOException {
    final Upstream upstream;

    HandshakeFailedException(Upstream upstream, Throwable cause) {
      super("Upstream " + upstream.name() + ": TLS handshake failed: " + reason(cause), cause);
      this.upstream = upstream;
    }
  }
}
