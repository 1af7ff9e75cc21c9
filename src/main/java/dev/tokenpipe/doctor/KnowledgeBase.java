package dev.tokenpipe.doctor;

import static dev.tokenpipe.doctor.Layer.*;
import static dev.tokenpipe.doctor.Problem.*;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The one place that knows how each layer holds tokens back and how to stop it: exact configuration or code
 * per (layer, problem), and which layers to suspect for a signature when no header names one. Pure data; the
 * analysis ({@link Analyzer}) and attribution ({@link Attribution}) only look things up here.
 *
 * <p>{@link Source#MEASURED} entries were reproduced by doctor's own tests with Debian 12's packages (see
 * docs/doctor.md for the matrix); {@link Source#DOCUMENTED} ones come from the projects' documentation.
 */
public final class KnowledgeBase {

  public enum Source {
    MEASURED, DOCUMENTED;

    public String key() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /**
   * One fix.
   *
   * @param layer   where it goes
   * @param advice  one line: what to change and why
   * @param snippet the exact configuration or code, ready to paste
   * @param source  whether tokenpipe reproduced it
   */
  public record Fix(Layer layer, String advice, String snippet, Source source) {}

  private static final Map<Layer, Map<Problem, Fix>> FIXES = new EnumMap<>(Layer.class);
  private static final Map<Problem, List<Layer>> SUSPECTS = new EnumMap<>(Problem.class);

  private KnowledgeBase() {}

  /** The fix for {@code problem} at {@code layer}, or null when that layer is not known to cause it. */
  public static Fix fix(Layer layer, Problem problem) {
    return FIXES.getOrDefault(layer, Map.of()).get(problem);
  }

  /**
   * Layers whose compressor writes each event out only when the next one comes in (the {@code events-held} "one
   * behind" signature on a compressed stream), measured: HAProxy 2.6's {@code compression} with
   * {@code http-no-delay} (HaproxyDoctorTest). NGINX's gzip holds whole responses instead (held-until-end), so
   * it is no suspect for this one, and HAProxy sends no header that would name it.
   */
  public static List<Layer> oneBehindCompressors() {
    return List.of(HAPROXY);
  }

  /** Layers that leave this signature, most likely first, for when no header identifies one. */
  public static List<Layer> suspects(Problem problem) {
    return SUSPECTS.getOrDefault(problem, List.of());
  }

  private static void add(Layer layer, List<Problem> problems, Source source, String advice, String snippet) {
    for (Problem p : problems) {
      FIXES.computeIfAbsent(layer, l -> new EnumMap<>(Problem.class)).put(p, new Fix(layer, advice, snippet, source));
    }
  }

  private static void suspect(Problem problem, Layer... layers) {
    SUSPECTS.put(problem, List.of(layers));
  }

  private static final List<Problem> HOLDING = List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD);

  static {
    // ---- Reverse proxies -------------------------------------------------------------------------------
    add(NGINX, HOLDING, Source.MEASURED,
        "Turn off response buffering for the streaming location (or have the app send 'X-Accel-Buffering: no').",
        """
        location /v1/ {
            proxy_pass http://upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;      # stream each upstream read to the client
            proxy_cache off;
            gzip off;                 # compression holds events until its buffer fills
        }""");
    add(NGINX, List.of(COMPRESSED_STREAM), Source.MEASURED,
        "Do not gzip event streams: remove text/event-stream from gzip_types (Cache-Control: no-transform does NOT stop NGINX gzip).",
        """
        # http or location block: list the types to compress without text/event-stream
        gzip_types text/plain text/css application/json application/javascript;
        # or, in the streaming location:
        location /v1/ { gzip off; proxy_buffering off; proxy_pass http://upstream; }""");
    add(NGINX, List.of(IDLE_CUT, NO_HEARTBEATS), Source.MEASURED,
        "Raise the upstream read timeout for streams, and have the app send ': ping' comments every 15 s.",
        """
        location /v1/ {
            proxy_read_timeout 3600s;   # default 60s: a quiet upstream is cut
            proxy_send_timeout 3600s;
            proxy_pass http://upstream;
        }""");
    add(INGRESS_NGINX, List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD, COMPRESSED_STREAM, IDLE_CUT), Source.DOCUMENTED,
        "On Kubernetes ingress-nginx, set the same through Ingress annotations.",
        """
        metadata:
          annotations:
            nginx.ingress.kubernetes.io/proxy-buffering: "off"
            nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
            nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
        # and keep text/event-stream out of the controller ConfigMap's gzip-types (use-gzip)""");

    add(HAPROXY, List.of(CLOCK_BURSTS, EVENTS_HELD), Source.MEASURED,
        "Stop HAProxy corking partial HTTP messages: 'option http-no-delay' (X-Accel-Buffering and no-transform do not help).",
        """
        defaults            # or the backend that serves streams
            mode http
            option http-no-delay""");
    add(HAPROXY, List.of(COMPRESSED_STREAM, HELD_UNTIL_END), Source.DOCUMENTED,
        "Keep text/event-stream out of HAProxy's compression types.",
        """
        backend llm
            filter compression
            compression algo gzip
            compression type text/html text/plain application/json   # not text/event-stream""");
    add(HAPROXY, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "Raise the inactivity timeouts for streaming backends, and send heartbeats from the app.",
        """
        backend llm
            timeout server 1h
        frontend web
            timeout client 1h""");

    add(ENVOY, List.of(HELD_UNTIL_END, EVENTS_HELD, SIZE_BURSTS), Source.DOCUMENTED,
        "Remove body-buffering filters from the streaming route: no envoy.filters.http.buffer; ext_proc in STREAMED mode.",
        """
        http_filters:                       # no envoy.filters.http.buffer on this route
        - name: envoy.filters.http.ext_proc
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
            processing_mode: { response_body_mode: STREAMED }""");
    add(ENVOY, List.of(COMPRESSED_STREAM), Source.DOCUMENTED,
        "Keep text/event-stream out of the compressor filter's content types.",
        """
        - name: envoy.filters.http.compressor
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
            response_direction_config:
              common_config:
                content_type: [ "application/json", "text/html" ]   # not text/event-stream""");
    add(ENVOY, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "Envoy's route timeout (15 s) counts the whole stream: disable it for streams; keep idle timeouts above the heartbeat.",
        """
        routes:
        - match: { prefix: "/v1/" }
          route: { cluster: llm, timeout: 0s, idle_timeout: 300s }""");

    // Caddy 2.6 flushes text/event-stream per write by default; what holds a stream is 'buffer_responses', which
    // reads each response whole first, and 'flush_interval -1' beside it changes nothing (CaddyDoctorTest: the
    // fix printed before, flush_interval -1 alone, left the stream held to its end).
    add(CADDY, List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD, CLOCK_BURSTS), Source.MEASURED,
        "Remove 'buffer_responses' (and 'max_buffer_size') from reverse_proxy: it holds each response until it ends,"
            + " whatever flush_interval says; and flush after every write.",
        """
        reverse_proxy /v1/* upstream:8000 {
            # no buffer_responses / max_buffer_size here
            flush_interval -1
        }""");
    add(CADDY, List.of(COMPRESSED_STREAM), Source.DOCUMENTED,
        "List the content types 'encode' may compress, without text/event-stream.",
        """
        encode gzip {
            match {
                header Content-Type text/html*
                header Content-Type application/json*
            }
        }""");

    add(APACHE, List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD, CLOCK_BURSTS), Source.DOCUMENTED,
        "Flush every packet of the streaming ProxyPass, and do not deflate it.",
        """
        ProxyPass        "/v1/" "http://upstream:8000/v1/" flushpackets=on
        ProxyPassReverse "/v1/" "http://upstream:8000/v1/"
        SetEnvIf Request_URI "^/v1/" no-gzip=1""");
    add(APACHE, List.of(COMPRESSED_STREAM), Source.MEASURED,
        "Keep mod_deflate off the stream.",
        """
        SetEnvIf Request_URI "^/v1/" no-gzip=1
        # or remove text/event-stream from AddOutputFilterByType DEFLATE""");
    add(APACHE, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "Raise the proxy timeout for streams, and send heartbeats from the app.",
        """
        ProxyPass "/v1/" "http://upstream:8000/v1/" flushpackets=on timeout=3600""");

    add(VARNISH, List.of(HELD_UNTIL_END, EVENTS_HELD, COMPRESSED_STREAM), Source.DOCUMENTED,
        "Stream event streams through uncached and uncompressed.",
        """
        sub vcl_backend_response {
            if (beresp.http.Content-Type ~ "text/event-stream") {
                set beresp.do_stream = true;
                set beresp.do_gzip = false;
                set beresp.uncacheable = true;
                return (deliver);
            }
        }""");
    add(VARNISH, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "Raise between_bytes_timeout on the backend, and send heartbeats.",
        """
        backend llm { .host = "upstream"; .port = "8000"; .between_bytes_timeout = 3600s; }""");

    add(TRAEFIK, List.of(COMPRESSED_STREAM, HELD_UNTIL_END), Source.DOCUMENTED,
        "Exclude event streams from the compress middleware.",
        """
        http:
          middlewares:
            compress:
              compress:
                excludedContentTypes: [ "text/event-stream" ]""");

    // ---- CDNs and cloud load balancers -----------------------------------------------------------------
    add(CLOUDFLARE, List.of(COMPRESSED_STREAM, HELD_UNTIL_END), Source.DOCUMENTED,
        "Send Content-Type: text/event-stream and Cache-Control: no-transform from the origin; cloudflared tunnels buffer other types.",
        """
        Content-Type: text/event-stream
        Cache-Control: no-cache, no-transform""");
    add(CLOUDFLARE, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "Cloudflare answers 524 after 100 s without bytes: send a heartbeat comment well inside that.",
        """
        : ping          <- one SSE comment line + blank line, every 15-20 s while the model is quiet""");
    add(CLOUDFRONT, List.of(COMPRESSED_STREAM, HELD_UNTIL_END), Source.DOCUMENTED,
        "Turn off 'Compress objects automatically' for the streaming cache behavior, and do not cache it.",
        """
        CacheBehavior (path /v1/*): Compress: false, CachePolicy: CachingDisabled""");
    add(FASTLY, List.of(HELD_UNTIL_END, EVENTS_HELD, COMPRESSED_STREAM), Source.DOCUMENTED,
        "Stream and pass event streams.",
        """
        sub vcl_fetch {
          if (beresp.http.Content-Type ~ "text/event-stream") {
            set beresp.do_stream = true;
            return(pass);
          }
        }""");
    add(AWS_ALB, List.of(IDLE_CUT, NO_HEARTBEATS), Source.DOCUMENTED,
        "The ALB cuts connections idle for 60 s (TCP keep-alives do not count): heartbeats, or raise the idle timeout.",
        """
        aws elbv2 modify-load-balancer-attributes --load-balancer-arn "$ALB_ARN" \\
          --attributes Key=idle_timeout.timeout_seconds,Value=3600""");
    add(AWS_API_GATEWAY, List.of(HELD_UNTIL_END, EVENTS_HELD), Source.DOCUMENTED,
        "Buffered API Gateway integrations deliver the whole response at once: use a response-streaming integration "
            + "(e.g. a Lambda function URL with InvokeMode RESPONSE_STREAM) or route streams around API Gateway.",
        """
        aws lambda create-function-url-config --function-name "$FN" --auth-type AWS_IAM --invoke-mode RESPONSE_STREAM""");
    add(GOOGLE_FRONTEND, List.of(HELD_UNTIL_END, EVENTS_HELD, IDLE_CUT), Source.DOCUMENTED,
        "Serve HTTP/2 end to end and raise the request timeout for streams.",
        """
        gcloud run services update "$SERVICE" --use-http2 --timeout=3600""");

    // ---- Application runtimes --------------------------------------------------------------------------
    add(PYTHON_ASGI, List.of(HELD_UNTIL_END, SIZE_BURSTS, CLOCK_BURSTS, EVENTS_HELD, GROUP_COMMIT, COMPRESSED_STREAM, HEADERS_MISSING),
        Source.DOCUMENTED,
        "Yield one event per token and let the loop write it; no GZipMiddleware on the stream; send the anti-buffering headers.",
        """
        async def events():
            async for token in model.stream(prompt):
                yield f"data: {json.dumps(token)}\\n\\n"
                await asyncio.sleep(0)          # hand the event to the transport now
        return StreamingResponse(events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})""");
    add(NODE, List.of(HELD_UNTIL_END, SIZE_BURSTS, CLOCK_BURSTS, EVENTS_HELD, GROUP_COMMIT, COMPRESSED_STREAM, HEADERS_MISSING),
        Source.DOCUMENTED,
        "Write each event at once, keep the compression middleware off event streams, set no-delay.",
        """
        res.writeHead(200, { 'Content-Type': 'text/event-stream',
          'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
        res.flushHeaders(); req.socket.setNoDelay(true);
        for await (const tok of stream) { res.write(`data: ${JSON.stringify(tok)}\\n\\n`); res.flush?.(); }
        // app.use(compression({ filter: (req, res) =>
        //   !String(res.getHeader('Content-Type')).startsWith('text/event-stream') && compression.filter(req, res) }))""");
    add(GO, List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD, HEADERS_MISSING), Source.DOCUMENTED,
        "net/http buffers ~4 KB per response: flush after every event.",
        """
        rc := http.NewResponseController(w)
        w.Header().Set("Content-Type", "text/event-stream")
        w.Header().Set("Cache-Control", "no-cache, no-transform")
        w.Header().Set("X-Accel-Buffering", "no")
        for tok := range tokens {
            fmt.Fprintf(w, "data: %s\\n\\n", tok)
            if err := rc.Flush(); err != nil { return }
        }""");
    add(SERVLET, List.of(HELD_UNTIL_END, SIZE_BURSTS, EVENTS_HELD, HEADERS_MISSING), Source.DOCUMENTED,
        "The servlet response buffer (8-32 KB) only flushes when full: flush per event, or use SseEmitter / Flux<ServerSentEvent>.",
        """
        response.setContentType("text/event-stream");
        response.setHeader("Cache-Control", "no-cache, no-transform");
        response.setHeader("X-Accel-Buffering", "no");
        PrintWriter out = response.getWriter();
        for (String tok : tokens) { out.write("data: " + tok + "\\n\\n"); response.flushBuffer(); }""");
    add(NETTY, List.of(SIZE_BURSTS, CLOCK_BURSTS, EVENTS_HELD, GROUP_COMMIT), Source.DOCUMENTED,
        "One event in, one writeAndFlush out; no FlushConsolidationHandler or timer flushes on the streaming path.",
        """
        ctx.writeAndFlush(new DefaultHttpContent(eventBytes));   // per event, not ctx.write + periodic flush
        serverBootstrap.childOption(ChannelOption.TCP_NODELAY, true);""");
    add(APP, List.of(GROUP_COMMIT, CLOCK_BURSTS, SIZE_BURSTS, EVENTS_HELD, HELD_UNTIL_END), Source.MEASURED,
        "Flush each event on its own connection when it is written; remove loops that flush all ready sockets every few ms "
            + "(tokenpipe sim reproduces this with group_commit).",
        """
        // per event, on that stream's connection:
        write(event); flush();          // not: pending.add(conn) ... every 200 ms: for (c : pending) c.flush()""");
    add(APP, List.of(HEADERS_MISSING), Source.MEASURED,
        "Send the headers that keep proxies from buffering and compressing the stream.",
        """
        Content-Type: text/event-stream
        Cache-Control: no-cache, no-transform
        X-Accel-Buffering: no""");
    add(APP, List.of(NO_HEARTBEATS, IDLE_CUT), Source.MEASURED,
        "Send an SSE comment while the model is quiet, so no idle timeout on the path fires (ALB 60 s, Cloudflare 100 s, NGINX 60 s).",
        """
        : ping\\n\\n      <- every 15 s without an event (tokenpipe serve does this for you)""");
    add(TOKENPIPE, List.of(IDLE_NOT_TESTED), Source.MEASURED,
        "Hold the idle probe quiet for longer than the heartbeat interval the server advertises (X-Tokenpipe-Heartbeat).",
        """
        ./tokenpipe doctor --idle-test 30s URL      # > serve's --heartbeat (15s by default), <= 120s""");
    add(TCP, List.of(NAGLE_STALLS), Source.MEASURED,
        "Disable Nagle on the server socket and write each event in one write (id, data and blank line together).",
        """
        Java:    socket.setTcpNoDelay(true)   |  Netty: childOption(ChannelOption.TCP_NODELAY, true)
        Go:      conn.(*net.TCPConn).SetNoDelay(true)
        Node:    req.socket.setNoDelay(true)
        Python:  sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        NGINX:   tcp_nodelay on;""");
    add(MODEL_SERVER, List.of(TOKEN_GROUPS), Source.DOCUMENTED,
        "Set the model server's stream interval to one token per event.",
        """
        vllm serve MODEL --stream-interval 1      # versions with stream batching
        python -m sglang.launch_server --model-path MODEL --stream-interval 1
        # Ray Serve LLM: lower or disable the response batching interval""");
    add(MODEL_SERVER, List.of(GROUP_COMMIT, CLOCK_BURSTS), Source.DOCUMENTED,
        "A response batcher in the serving layer releases all streams together: lower or disable its interval.",
        """
        # Ray Serve LLM: response batching interval (50 ms by default) -> smaller, or off""");
    add(TOKENPIPE, List.of(TOKEN_GROUPS, GROUP_COMMIT, CLOCK_BURSTS), Source.MEASURED,
        "This is tokenpipe sim's fault injection: drop 'burst' / 'group_commit' from the X-Tokenpipe-Sim profile or sim flags.",
        """
        tokenpipe sim --burst 1 --group-commit 0""");

    // ---- Which layers leave which signature, when no header names one ----------------------------------
    suspect(HELD_UNTIL_END, NGINX, AWS_API_GATEWAY, APP);
    suspect(COMPRESSED_STREAM, NGINX, HAPROXY, TRAEFIK, APP);
    suspect(SIZE_BURSTS, GO, SERVLET, NGINX);
    suspect(CLOCK_BURSTS, HAPROXY, APP, NETTY);
    suspect(NAGLE_STALLS, TCP);
    suspect(TOKEN_GROUPS, MODEL_SERVER);
    suspect(GROUP_COMMIT, APP, NETTY, MODEL_SERVER);
    suspect(EVENTS_HELD, NGINX, HAPROXY, APP);
    suspect(IDLE_CUT, NGINX, AWS_ALB, APP);
    suspect(NO_HEARTBEATS, APP);
    suspect(IDLE_NOT_TESTED, TOKENPIPE);
    suspect(HEADERS_MISSING, APP);
  }

  /** All (layer, problem) pairs that have a fix, for documentation and tests. */
  static List<Fix> all() {
    List<Fix> out = new ArrayList<>();
    FIXES.values().forEach(m -> out.addAll(m.values()));
    return out;
  }
}
