package dev.tokenpipe.doctor;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Every layer doctor can name, with the response headers that give it away. Part of the knowledge base: the
 * fixes for each layer are in {@link KnowledgeBase}; nothing here knows about timing.
 */
public enum Layer {
  NGINX("NGINX", Kind.PROXY, fp("server", "^(nginx|openresty)")),
  INGRESS_NGINX("ingress-nginx (Kubernetes)", Kind.PROXY),
  HAPROXY("HAProxy", Kind.PROXY, fp("via", "haproxy"), fp("server", "haproxy")),
  ENVOY("Envoy", Kind.PROXY, fp("server", "^envoy"), fp("x-envoy-upstream-service-time", ""), fp("x-envoy-decorator-operation", "")),
  CADDY("Caddy", Kind.PROXY, fp("server", "^caddy"), fp("via", "caddy")),
  APACHE("Apache httpd", Kind.PROXY, fp("server", "^apache(?!-coyote)")),
  VARNISH("Varnish", Kind.PROXY, fp("x-varnish", ""), fp("via", "varnish")),
  TRAEFIK("Traefik", Kind.PROXY, fp("server", "traefik")),
  CLOUDFLARE("Cloudflare", Kind.CDN, fp("cf-ray", ""), fp("server", "^cloudflare")),
  CLOUDFRONT("Amazon CloudFront", Kind.CDN, fp("x-amz-cf-id", ""), fp("via", "cloudfront")),
  FASTLY("Fastly", Kind.CDN, fp("x-served-by", "^cache-"), fp("fastly-debug-digest", "")),
  AWS_ALB("AWS Application Load Balancer", Kind.PROXY, fp("server", "^awselb")),
  AWS_API_GATEWAY("AWS API Gateway", Kind.PROXY, fp("x-amz-apigw-id", ""), fp("x-amzn-requestid", "")),
  GOOGLE_FRONTEND("Google Cloud load balancer / Cloud Run", Kind.CDN, fp("via", "google"), fp("server", "^google frontend")),
  PYTHON_ASGI("Python ASGI server (uvicorn, hypercorn, FastAPI/Starlette)", Kind.RUNTIME,
      fp("server", "^(uvicorn|hypercorn|gunicorn|daphne)")),
  NODE("Node.js (Express and others)", Kind.RUNTIME, fp("x-powered-by", "express|next\\.js|node")),
  GO("Go net/http", Kind.RUNTIME),
  SERVLET("Java Servlet container (Tomcat, Jetty, Spring MVC)", Kind.RUNTIME,
      fp("server", "^(jetty|apache-coyote|tomcat|undertow)"), fp("x-powered-by", "servlet")),
  NETTY("Netty", Kind.RUNTIME),
  TCP("TCP socket options of the sending server", Kind.RUNTIME),
  APP("The application or runtime that writes the stream", Kind.RUNTIME),
  MODEL_SERVER("Model server scheduler (vLLM, SGLang, Ray Serve)", Kind.MODEL, fp("server", "vllm|sglang|text-generation")),
  TOKENPIPE("tokenpipe", Kind.RUNTIME, fp("server", "^tokenpipe"), fp("x-tokenpipe-upstream", ""));

  /** Where a layer sits; proxies and CDNs are in front of the runtime, which is in front of the model. */
  public enum Kind { CDN, PROXY, RUNTIME, MODEL }

  /** A header that identifies a layer: present (empty pattern) or with a value matching {@code pattern}. */
  public record Fingerprint(String header, Pattern pattern) {
    /** The header line that matched, e.g. {@code "Server: nginx/1.22.1"}, or null. */
    String match(String name, String value) {
      if (!header.equalsIgnoreCase(name)) {
        return null;
      }
      return pattern.pattern().isEmpty() || pattern.matcher(value.toLowerCase(Locale.ROOT)).find()
          ? name + ": " + value : null;
    }
  }

  private final String displayName;
  private final Kind kind;
  private final List<Fingerprint> fingerprints;

  Layer(String displayName, Kind kind, Fingerprint... fingerprints) {
    this.displayName = displayName;
    this.kind = kind;
    this.fingerprints = List.of(fingerprints);
  }

  private static Fingerprint fp(String header, String regex) {
    return new Fingerprint(header, Pattern.compile(regex));
  }

  public String displayName() {
    return displayName;
  }

  public Kind kind() {
    return kind;
  }

  public List<Fingerprint> fingerprints() {
    return fingerprints;
  }

  /** Stable machine name for JSON: {@code nginx}, {@code aws-alb}. */
  public String key() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
