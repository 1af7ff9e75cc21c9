package dev.tokenpipe.sim;

import dev.tokenpipe.http.ConnectionTimeouts;
import dev.tokenpipe.http.Http10Framing;
import dev.tokenpipe.http.InTurnAggregator;
import dev.tokenpipe.http.SelfRequest;
import dev.tokenpipe.net.Loops;
import dev.tokenpipe.net.RunningServer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The simulated OpenAI-compatible model server: {@code tokenpipe sim}, and the embedded default behind {@code serve}. */
public final class SimServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SimServer.class);
  private final SimConfig config;
  private final SimMetrics metrics = new SimMetrics();
  private final AtomicLong streamCounter = new AtomicLong();
  /** Open client connections; a closed channel leaves the group by itself. */
  private final ChannelGroup connections = new DefaultChannelGroup("sim-connections", GlobalEventExecutor.INSTANCE);
  private volatile boolean draining;
  private boolean closed;
  private final StreamSlots slots = new StreamSlots();
  private RunningServer server;

  private SimServer(SimConfig config) {
    this.config = config;
  }

  /** Starts on new event loops. Port 0 picks a free port. */
  public static SimServer start(SimConfig config, String host, int port) {
    warmUp(config);
    SimServer sim = new SimServer(config);
    sim.server = RunningServer.start(host, port, config.workerThreads(), sim.initializer());
    return sim;
  }

  /**
   * Runs the whole request path once before the real port answers: the first request otherwise took 2.7 s
   * to its first byte (tokenizer and bundled text, Jackson, the HTTP codec, class loading). A throwaway sim on
   * an ephemeral loopback port, with metrics of its own, serves one short stream and is closed, so the real
   * server's metrics count no warm-up request. Never fails the start.
   */
  private static final int WARM_UP_MAX_BODY = 64 * 1024;

  private static void warmUp(SimConfig config) {
    TokenText.get();
    // The scratch server takes any body this one needs: a --max-body below it refused the warm-up (413), and the
    // overrides switch the profile's faults off: a --stall-after 0 stalled it into the 10 s self-request limit.
    SimServer scratch = new SimServer(config.withMaxBodyBytes(Math.max(config.maxBodyBytes(), WARM_UP_MAX_BODY)));
    try {
      scratch.server = RunningServer.start("127.0.0.1", 0, 1, scratch.initializer());
      for (Map.Entry<String, String> r : WarmUpRequests.of(config.models().getFirst()).entrySet()) {
        SelfRequest.post(scratch.server.address(), r.getKey(), r.getValue(), StreamProfile.HEADER + ": " + StreamProfile.WARM_UP);
      }
    } catch (Exception e) {
      org.slf4j.LoggerFactory.getLogger(SimServer.class).debug("warm-up incomplete: {}", e.toString());
    } finally {
      if (scratch.server != null) {
        scratch.close(Duration.ZERO);
      }
    }
  }

  /** Starts on event loops the caller owns (the gateway embeds the sim this way). */
  public static SimServer startOn(SimConfig config, String host, int port, EventLoopGroup loops) {
    warmUp(config);
    SimServer sim = new SimServer(config);
    sim.server = RunningServer.startOn(host, port, loops, sim.initializer());
    return sim;
  }

  private ChannelInitializer<Channel> initializer() {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ChannelPipeline p = ch.pipeline();
        ConnectionTimeouts timeouts = new ConnectionTimeouts(
            config.requestTimeout().toNanos(), config.idleTimeout().toNanos(), new ConnectionTimeouts.Listener() {
              @Override
              public void idleClosed() {
                metrics.idleClosed.inc();
              }

              @Override
              public void requestTimedOut() {
                metrics.errors.labelValues("408").inc();
              }
            });
        InboundGate gate = new InboundGate();
        p.addLast("timeouts", timeouts);
        p.addLast("gate", gate);
        p.addLast("http", new HttpServerCodec());
        p.addLast("http10", new Http10Framing());
        // No flush consolidation: each event is flushed when written (or by GroupCommit on purpose).
        SimHttpHandler handler = new SimHttpHandler(SimServer.this, timeouts, gate);
        p.addLast("body", new InTurnAggregator(config.maxBodyBytes(), handler::answeredAll));
        p.addLast("sim", handler);
        connections.add(ch);
        if (draining) {
          ch.close(); // accepted just before the listener closed
        }
      }
    };
  }

  public SimConfig config() {
    return config;
  }

  /** The cap on streams generating at once ({@code --capacity}); settable while running. */
  public StreamSlots slots() {
    return slots;
  }

  public SimMetrics metrics() {
    return metrics;
  }

  public InetSocketAddress address() {
    return server.address();
  }

  public int port() {
    return server.port();
  }

  public void awaitClose() throws InterruptedException {
    server.awaitClose();
  }

  /** A random source per stream: reproducible under {@code --seed}, otherwise thread-local. */
  RandomGenerator newRandom() {
    if (config.seed() == null) {
      return ThreadLocalRandom.current();
    }
    return new SplittableRandom(config.seed() * 0x9E3779B97F4A7C15L + streamCounter.incrementAndGet());
  }

  /** True once {@link #close()} began: requests not yet started get 503. */
  boolean draining() {
    return draining;
  }

  /** Open client connections (idle, queued or responding). */
  public int connectionCount() {
    return connections.size();
  }

  /** The open client connections themselves, for tests. */
  Collection<Channel> connections() {
    return Collections.unmodifiableCollection(connections);
  }

  /** Graceful shutdown with the configured {@link SimConfig#drainTimeout()}. */
  @Override
  public void close() {
    close(config.drainTimeout());
  }

  /**
   * Graceful shutdown, like {@code serve}'s: stop accepting; close idle connections; let running
   * responses finish for up to {@code grace} (requests not yet started get 503 and
   * {@code Connection: close}); end the rest (a stream with an in-band {@code sim_shutdown} error event
   * and its terminating chunk, a body not yet sent with a 503); then release the loops. Safe to call twice.
   */
  public synchronized void close(Duration grace) {
    if (closed) {
      return;
    }
    closed = true;
    draining = true;
    server.stopAccepting();
    for (Channel ch : connections) {
      ch.eventLoop().execute(() -> handlerOf(ch).ifPresent(SimHttpHandler::drain));
    }
    long streams = metrics.activeStreams();
    if (streams > 0 && !grace.isZero()) {
      log.info("draining {} stream(s) for up to {} ms", streams, grace.toMillis());
    }
    Loops.awaitEmpty(connections, System.nanoTime() + grace.toNanos());
    for (Channel ch : connections) {
      ch.eventLoop().execute(() -> handlerOf(ch).ifPresentOrElse(SimHttpHandler::shutdownNow, ch::close));
    }
    // Time for the error events to reach clients that read; one that does not is closed below.
    Loops.awaitEmpty(connections, System.nanoTime() + TimeUnit.SECONDS.toNanos(2));
    connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
    server.close();
  }

  private static Optional<SimHttpHandler> handlerOf(Channel ch) {
    return Optional.ofNullable(ch.pipeline().get(SimHttpHandler.class));
  }
}
