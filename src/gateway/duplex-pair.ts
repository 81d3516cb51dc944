/** Two connected in-memory Duplex streams (Node 20 has no stream.duplexPair): the embedded broker's "socket". */
import { Duplex } from 'node:stream';

class Half extends Duplex {
  peer: Half | null = null;
  #wantRead = false;
  #pending: { chunk: Buffer; cb: (e?: Error | null) => void } | null = null;

  override _read(): void {
    this.#wantRead = true;
    const peer = this.peer;
    const p = peer === null ? null : peer.#pending;
    if (p !== null && peer !== null) {
      peer.#pending = null;
      this.#wantRead = this.push(p.chunk);
      p.cb();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === null || peer.destroyed) {
      cb();
      return;
    }
    // Backpressure: hold the callback until the reader asks for more.
    if (peer.#wantRead) {
      peer.#wantRead = peer.push(chunk);
      cb();
    } else {
      this.#pending = { chunk, cb };
    }
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.peer?.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    const peer = this.peer;
    const p = this.#pending;
    this.#pending = null;
    if (p !== null) p.cb();
    this.peer = null;
    if (peer !== null) {
      peer.peer = null;
      if (!peer.destroyed) peer.destroy();
    }
    cb(err);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new Half();
  const b = new Half();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
