package dev.tokenpipe.sim;

import dev.tokenpipe.net.Loops;
import java.time.Duration;
import java.util.List;

/**
 * Server-wide settings of the simulated model.
 *
 * @param models model ids served; the first is the default for {@code /v1/stream}
 * @param maxBodyBytes largest accepted request body; larger ones get 413
 * @param defaultProfile behaviour of requests that do not override it
 * @param seed random seed for token offsets and sampled latencies; null = unseeded
 * @param workerThreads event loops; 0 = one per core
 * @param requestTimeout limit to receive one request's head and body, from its first byte (408 after
 *     it); zero = none
 * @param idleTimeout how long a keep-alive connection may wait for its next request before it is
 *     closed; zero = forever
 * @param drainTimeout on close (SIGTERM), how long running responses may finish before they are ended
 *     with an in-band error
 */
public record SimConfig(List<String> models, int maxBodyBytes, StreamProfile defaultProfile, Long seed, int workerThreads,
    Duration requestTimeout, Duration idleTimeout, Duration drainTimeout) {
  public static final String DEFAULT_MODEL = "tokenpipe-sim";
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(75);
  public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);

  public SimConfig {
    models = List.copyOf(models);
    if (models.isEmpty()) {
      throw new IllegalArgumentException("at least one model is needed");
    }
    Loops.checkThreads(workerThreads);
    if (requestTimeout.isNegative() || idleTimeout.isNegative() || drainTimeout.isNegative()) {
      throw new IllegalArgumentException("timeouts must be >= 0");
    }
  }

  /** With the default timeouts. */
  public SimConfig(List<String> models, int maxBodyBytes, StreamProfile defaultProfile, Long seed, int workerThreads) {
    this(models, maxBodyBytes, defaultProfile, seed, workerThreads,
        DEFAULT_REQUEST_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_DRAIN_TIMEOUT);
  }

  /** Defaults of {@code tokenpipe sim}: 200 ms TTFT, 20 ms per token, 64 tokens. */
  public static SimConfig defaults() {
    return new SimConfig(
        List.of(DEFAULT_MODEL),
        1 << 20,
        new StreamProfile(
            LatencyDistribution.parse("200ms"), LatencyDistribution.parse("20ms"), 64, 1, 0, 0, 503, -1, -1, 0),
        null,
        0);
  }

  public SimConfig withMaxBodyBytes(int maxBodyBytes) {
    return new SimConfig(models, maxBodyBytes, defaultProfile, seed, workerThreads, requestTimeout, idleTimeout, drainTimeout);
  }

  public SimConfig withProfile(StreamProfile profile) {
    return new SimConfig(models, maxBodyBytes, profile, seed, workerThreads, requestTimeout, idleTimeout, drainTimeout);
  }

  public SimConfig withSeed(Long seed) {
    return new SimConfig(models, maxBodyBytes, defaultProfile, seed, workerThreads, requestTimeout, idleTimeout, drainTimeout);
  }

  public SimConfig withTimeouts(Duration requestTimeout, Duration idleTimeout, Duration drainTimeout) {
    return new SimConfig(models, maxBodyBytes, defaultProfile, seed, workerThreads, requestTimeout, idleTimeout, drainTimeout);
  }
}
