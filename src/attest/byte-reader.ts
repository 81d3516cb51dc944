import { ZetaError } from '../common/errors.js';

/**
 * A bounded cursor over untrusted bytes. TPM structures are big-endian (TPM 2.0 Part 1 §9.3);
 * the TCG PC Client event log is little-endian (PFP §10.2), hence both. Every read checks the
 * remaining length first, so a lying size field is a ZETA_ERR_TPM_MALFORMED, never an over-read.
 */
export class ByteReader {
  readonly #buf: Buffer;
  readonly #what: string;
  #off = 0;

  constructor(buf: Buffer, what: string) {
    this.#buf = buf;
    this.#what = what;
  }

  get offset(): number {
    return this.#off;
  }

  get remaining(): number {
    return this.#buf.length - this.#off;
  }

  fail(detail: string): never {
    throw new ZetaError('ZETA_ERR_TPM_MALFORMED', `Malformed ${this.#what}: ${detail}.`, { internal: `${this.#what} at offset ${this.#off}: ${detail}` });
  }

  #need(n: number, field: string): void {
    if (n > this.remaining) this.fail(`${field} needs ${n} bytes, ${this.remaining} left`);
  }

  u8(field = 'u8'): number {
    this.#need(1, field);
    return this.#buf.readUInt8(this.#off++);
  }

  u16(field = 'u16'): number {
    this.#need(2, field);
    const v = this.#buf.readUInt16BE(this.#off);
    this.#off += 2;
    return v;
  }

  u32(field = 'u32'): number {
    this.#need(4, field);
    const v = this.#buf.readUInt32BE(this.#off);
    this.#off += 4;
    return v;
  }

  u64(field = 'u64'): bigint {
    this.#need(8, field);
    const v = this.#buf.readBigUInt64BE(this.#off);
    this.#off += 8;
    return v;
  }

  u16le(field = 'u16'): number {
    this.#need(2, field);
    const v = this.#buf.readUInt16LE(this.#off);
    this.#off += 2;
    return v;
  }

  u32le(field = 'u32'): number {
    this.#need(4, field);
    const v = this.#buf.readUInt32LE(this.#off);
    this.#off += 4;
    return v;
  }

  u64le(field = 'u64'): bigint {
    this.#need(8, field);
    const v = this.#buf.readBigUInt64LE(this.#off);
    this.#off += 8;
    return v;
  }

  /** A copy, so later mutation of the input cannot change a parsed structure. */
  bytes(n: number, field = 'bytes'): Buffer {
    this.#need(n, field);
    const v = Buffer.from(this.#buf.subarray(this.#off, this.#off + n));
    this.#off += n;
    return v;
  }

  /** TPM2B_*: UINT16 size then that many bytes (Part 2 §10.4); `max` is the structure's own bound. */
  tpm2b(field: string, max: number): Buffer {
    const n = this.u16(`${field}.size`);
    if (n > max) this.fail(`${field} is ${n} bytes, at most ${max} allowed`);
    return this.bytes(n, field);
  }

  /** Raw view of [start, current offset): used to hash exactly the bytes a structure came from. */
  slice(start: number): Buffer {
    return Buffer.from(this.#buf.subarray(start, this.#off));
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`);
  }
}

/** Big-endian writer for the few structures Zeta builds (credential blobs). */
export function u16be(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function tpm2b(data: Buffer): Buffer {
  return Buffer.concat([u16be(data.length), data]);
}

/** TPM2B wrapper of a whole TPMS or TPMT structure: accept both shapes, return the inner bytes. */
export function unwrapTpm2b(buf: Buffer, looksLikeInner: (b: Buffer) => boolean): Buffer {
  if (buf.length >= 2 && buf.readUInt16BE(0) === buf.length - 2 && looksLikeInner(buf.subarray(2))) return buf.subarray(2);
  return buf;
}
