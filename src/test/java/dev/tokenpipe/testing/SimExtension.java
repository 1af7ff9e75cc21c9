package dev.tokenpipe.testing;

import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimMetrics;
import dev.tokenpipe.sim.SimServer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real simulated model server on a free loopback port for one test class:
 * {@code @RegisterExtension static final SimExtension sim = new SimExtension();}
 */
public final class SimExtension implements BeforeAllCallback, AfterAllCallback {
  private final SimConfig config;
  private SimServer server;

  public SimExtension() {
    this(SimConfig.defaults());
  }

  public SimExtension(SimConfig config) {
    this.config = config;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    server = SimServer.start(config, "127.0.0.1", 0);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    server.close(java.time.Duration.ZERO); // no drain period: a test's leftover stream need not hold up the next class
  }

  public SimServer server() {
    return server;
  }

  public int port() {
    return server.port();
  }

  public SimMetrics metrics() {
    return server.metrics();
  }

  public String url(String path) {
    return "http://127.0.0.1:" + port() + path;
  }

  public String chatUrl() {
    return url("/v1/chat/completions");
  }
}
