/**
 * A small DER (ITU-T X.690 §10) encoder and a bounded, strict decoder: just what X.509, PKCS#10,
 * PKCS#7, CRLs and OCSP need. The decoder reads untrusted input (CSRs, OCSP requests), so it
 * rejects anything that is not canonical DER and bounds size, depth and node count.
 */
import { ZetaError } from '../common/errors.js';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tags: [n] primitive (IMPLICIT of a primitive type) and [n] constructed. */
export const ctxTag = (n: number): number => 0x80 | n;
export const ctxConsTag = (n: number): number => 0xa0 | n;

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/** Octets of a header for a value of `len` octets (short form, or long form up to 4 length octets). */
export function headerLength(len: number): number {
  if (len < 0x80) return 2;
  if (len < 0x100) return 3;
  if (len < 0x10000) return 4;
  if (len < 0x1000000) return 5;
  return 6;
}

/** Octets of a whole TLV whose content is `len` octets. */
export function tlvLength(len: number): number {
  return headerLength(len) + len;
}

/** Writes a tag and a minimal definite length at `off`; returns the offset after the header. */
export function writeHeaderAt(out: Buffer, off: number, tag: number, len: number): number {
  out[off] = tag;
  if (len < 0x80) {
    out[off + 1] = len;
    return off + 2;
  }
  const n = headerLength(len) - 2;
  out[off + 1] = 0x80 | n;
  for (let i = 0; i < n; i++) out[off + 2 + i] = (len >>> (8 * (n - 1 - i))) & 0xff;
  return off + 2 + n;
}

function writeHeader(out: Buffer, tag: number, len: number): number {
  return writeHeaderAt(out, 0, tag, len);
}

/** One TLV over the concatenation of `parts` (one allocation, no intermediate concat). */
export function encodeTlv(tag: number, ...parts: Buffer[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let off = writeHeader(out, tag, len);
  for (const p of parts) off += p.copy(out, off);
  return out;
}

export const encodeSequence = (...parts: Buffer[]): Buffer => encodeTlv(TAG.SEQUENCE, ...parts);

/** [n] EXPLICIT */
export const encodeExplicit = (n: number, ...inner: Buffer[]): Buffer => encodeTlv(ctxConsTag(n), ...inner);

export const encodeNull = (): Buffer => Buffer.from([TAG.NULL, 0]);

export const encodeBoolean = (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);

export const encodeOctetString = (b: Buffer): Buffer => encodeTlv(TAG.OCTET_STRING, b);

/** BIT STRING with zero unused bits (keys, signatures, hashes). */
export const encodeBitString = (b: Buffer): Buffer => encodeTlv(TAG.BIT_STRING, Buffer.from([0]), b);

/**
 * BIT STRING for named-bit lists (KeyUsage, ReasonFlags): DER drops trailing zero bits
 * (X.690 §11.2.2). `bits` are bit numbers, 0 = most significant bit of the first octet.
 */
export function encodeNamedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return Buffer.from([TAG.BIT_STRING, 1, 0]);
  const max = Math.max(...bits);
  const bytes = Buffer.alloc((max >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (max & 7);
  return encodeTlv(TAG.BIT_STRING, Buffer.from([unused]), bytes);
}

/** INTEGER from an unsigned big-endian magnitude (serial numbers). */
export function encodeUnsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  if (m.length === 0) return Buffer.from([TAG.INTEGER, 1, 0]);
  return (m[0]! & 0x80) !== 0 ? encodeTlv(TAG.INTEGER, Buffer.from([0]), m) : encodeTlv(TAG.INTEGER, m);
}

export function encodeInteger(v: bigint | number): Buffer {
  let n = BigInt(v);
  if (n < 0n) throw new ZetaError('ZETA_ERR_INTERNAL', 'negative INTEGER not supported');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  return encodeUnsignedInteger(Buffer.from(bytes));
}

export function encodeEnumerated(v: number): Buffer {
  return Buffer.concat([Buffer.from([TAG.ENUMERATED]), encodeInteger(v).subarray(1)]);
}

/** OBJECT IDENTIFIER from dotted form (X.690 §8.19); called at module load, not per issuance. */
export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => {
    if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new ZetaError('ZETA_ERR_INTERNAL', `bad OID ${dotted}`);
    return BigInt(s);
  });
  if (arcs.length < 2 || arcs[0]! > 2n || (arcs[0]! < 2n && arcs[1]! > 39n)) {
    throw new ZetaError('ZETA_ERR_INTERNAL', `bad OID ${dotted}`);
  }
  const out: number[] = [];
  const first = arcs[0]! * 40n + arcs[1]!;
  for (const arc of [first, ...arcs.slice(2)]) {
    const chunk: number[] = [];
    let a = arc;
    do {
      chunk.unshift(Number(a & 0x7fn) | (chunk.length === 0 ? 0 : 0x80));
      a >>= 7n;
    } while (a > 0n);
    out.push(...chunk);
  }
  return encodeTlv(TAG.OID, Buffer.from(out));
}

export const encodeUtf8String = (s: string): Buffer => encodeTlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));

/** IA5String: callers must have checked the string is ASCII (URIs, DNS names). */
export const encodeIa5String = (s: string, tag: number = TAG.IA5_STRING): Buffer =>
  encodeTlv(tag, Buffer.from(s, 'latin1'));

function writeDigits(out: Buffer, off: number, v: number, n: number): void {
  for (let i = n - 1; i >= 0; i--) {
    out[off + i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function isGeneralized(d: Date): boolean {
  return d.getUTCFullYear() >= 2050;
}

/** Octets of encodeTime(d). */
export function timeTlvLength(d: Date): number {
  return isGeneralized(d) ? 17 : 15;
}

/** Writes YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ as a TLV at `off` (no string building); returns the end. */
export function writeTimeAt(out: Buffer, off: number, d: Date, fullYear: boolean = isGeneralized(d)): number {
  const yl = fullYear ? 4 : 2;
  out[off] = fullYear ? TAG.GENERALIZED_TIME : TAG.UTC_TIME;
  out[off + 1] = yl + 11;
  let o = off + 2;
  writeDigits(out, o, fullYear ? d.getUTCFullYear() : d.getUTCFullYear() % 100, yl);
  o += yl;
  writeDigits(out, o, d.getUTCMonth() + 1, 2);
  writeDigits(out, o + 2, d.getUTCDate(), 2);
  writeDigits(out, o + 4, d.getUTCHours(), 2);
  writeDigits(out, o + 6, d.getUTCMinutes(), 2);
  writeDigits(out, o + 8, d.getUTCSeconds(), 2);
  out[o + 10] = 0x5a; // 'Z'
  return o + 11;
}

function encodeTimeTlv(d: Date, fullYear: boolean): Buffer {
  const out = Buffer.allocUnsafe(fullYear ? 17 : 15);
  writeTimeAt(out, 0, d, fullYear);
  return out;
}

export function checkTimeRange(d: Date): void {
  const y = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || y < 1950 || y > 9999) {
    throw new ZetaError('ZETA_ERR_VALIDATION', 'date out of the encodable range (1950..9999)');
  }
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; seconds, no fraction. */
export function encodeTime(d: Date): Buffer {
  checkTimeRange(d);
  return encodeTimeTlv(d, isGeneralized(d));
}

/** GeneralizedTime always (RFC 6960 §4.2.2.1 producedAt/thisUpdate/nextUpdate). */
export function encodeGeneralizedTime(d: Date): Buffer {
  checkTimeRange(d);
  return encodeTimeTlv(d, true);
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

export interface DerLimits {
  /** Largest input accepted, in bytes. */
  maxBytes?: number;
  /** Deepest nesting of constructed values. */
  maxDepth?: number;
  /** Most TLVs in one input. */
  maxNodes?: number;
}

const DEFAULT_LIMITS: Required<DerLimits> = { maxBytes: 64 * 1024, maxDepth: 24, maxNodes: 4096 };

function malformed(internal: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', 'Malformed DER', { internal });
}

/** One decoded TLV. Offsets point into `buf`; content is copied out only on request. */
export class DerNode {
  constructor(
    readonly buf: Buffer,
    readonly tag: number,
    readonly start: number,
    readonly contentStart: number,
    readonly end: number,
    readonly children: readonly DerNode[] | undefined,
  ) {}

  get length(): number {
    return this.end - this.contentStart;
  }

  /** The content octets (a view, not a copy). */
  content(): Buffer {
    return this.buf.subarray(this.contentStart, this.end);
  }

  /** The whole TLV (a view, not a copy). */
  der(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  is(tag: number): boolean {
    return this.tag === tag;
  }

  expect(tag: number, what: string): this {
    if (this.tag !== tag) throw malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${this.tag.toString(16)}`);
    return this;
  }

  /** Children of a constructed value; throws for primitives. */
  items(what: string): readonly DerNode[] {
    if (this.children === undefined) throw malformed(`${what}: expected a constructed value`);
    return this.children;
  }

  /** Child `i`, which must exist and (if given) carry `tag`. */
  at(i: number, what: string, tag?: number): DerNode {
    const c = this.items(what)[i];
    if (c === undefined) throw malformed(`${what}: missing element ${i}`);
    return tag === undefined ? c : c.expect(tag, what);
  }

  /** Asserts the number of children lies in [min, max]. */
  count(min: number, max: number, what: string): readonly DerNode[] {
    const items = this.items(what);
    if (items.length < min || items.length > max) throw malformed(`${what}: ${items.length} elements, expected ${min}..${max}`);
    return items;
  }
}

function readLength(buf: Buffer, pos: number, end: number): { len: number; next: number } {
  if (pos >= end) throw malformed('truncated length');
  const first = buf[pos]!;
  if (first < 0x80) return { len: first, next: pos + 1 };
  // X.690 §10.1: definite form only.
  if (first === 0x80) throw malformed('indefinite length');
  const n = first & 0x7f;
  if (n > 4) throw malformed(`length of ${n} octets`);
  if (pos + 1 + n > end) throw malformed('truncated length');
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 1 + i]!;
  // X.690 §10.1: minimum number of octets.
  if (len < 0x80 || buf[pos + 1] === 0) throw malformed('non-minimal length');
  return { len, next: pos + 1 + n };
}

interface DecodeState {
  nodes: number;
  readonly maxNodes: number;
  readonly maxDepth: number;
}

function decodeAt(buf: Buffer, pos: number, limit: number, depth: number, st: DecodeState): DerNode {
  if (++st.nodes > st.maxNodes) throw malformed('too many elements');
  if (pos >= limit) throw malformed('truncated tag');
  const tag = buf[pos]!;
  // Every structure we read uses low tag numbers (< 31); EOC (0) never appears in DER.
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag number form');
  if (tag === 0) throw malformed('end-of-contents octets');
  const { len, next } = readLength(buf, pos + 1, limit);
  const end = next + len;
  if (end > limit) throw malformed('length exceeds the enclosing value');
  const constructed = (tag & 0x20) !== 0;
  const universal = (tag & 0xc0) === 0;
  // X.690 §10.2: DER strings are primitive; only SEQUENCE and SET are constructed universals.
  if (universal && constructed && tag !== TAG.SEQUENCE && tag !== TAG.SET) throw malformed(`constructed universal tag 0x${tag.toString(16)}`);
  if (universal && !constructed && (tag === 0x10 || tag === 0x11)) throw malformed('primitive SEQUENCE/SET');
  let children: DerNode[] | undefined;
  if (constructed) {
    if (depth + 1 > st.maxDepth) throw malformed('nesting too deep');
    children = [];
    let p = next;
    while (p < end) {
      const c = decodeAt(buf, p, end, depth + 1, st);
      children.push(c);
      p = c.end;
    }
  }
  return new DerNode(buf, tag, pos, next, end, children);
}

/**
 * Decodes exactly one DER value spanning all of `buf` (no trailing bytes), recursing into every
 * constructed value. Throws ZETA_ERR_VALIDATION; callers re-label it for their protocol.
 */
export function decodeDer(buf: Buffer, limits: DerLimits = {}): DerNode {
  const maxBytes = limits.maxBytes ?? DEFAULT_LIMITS.maxBytes;
  if (buf.length > maxBytes) throw malformed(`input of ${buf.length} bytes exceeds ${maxBytes}`);
  if (buf.length === 0) throw malformed('empty input');
  const st: DecodeState = {
    nodes: 0,
    maxNodes: limits.maxNodes ?? DEFAULT_LIMITS.maxNodes,
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
  };
  const root = decodeAt(buf, 0, buf.length, 0, st);
  if (root.end !== buf.length) throw malformed(`${buf.length - root.end} trailing bytes`);
  return root;
}

// --- typed readers ----------------------------------------------------------------------------

/** INTEGER content, checked minimal (X.690 §8.3.2); returns the two's-complement octets. */
export function readIntegerBytes(n: DerNode, what: string): Buffer {
  n.expect(TAG.INTEGER, what);
  const c = n.content();
  if (c.length === 0) throw malformed(`${what}: empty INTEGER`);
  if (c.length > 1 && ((c[0] === 0 && (c[1]! & 0x80) === 0) || (c[0] === 0xff && (c[1]! & 0x80) !== 0))) {
    throw malformed(`${what}: non-minimal INTEGER`);
  }
  return c;
}

/** A non-negative INTEGER that fits in a JS number (versions, small counters). */
export function readSmallInteger(n: DerNode, what: string, tag: number = TAG.INTEGER): number {
  if (n.tag !== tag) n.expect(tag, what);
  const c = n.tag === TAG.INTEGER ? readIntegerBytes(n, what) : n.content();
  if (c.length === 0 || c.length > 6 || (c[0]! & 0x80) !== 0) throw malformed(`${what}: INTEGER out of range`);
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** Positive INTEGER magnitude as lower-case hex without a leading 00 (serial numbers). */
export function readSerialHex(n: DerNode, what: string): string {
  const c = readIntegerBytes(n, what);
  if ((c[0]! & 0x80) !== 0) throw malformed(`${what}: negative serial`);
  const m = c[0] === 0 && c.length > 1 ? c.subarray(1) : c;
  return m.toString('hex');
}

export function readOid(n: DerNode, what: string): string {
  n.expect(TAG.OID, what);
  const c = n.content();
  if (c.length === 0 || c.length > 64) throw malformed(`${what}: bad OID length`);
  const arcs: number[] = [];
  let v = 0;
  let fresh = true;
  for (const b of c) {
    // X.690 §8.19.2: no leading 0x80 padding in a sub-identifier.
    if (fresh && b === 0x80) throw malformed(`${what}: non-minimal OID`);
    if (v > 2 ** 45) throw malformed(`${what}: OID arc too large`);
    v = v * 128 + (b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(v);
      v = 0;
    }
  }
  if (!fresh) throw malformed(`${what}: truncated OID`);
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** BIT STRING whose length is a whole number of octets (keys, signatures). */
export function readBitStringBytes(n: DerNode, what: string): Buffer {
  n.expect(TAG.BIT_STRING, what);
  const c = n.content();
  if (c.length === 0) throw malformed(`${what}: empty BIT STRING`);
  if (c[0] !== 0) throw malformed(`${what}: BIT STRING with unused bits`);
  return c.subarray(1);
}

export function readOctetString(n: DerNode, what: string): Buffer {
  return n.expect(TAG.OCTET_STRING, what).content();
}

export function readBoolean(n: DerNode, what: string): boolean {
  n.expect(TAG.BOOLEAN, what);
  const c = n.content();
  // X.690 §11.1: TRUE is 0xFF in DER.
  if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) throw malformed(`${what}: bad BOOLEAN`);
  return c[0] === 0xff;
}

function digitsAt(buf: Buffer, off: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = buf[off + i]!;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile (Z, seconds, no fraction); epoch ms. */
export function readTimeMs(buf: Buffer, tag: number, contentStart: number, end: number, what: string): number {
  const len = end - contentStart;
  let year: number;
  let o = contentStart;
  if (tag === TAG.UTC_TIME && len === 13) {
    const yy = digitsAt(buf, o, 2);
    year = yy < 0 ? -1 : yy >= 50 ? 1900 + yy : 2000 + yy; // §4.1.2.5.1
    o += 2;
  } else if (tag === TAG.GENERALIZED_TIME && len === 15) {
    year = digitsAt(buf, o, 4);
    o += 4;
  } else {
    throw malformed(`${what}: bad time`);
  }
  const mo = digitsAt(buf, o, 2);
  const d = digitsAt(buf, o + 2, 2);
  const h = digitsAt(buf, o + 4, 2);
  const mi = digitsAt(buf, o + 6, 2);
  const sec = digitsAt(buf, o + 8, 2);
  if (buf[o + 10] !== 0x5a || year < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) {
    throw malformed(`${what}: bad time`);
  }
  const t = Date.UTC(year, mo - 1, d, h, mi, sec);
  if (new Date(t).getUTCDate() !== d) throw malformed(`${what}: impossible date`);
  return t;
}

export function readTime(n: DerNode, what: string): Date {
  return new Date(readTimeMs(n.buf, n.tag, n.contentStart, n.end, what));
}

/**
 * Header of the TLV at `pos` (strict DER, bounded by `limit`) without building a tree: for
 * walking our own output on the hot path. Untrusted input goes through decodeDer.
 */
export interface DerHeader {
  tag: number;
  contentStart: number;
  end: number;
}

export function readHeader(buf: Buffer, pos: number, limit: number, tag?: number): DerHeader {
  if (pos >= limit) throw malformed('truncated tag');
  const t = buf[pos]!;
  if (tag !== undefined && t !== tag) throw malformed(`expected tag 0x${tag.toString(16)}, got 0x${t.toString(16)}`);
  const { len, next } = readLength(buf, pos + 1, limit);
  if (next + len > limit) throw malformed('length exceeds the enclosing value');
  return { tag: t, contentStart: next, end: next + len };
}

/** Re-labels a decoder error with the protocol's own code; other errors pass through. */
export function relabelDerError(e: unknown, code: 'ZETA_ERR_CSR_MALFORMED' | 'ZETA_ERR_OCSP_MALFORMED' | 'ZETA_ERR_KEY_REFUSED', message: string): unknown {
  if (e instanceof ZetaError && e.code === 'ZETA_ERR_VALIDATION') {
    return new ZetaError(code, message, { internal: e.internal ?? e.message, cause: e });
  }
  return e;
}
