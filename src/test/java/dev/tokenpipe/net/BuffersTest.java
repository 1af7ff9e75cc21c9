package dev.tokenpipe.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

/**
 * net.Buffers.compact "takes ownership of b": whatever happens, the caller must not release it again, so
 * compact must release it on every path. When the copy cannot be allocated (direct memory exhausted: Netty's
 * OutOfDirectMemoryError), b is neither returned nor released: every caller (ClientStream.hold, writeMeasured,
 * forwardChunk, HedgeAttempt.hold) has handed over its reference, and the buffer (a read's 64 KiB receive
 * buffer, a slice of it) is never freed.
 */
class BuffersTest {

  @Test
  void compactReleasesTheBufferItOwnsWhenItsCopyCannotBeAllocated() {
    ByteBufAllocator exhausted = new AbstractByteBufAllocator(true) {
      @Override
      protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
        throw new OutOfMemoryError("Cannot reserve " + initialCapacity + " bytes of heap buffer memory");
      }

      @Override
      protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
        throw new OutOfMemoryError("Cannot reserve " + initialCapacity + " bytes of direct buffer memory");
      }

      @Override
      public boolean isDirectBufferPooled() {
        return false;
      }
    };
    ByteBuf read = Unpooled.directBuffer(64 * 1024).writeBytes("data: {}\n\n".getBytes());

    Throwable thrown = catchThrowable(() -> Buffers.compact(exhausted, read));

    assertThat(thrown).isInstanceOf(OutOfMemoryError.class);
    assertThat(read.refCnt()).as("references left on a buffer compact took ownership of").isZero();
  }
}
