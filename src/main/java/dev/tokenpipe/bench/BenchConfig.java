package dev.tokenpipe.bench;

import dev.tokenpipe.client.ClientApi;
import dev.tokenpipe.client.HttpTarget;
import java.util.List;
import java.util.Map;

/**
 * A validated bench run.
 *
 * @param api               the API spoken: a dialect (request body, auth) or raw
 * @param requests          measured requests to make; 0 = unlimited (then {@code durationNanos} > 0)
 * @param concurrency       connections (closed loop: streams in flight; open loop: the cap on streams in flight)
 * @param durationNanos     measured run time; 0 = until {@code requests} are done
 * @param ratePerSecond     open-loop arrival rate; 0 = closed loop
 * @param arrivals          open loop: how gaps between arrivals are drawn
 * @param warmupRequests    requests made before measuring (in addition to {@code requests})
 * @param warmupNanos       time spent before measuring
 * @param timeoutNanos      deadline of one request from its send; 0 = none
 * @param bodies            request bodies, cycled (one per prompt)
 * @param countTokens       count output tokens with the tokenizer when the server sends no usage
 * @param connectBatch      connects in flight at once while ramping up
 * @param modelSource       how {@code model} was chosen: {@code flag}, {@code discovered} or {@code default}
 * @param slo               latency targets each request is judged against (empty = none)
 */
record BenchConfig(
    String url,
    HttpTarget target,
    String method,
    ClientApi api,
    List<Map.Entry<String, String>> headers,
    List<byte[]> bodies,
    String model,
    String modelSource,
    int maxTokens,
    long requests,
    int concurrency,
    long durationNanos,
    double ratePerSecond,
    Arrivals arrivals,
    long warmupRequests,
    long warmupNanos,
    long timeoutNanos,
    int connectTimeoutMillis,
    boolean countTokens,
    int threads,
    int connectBatch,
    Slo slo) {

  /** The same run with a warm-up of {@code nanos} (and no warm-up request count). */
  BenchConfig withWarmup(long nanos) {
    return new BenchConfig(url, target, method, api, headers, bodies, model, modelSource, maxTokens, requests, concurrency,
        durationNanos, ratePerSecond, arrivals, 0, nanos, timeoutNanos, connectTimeoutMillis, countTokens, threads,
        connectBatch, slo);
  }

  /** The same run at another load: open-loop {@code rate} (0 = closed loop) and {@code concurrency}. */
  BenchConfig withLoad(double rate, int concurrency) {
    return new BenchConfig(url, target, method, api, headers, bodies, model, modelSource, maxTokens, requests, concurrency,
        durationNanos, rate, arrivals, warmupRequests, warmupNanos, timeoutNanos, connectTimeoutMillis, countTokens, threads,
        connectBatch, slo);
  }

  boolean openLoop() {
    return ratePerSecond > 0;
  }

  boolean expectStream() {
    return api.expectsStream();
  }
}
