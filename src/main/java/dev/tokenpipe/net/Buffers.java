package dev.tokenpipe.net;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;

/**
 * What a buffer that waits (queued for a slow client, held for failover) occupies in memory, which is its whole
 * buffer and not only its bytes: a read forwarded as it came occupies its receive buffer, a slice its parent.
 * Netty's adaptive receive buffer starts at 2 KiB, jumps to 64 KiB after one full read and shrinks one step per
 * two short reads, so a bound that counts bytes (a high-water mark, a hold limit) can hold several times itself
 * unless what waits is kept near its size ({@link #compact}).
 */
public final class Buffers {
  private Buffers() {}

  /** The buffer {@code b} is, or is a slice or duplicate of: the one that occupies its memory. */
  public static ByteBuf root(ByteBuf b) {
    ByteBuf root = b;
    for (ByteBuf parent; (parent = root.unwrap()) != null; ) {
      root = parent;
    }
    return root;
  }

  /** The memory {@code b} occupies in bytes: its root's capacity, summed over the parts of a composite. */
  public static long memory(ByteBuf b) {
    if (b instanceof CompositeByteBuf c) {
      long sum = 0;
      for (ByteBuf part : c) {
        sum += root(part).capacity();
      }
      return sum;
    }
    return root(b).capacity();
  }

  /**
   * {@code b}, or a copy of its readable bytes in a buffer of their size when {@code b} occupies more than twice
   * as many bytes of memory. A steady read (a receive buffer one size step above the reads) is not copied.
   * Takes ownership of {@code b}.
   */
  public static ByteBuf compact(ByteBufAllocator alloc, ByteBuf b) {
    int length = b.readableBytes();
    if (memory(b) <= 2L * length) {
      return b;
    }
    ByteBuf copy = null;
    try {
      copy = alloc.ioBuffer(length);
      copy(b, copy, length);
    } catch (RuntimeException | Error e) {
      if (copy != null) {
        copy.release();
      }
      throw e;
    } finally {
      b.release(); // owned: released whether or not the copy could be made
    }
    return copy;
  }

  /**
   * {@code text} in UTF-8, in a buffer of exactly its size ({@code ByteBufUtil.writeUtf8(alloc, text)} sizes its
   * buffer for 3 bytes per character).
   */
  public static ByteBuf utf8(ByteBufAllocator alloc, CharSequence text) {
    int length = ByteBufUtil.utf8Bytes(text);
    ByteBuf b = alloc.buffer(length);
    ByteBufUtil.reserveAndWriteUtf8(b, text, length); // writeUtf8(b, text) would grow b to 3 bytes per character
    return b;
  }

  /**
   * Copies {@code length} bytes from {@code from}'s reader index to {@code to}'s writer index, eight bytes per
   * read and write: {@code writeBytes(ByteBuf, ...)} between two direct buffers makes an NIO duplicate per call
   * (JMH: 60 bytes per relayed event, issue 15).
   */
  public static void copy(ByteBuf from, ByteBuf to, int length) {
    int i = from.readerIndex();
    int end = i + length;
    for (; i + 8 <= end; i += 8) {
      to.writeLong(from.getLong(i));
    }
    for (; i < end; i++) {
      to.writeByte(from.getByte(i));
    }
  }
}
