package dev.tokenpipe.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RequestTargetTest {
  @Test
  void theAbsoluteFormIsItsPathAndQuery() {
    assertThat(RequestTarget.originForm("http://127.0.0.1:8000/healthz")).isEqualTo("/healthz");
    assertThat(RequestTarget.originForm("https://h/v1/chat/completions?x=1")).isEqualTo("/v1/chat/completions?x=1");
    assertThat(RequestTarget.originForm("http://h")).isEqualTo("/");
    assertThat(RequestTarget.originForm("http://h?x=1")).as("a query before any path").isEqualTo("/?x=1");
    assertThat(RequestTarget.originForm("http://h/a?next=http://x/y")).isEqualTo("/a?next=http://x/y");
  }

  @Test
  void anyOtherFormIsUnchanged() {
    assertThat(RequestTarget.originForm("/v1/models")).isEqualTo("/v1/models");
    assertThat(RequestTarget.originForm("*")).isEqualTo("*");
    assertThat(RequestTarget.originForm("/http://not-absolute")).isEqualTo("/http://not-absolute");
  }
}
