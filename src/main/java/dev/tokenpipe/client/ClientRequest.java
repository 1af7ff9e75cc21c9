package dev.tokenpipe.client;

import java.util.List;
import java.util.Map;

/**
 * One HTTP request, immutable and reusable: a load generator sends the same instance many times.
 *
 * @param target            where it goes
 * @param method            e.g. {@code POST}
 * @param headers           extra headers in order (Host, Content-Length, Accept-Encoding are set by the client;
 *                          a header given here replaces the client's default of the same name)
 * @param body              request body, may be empty
 * @param expectEventStream the caller asked for a stream: a successful response that is not
 *                          {@code text/event-stream} or NDJSON is classified {@link ErrorClass#NOT_STREAM}, and a
 *                          stream that ends without its API's terminator ({@code data: [DONE]}, {@code message_stop},
 *                          {@code response.completed}, ...) as {@link ErrorClass#TRUNCATED}
 */
public record ClientRequest(
    HttpTarget target, String method, List<Map.Entry<String, String>> headers, byte[] body, boolean expectEventStream) {

  public ClientRequest {
    headers = List.copyOf(headers);
    body = body == null ? new byte[0] : body;
  }
}
