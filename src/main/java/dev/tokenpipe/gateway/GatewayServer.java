package dev.tokenpipe.gateway;

import dev.tokenpipe.net.Loops;
import dev.tokenpipe.net.RunningServer;
import dev.tokenpipe.net.Transport;
import dev.tokenpipe.sim.SimConfig;
import dev.tokenpipe.sim.SimServer;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running gateway: its listener, its event loops (shared by client connections, upstream connections
 * and the embedded simulated model), and graceful shutdown. Tests start it in-process on port 0.
 */
public final class GatewayServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GatewayServer.class);

  private final GatewayConfig config;
  private final EventLoopGroup loops;
  private final SimServer sim;
  private final GatewayContext gw;
  private final Warmup warmup;
  private final RunningServer server;
  /** Active health checks, or null when {@code --health-check} is off. */
  private final HealthChecker checker;
  private boolean closed;

  private GatewayServer(GatewayConfig config, EventLoopGroup loops, SimServer sim, GatewayContext gw, Warmup warmup,
      RunningServer server, HealthChecker checker) {
    this.config = config;
    this.loops = loops;
    this.sim = sim;
    this.gw = gw;
    this.warmup = warmup;
    this.server = server;
    this.checker = checker;
  }

  /**
   * Starts listening. Without upstreams, a simulated model is started first on an ephemeral loopback
   * port, on the gateway's own loops, and becomes the only upstream.
   *
   * @throws IllegalStateException with a one-line message when the address cannot be bound
   * @throws IllegalArgumentException for a bad upstream URL or a bad {@code --upstream-ca} file
   */
  public static GatewayServer start(GatewayConfig config) {
    List<UpstreamSpec> upstreams = new ArrayList<>();
    config.upstreams().forEach(u -> upstreams.add(UpstreamSpec.parse(u)));
    // One TLS client context per gateway, built once. A given --upstream-ca is read (and checked) even
    // when no upstream is https://, so a bad path fails at start, not on some later request.
    UpstreamTls tls = upstreams.stream().anyMatch(s -> s.upstream().tls()) || config.upstreamCa() != null
        ? UpstreamTls.create(config.upstreamCa(), (int) config.connectTimeout().toMillis())
        : null;
    EventLoopGroup loops = Transport.get().newGroup(Loops.count(config.threads()));
    SimServer sim = null;
    HealthChecker checker = null;
    RunningServer server = null;
    try {
      String defaultModel = null;
      if (upstreams.isEmpty()) {
        SimConfig simConfig = SimConfig.defaults().withProfile(config.simProfile());
        sim = SimServer.startOn(simConfig, "127.0.0.1", 0, loops);
        upstreams.add(UpstreamSpec.parse("http://127.0.0.1:" + sim.port()));
        defaultModel = simConfig.models().getFirst();
      }
      UpstreamSet set = upstreamSet(upstreams, config);
      GatewayMetrics metrics = new GatewayMetrics();
      metrics.upstreams(set);
      GatewayContext gw = new GatewayContext(config, set, tls, new ApiKeys(config.apiKeys()), metrics, defaultModel);
      Warmup warmup = sim != null ? Warmup.selfRequests(gw, upstreamSet(upstreams, config)) : Warmup.inMemory(gw);
      server = RunningServer.startOn(config.host(), config.port(), loops, new GatewayInitializer(gw, warmup));
      warmup.run(server.address());
      if (config.healthCheck() != null) {
        checker = new HealthChecker(set, loops, tls, config.healthCheck(), config.healthInterval(), config.upstreamKey());
        checker.start();
      }
      return new GatewayServer(config, loops, sim, gw, warmup, server, checker);
    } catch (RuntimeException | Error e) {
      // Whatever failed after the bind, the port and the boss loop go too: a half-started gateway that keeps
      // its port open would accept connections nobody answers.
      if (checker != null) {
        checker.close();
      }
      if (sim != null) {
        sim.close(Duration.ZERO);
      }
      if (server != null) {
        server.close();
      }
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw e;
    }
  }

  private static UpstreamSet upstreamSet(List<UpstreamSpec> upstreams, GatewayConfig config) {
    return new UpstreamSet(upstreams, config.unhealthyFor().toNanos(), Balancer.Mode.parse(config.balance()),
        System::nanoTime, Balancer.threadLocalRandom());
  }

  public int port() {
    return server.port();
  }

  public InetSocketAddress address() {
    return server.address();
  }

  public GatewayMetrics metrics() {
    return gw.metrics();
  }

  /** The embedded simulated model, or null when real upstreams are configured. */
  public SimServer sim() {
    return sim;
  }

  public List<String> upstreamNames() {
    return gw.upstreams().all().stream().map(Upstream::name).toList();
  }

  /**
   * The upstreams as {@code --upstream} writes them: each base URL, with {@code =WEIGHT} when its weight is not the
   * default 1 (an upstream given twice, once: its weights added up).
   */
  public List<String> upstreamSpecs() {
    List<Upstream> all = gw.upstreams().all();
    List<String> out = new ArrayList<>(all.size());
    for (int i = 0; i < all.size(); i++) {
      int weight = gw.upstreams().scores().weight(i);
      out.add(weight == 1 ? all.get(i).name() : all.get(i).name() + "=" + weight);
    }
    return out;
  }

  public GatewayConfig config() {
    return config;
  }

  /** True once {@link #close()} began: the drain is running or over. */
  boolean draining() {
    return gw.draining();
  }

  public void awaitClose() throws InterruptedException {
    server.awaitClose();
  }

  /**
   * Graceful shutdown: drain (report not-ready), let running streams finish for up to
   * {@code drainTimeout}, end the rest with an in-band {@code gateway_shutdown} error event, then release
   * the loops. Safe to call twice.
   *
   * <p>The listener stays open during the drain, so that {@code /readyz} answers 503 (a load balancer
   * polling it sees "draining", not "refused") and a new request, on a new or a kept-alive connection,
   * gets a clear 503 {@code gateway_draining} with {@code Connection: close} instead of a refused connect.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    gw.drainingFlag().set(true);
    long deadline = System.nanoTime() + config.drainTimeout().toNanos();
    if (!gw.running().isEmpty()) {
      log.info("draining {} stream(s) for up to {} ms", gw.running().size(), config.drainTimeout().toMillis());
    }
    gw.awaitNoStreams(deadline);
    for (ProxyExchange ex : List.copyOf(gw.running())) {
      ex.executor().execute(ex::shutdown);
    }
    gw.awaitNoStreams(System.nanoTime() + TimeUnit.SECONDS.toNanos(2));
    if (checker != null) {
      checker.close();
    }
    if (sim != null) {
      // No grace of its own: its streams were the gateway's, which the drain above already waited for or
      // ended. With one, a connection on a wedged loop (the sim shares the gateway's loops) held the stop
      // for the sim's whole drain timeout.
      sim.close(Duration.ZERO);
    }
    server.close();
    Loops.shutdown(loops, "gateway");
  }

  /** Streams running now (for tests). */
  int runningStreams() {
    return gw.running().size();
  }

  /** The start-up warm-up's streams running now (for tests). */
  int runningWarmUpStreams() {
    return warmup.running();
  }

  /** The event loops, for tests that need to act on one. */
  EventLoopGroup loops() {
    return loops;
  }
}
