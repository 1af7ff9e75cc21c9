package dev.tokenpipe.sim;

import java.util.List;

/**
 * Server-wide settings of the simulated model.
 *
 * @param models model ids served; the first is the default for {@code /v1/stream}
 * @param maxBodyBytes largest accepted request body; larger ones get 413
 * @param defaultProfile behaviour of requests that do not override it
 * @param seed random seed for token offsets and sampled latencies; null = unseeded
 * @param workerThreads event loops; 0 = one per core
 */
public record SimConfig(List<String> models, int maxBodyBytes, StreamProfile defaultProfile, Long seed, int workerThreads) {
  public static final String DEFAULT_MODEL = "tokenpipe-sim";

  public SimConfig {
    models = List.copyOf(models);
    if (models.isEmpty()) {
      throw new IllegalArgumentException("at least one model is needed");
    }
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
    return new SimConfig(models, maxBodyBytes, defaultProfile, seed, workerThreads);
  }

  public SimConfig withProfile(StreamProfile profile) {
    return new SimConfig(models, maxBodyBytes, profile, seed, workerThreads);
  }
}
