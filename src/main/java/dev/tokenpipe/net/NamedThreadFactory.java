package dev.tokenpipe.net;

import io.netty.util.concurrent.DefaultThreadFactory;

/** Event-loop threads with a recognisable name in thread dumps and profiles. */
final class NamedThreadFactory extends DefaultThreadFactory {
  NamedThreadFactory(String prefix) {
    super(prefix, false);
  }
}
