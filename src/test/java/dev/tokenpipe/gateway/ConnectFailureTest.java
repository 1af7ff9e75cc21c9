package dev.tokenpipe.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** {@link ConnectFailure#describe}: the few words of a log line, whichever transport worded the failure. */
class ConnectFailureTest {
  @Test
  void theTransportsWordingsBecomeTheReasonAlone() {
    assertThat(ConnectFailure.describe(new ConnectException(
        "finishConnect(..) failed with error(-111): Connection refused: /127.0.0.1:19099")))
        .as("epoll").isEqualTo("connection refused");
    assertThat(ConnectFailure.describe(new ConnectException("Connection refused: localhost/127.0.0.1:19099")))
        .as("NIO").isEqualTo("connection refused");
    assertThat(ConnectFailure.describe(new ConnectException(
        "finishConnect(..) failed with error(-113): No route to host: /10.0.0.5:8000"))).isEqualTo("no route to host");
    assertThat(ConnectFailure.describe(new ConnectTimeoutException("connection timed out after 100 ms: /10.0.0.5:8000")))
        .isEqualTo("connection timed out after 100 ms");
    assertThat(ConnectFailure.describe(new UnknownHostException("llm.internal"))).isEqualTo("unknown host llm.internal");
    assertThat(ConnectFailure.describe(new SSLHandshakeException("PKIX path building failed")))
        .as("an acronym keeps its case").isEqualTo("PKIX path building failed");
    assertThat(ConnectFailure.describe(new java.io.IOException())).isEqualTo("IOException");
  }
}
