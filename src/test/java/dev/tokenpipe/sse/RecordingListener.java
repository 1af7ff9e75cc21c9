package dev.tokenpipe.sse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Collects everything a parser reports, in order, so tests can compare whole outcomes. */
final class RecordingListener implements SseListener {
  final List<SseEvent> events = new ArrayList<>();
  final List<String> comments = new ArrayList<>();
  final List<Long> retries = new ArrayList<>();

  @Override
  public void onEvent(SseEvent event) {
    events.add(event);
  }

  @Override
  public void onComment(String comment) {
    comments.add(comment);
  }

  @Override
  public void onRetry(long millis) {
    retries.add(millis);
  }

  /** Feeds the whole stream in one call, then ends it. */
  static RecordingListener parse(String stream) {
    return parse(stream.getBytes(StandardCharsets.UTF_8));
  }

  static RecordingListener parse(byte[] stream) {
    RecordingListener recorder = new RecordingListener();
    SseParser parser = new SseParser(recorder);
    parser.feed(stream, 0, stream.length);
    parser.end();
    return recorder;
  }

  /** Everything that was recorded, for one-assertion comparisons between feeding strategies. */
  List<Object> all() {
    return List.of(events, comments, retries);
  }

  static SseEvent message(String data) {
    return new SseEvent("message", data, "");
  }
}
