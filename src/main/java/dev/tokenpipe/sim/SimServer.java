package dev.tokenpipe.sim;

import dev.tokenpipe.http.JsonErrorAggregator;
import dev.tokenpipe.net.RunningServer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.random.RandomGenerator;

/** The simulated OpenAI-compatible model server: {@code tokenpipe sim}, and the embedded default behind {@code serve}. */
public final class SimServer implements AutoCloseable {
  private final SimConfig config;
  private final SimMetrics metrics = new SimMetrics();
  private final AtomicLong streamCounter = new AtomicLong();
  private final StreamSlots slots = new StreamSlots();
  private RunningServer server;

  private SimServer(SimConfig config) {
    this.config = config;
  }

  /** Starts on new event loops. Port 0 picks a free port. */
  public static SimServer start(SimConfig config, String host, int port) {
    SimServer sim = new SimServer(config);
    sim.server = RunningServer.start(host, port, config.workerThreads(), sim.initializer());
    return sim;
  }

  /** Starts on event loops the caller owns (the gateway embeds the sim this way). */
  public static SimServer startOn(SimConfig config, String host, int port, EventLoopGroup loops) {
    SimServer sim = new SimServer(config);
    sim.server = RunningServer.startOn(host, port, loops, sim.initializer());
    return sim;
  }

  private ChannelInitializer<Channel> initializer() {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ChannelPipeline p = ch.pipeline();
        p.addLast("http", new HttpServerCodec());
        p.addLast("body", new JsonErrorAggregator(config.maxBodyBytes()));
        // No flush consolidation: each event is flushed when written (or by GroupCommit on purpose).
        p.addLast("sim", new SimHttpHandler(SimServer.this));
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

  @Override
  public void close() {
    server.close();
  }
}
