/**
 * Splits a byte stream into whole MQTT control packets before anything parses them, so the size
 * bound holds before any allocation the packet asks for (size → structure). Fixed header: one byte,
 * then the Remaining Length as a variable byte integer of at most four bytes ([MQTT-1.5.5-1]).
 */

export class FrameError extends Error {
  constructor(
    message: string,
    readonly kind: 'malformed' | 'too_large',
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

const EMPTY = Buffer.alloc(0);

export class Framer {
  #buf: Buffer = EMPTY;
  readonly #maxBytes: number;

  constructor(maxPacketBytes: number) {
    this.#maxBytes = maxPacketBytes;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  get buffered(): number {
    return this.#buf.length;
  }

  /** The next whole packet, `null` when more bytes are needed; throws FrameError on bad framing. */
  next(): Buffer | null {
    const b = this.#buf;
    if (b.length < 2) return null;
    let len = 0;
    let mul = 1;
    let i = 1;
    for (;;) {
      if (i >= b.length) {
        if (i > 4) throw new FrameError('remaining length longer than four bytes', 'malformed');
        return null;
      }
      const byte = b[i]!;
      len += (byte & 0x7f) * mul;
      i++;
      if ((byte & 0x80) === 0) break;
      if (i > 4) throw new FrameError('remaining length longer than four bytes', 'malformed');
      mul *= 128;
    }
    const total = i + len;
    // Checked on the header alone: an oversized packet is refused before its body arrives.
    if (total > this.#maxBytes) throw new FrameError(`packet of ${total} bytes exceeds ${this.#maxBytes}`, 'too_large');
    if (b.length < total) return null;
    const frame = b.subarray(0, total);
    this.#buf = b.length === total ? EMPTY : b.subarray(total);
    return frame;
  }

  /** Drops buffered bytes (closing connection). */
  clear(): void {
    this.#buf = EMPTY;
  }
}
