package dev.tokenpipe.probe;

import dev.tokenpipe.openai.ApiError;
import dev.tokenpipe.openai.ApiException;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Counts running probes per client address, so one client cannot open unbounded probe streams. One
 * instance per process ({@link #PER_PROCESS}): a process runs one {@code sim} or one {@code serve}.
 * Thread-safe; probes on different event loops share it.
 */
public final class ProbeLimiter {
  /** Running probes one client address may hold at once (doctor runs at most 16 plus an idle probe). */
  public static final int MAX_PER_CLIENT = 20;
  /** Running probes in the whole process. */
  public static final int MAX_TOTAL = 256;

  public static final ProbeLimiter PER_PROCESS = new ProbeLimiter(MAX_PER_CLIENT, MAX_TOTAL);

  private final int perClient;
  private final int total;
  private final Map<InetAddress, Integer> running = new HashMap<>();
  private int all;

  public ProbeLimiter(int perClient, int total) {
    this.perClient = perClient;
    this.total = total;
  }

  /**
   * Takes a slot for {@code client}; the caller must {@link #release} it exactly once.
   *
   * @return the key to release
   * @throws ApiException 429 when the client or the process is at its limit
   */
  public synchronized InetAddress acquire(SocketAddress client) {
    InetAddress key = client instanceof InetSocketAddress a ? a.getAddress() : null;
    int mine = running.getOrDefault(key, 0);
    if (mine >= perClient || all >= total) {
      throw new ApiException(ApiError.server(HttpResponseStatus.TOO_MANY_REQUESTS,
          "Too many probes at once (at most " + perClient + " per client, " + total + " in all); retry when one ended.",
          "too_many_probes"));
    }
    running.put(key, mine + 1);
    all++;
    return key;
  }

  public synchronized void release(InetAddress key) {
    running.computeIfPresent(key, (k, v) -> v <= 1 ? null : v - 1);
    all--;
  }

  /** Probes running for this address now (for tests). */
  public synchronized int running(InetAddress key) {
    return running.getOrDefault(key, 0);
  }
}
