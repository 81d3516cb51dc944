/**
 * X.509 building blocks (RFC 5280): names, extensions, general names, and a reader for the
 * certificates Zeta itself holds (its CAs, and its own output during re-verification).
 */
import { hash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { ZetaError } from '../common/errors.js';
import {
  ctxConsTag,
  ctxTag,
  decodeDer,
  encodeBoolean,
  encodeExplicit,
  encodeIa5String,
  encodeInteger,
  encodeNamedBits,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeTime,
  encodeTlv,
  encodeUtf8String,
  readBitStringBytes,
  readBoolean,
  readOctetString,
  readOid,
  readSerialHex,
  readSmallInteger,
  readTime,
  TAG,
  type DerNode,
} from './der.js';
import { OID } from './oids.js';

// --- names ------------------------------------------------------------------------------------

const OID_DER = new Map<string, Buffer>();

/** encodeOid, memoised: the hot path must not redo BigInt arithmetic for constant OIDs. */
export function oidDer(oid: string): Buffer {
  let b = OID_DER.get(oid);
  if (b === undefined) {
    b = encodeOid(oid);
    OID_DER.set(oid, b);
  }
  return b;
}

/** A single-attribute RDN with a UTF8String value (RFC 5280 §4.1.2.4). */
export function encodeRdn(oid: string, value: string): Buffer {
  return encodeTlv(TAG.SET, encodeSequence(oidDer(oid), encodeUtf8String(value)));
}

/** Name as an RDNSequence of single-attribute RDNs, O then CN; UTF8String (RFC 5280 §4.1.2.6). */
export function encodeName(o: { commonName: string; organization?: string | undefined }): Buffer {
  const rdns: Buffer[] = [];
  if (o.organization !== undefined && o.organization !== '') rdns.push(encodeRdn(OID.organizationName, o.organization));
  rdns.push(encodeRdn(OID.commonName, o.commonName));
  return encodeSequence(...rdns);
}

/** Version [0] EXPLICIT v3 (RFC 5280 §4.1.2.1). */
export const VERSION_V3 = encodeExplicit(0, encodeInteger(2));

export function encodeValidity(notBefore: Date, notAfter: Date): Buffer {
  return encodeSequence(encodeTime(notBefore), encodeTime(notAfter));
}

// --- extensions (RFC 5280 §4.2) -----------------------------------------------------------------

export function encodeExtension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? encodeSequence(encodeOid(oid), encodeBoolean(true), encodeOctetString(value))
    : encodeSequence(encodeOid(oid), encodeOctetString(value)); // DEFAULT FALSE is omitted in DER
}

/** §4.2.1.9; always critical. */
export function basicConstraintsExt(ca: boolean, pathLen?: number): Buffer {
  const parts: Buffer[] = [];
  if (ca) parts.push(encodeBoolean(true));
  if (ca && pathLen !== undefined) parts.push(encodeInteger(pathLen));
  return encodeExtension(OID.basicConstraints, true, encodeSequence(...parts));
}

export const KEY_USAGE = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

/** §4.2.1.3; critical. */
export function keyUsageExt(bits: readonly number[]): Buffer {
  return encodeExtension(OID.keyUsage, true, encodeNamedBits(bits));
}

/** §4.2.1.12 */
export function extKeyUsageExt(oids: readonly string[]): Buffer {
  return encodeExtension(OID.extKeyUsage, false, encodeSequence(...oids.map(encodeOid)));
}

/** RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey bits. */
export function keyIdentifier(publicKey: Buffer): Buffer {
  return hash('sha256', publicKey, 'buffer').subarray(0, 20);
}

/** §4.2.1.2 */
export function subjectKeyIdentifierExt(ski: Buffer): Buffer {
  return encodeExtension(OID.subjectKeyIdentifier, false, encodeOctetString(ski));
}

/** §4.2.1.1: keyIdentifier [0] only. */
export function authorityKeyIdentifierExt(ski: Buffer): Buffer {
  return encodeExtension(OID.authorityKeyIdentifier, false, encodeSequence(encodeTlv(ctxTag(0), ski)));
}

// GeneralName tags (§4.2.1.6), IMPLICIT
export const GN = { dNSName: 2, uniformResourceIdentifier: 6, iPAddress: 7 } as const;

const IA5_RE = /^[\x20-\x7e]+$/;

export function encodeUriName(uri: string): Buffer {
  if (!IA5_RE.test(uri)) throw new ZetaError('ZETA_ERR_VALIDATION', 'URI must be printable ASCII (IA5String).');
  return encodeIa5String(uri, ctxTag(GN.uniformResourceIdentifier));
}

const DNS_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function encodeDnsName(name: string): Buffer {
  // §4.2.1.6: preferred name syntax, lower-cased; no trailing dot.
  if (name.length > 253 || !DNS_RE.test(name)) throw new ZetaError('ZETA_ERR_VALIDATION', `Invalid DNS name ${JSON.stringify(name)}.`);
  return encodeIa5String(name, ctxTag(GN.dNSName));
}

export function ipToBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v !== 6 || ip.includes('%')) throw new ZetaError('ZETA_ERR_VALIDATION', `Invalid IP address ${JSON.stringify(ip)}.`);
  // isIP has checked the syntax; expand '::' and an embedded IPv4 tail (RFC 4291 §2.2).
  let s = ip;
  let tail: number[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m !== null) {
    const [a, b, c, d] = m[2]!.split('.').map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    s = m[1]!.endsWith('::') ? m[1]! : m[1]!.slice(0, -1);
  }
  const words = (p: string): number[] => (p === '' ? [] : p.split(':').map((h) => parseInt(h, 16)));
  const gap = s.indexOf('::');
  let all: number[];
  if (gap < 0) {
    all = [...words(s), ...tail];
  } else {
    const head = words(s.slice(0, gap));
    const rest = words(s.slice(gap + 2));
    all = [...head, ...new Array<number>(8 - tail.length - head.length - rest.length).fill(0), ...rest, ...tail];
  }
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

export function encodeIpName(ip: string): Buffer {
  return encodeTlv(ctxTag(GN.iPAddress), ipToBytes(ip));
}

export function subjectAltNameExt(names: readonly Buffer[], critical = false): Buffer {
  return encodeExtension(OID.subjectAltName, critical, encodeSequence(...names));
}

/** §4.2.2.1 AuthorityInfoAccess: OCSP then caIssuers. */
export function authorityInfoAccessExt(ocspUrl: string, caIssuersUrl: string): Buffer {
  return encodeExtension(
    OID.authorityInfoAccess,
    false,
    encodeSequence(
      encodeSequence(encodeOid(OID.adOcsp), encodeUriName(ocspUrl)),
      encodeSequence(encodeOid(OID.adCaIssuers), encodeUriName(caIssuersUrl)),
    ),
  );
}

/** §4.2.1.13: one DistributionPoint with a fullName URI. */
export function crlDistributionPointsExt(url: string): Buffer {
  // DistributionPoint.distributionPoint [0] → DistributionPointName.fullName [0] (constructed: GeneralNames)
  return encodeExtension(
    OID.cRLDistributionPoints,
    false,
    encodeSequence(encodeSequence(encodeTlv(ctxConsTag(0), encodeTlv(ctxConsTag(0), encodeUriName(url))))),
  );
}

/** The extensions field: [3] EXPLICIT SEQUENCE OF Extension. */
export function encodeExtensions(exts: readonly Buffer[]): Buffer {
  return encodeExplicit(3, encodeSequence(...exts));
}

// --- reading --------------------------------------------------------------------------------

export interface CertExtension {
  readonly critical: boolean;
  readonly value: Buffer;
}

export interface ParsedCertificate {
  readonly tbsDer: Buffer;
  readonly serialHex: string;
  readonly signatureAlgorithmOid: string;
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectDer: Buffer;
  readonly spkiDer: Buffer;
  readonly spkiNode: DerNode;
  readonly extensions: ReadonlyMap<string, CertExtension>;
  readonly signature: Buffer;
}

/** Reads a certificate's fields (RFC 5280 §4.1). Throws ZETA_ERR_VALIDATION on malformed input. */
export function parseCertificate(der: Buffer, maxBytes = 64 * 1024): ParsedCertificate {
  const cert = decodeDer(der, { maxBytes, maxDepth: 12 }).expect(TAG.SEQUENCE, 'Certificate');
  const [tbs, sigAlg, sig] = cert.count(3, 3, 'Certificate') as [DerNode, DerNode, DerNode];
  const items = tbs.expect(TAG.SEQUENCE, 'TBSCertificate').items('TBSCertificate');
  let i = 0;
  const next = (what: string): DerNode => {
    const n = items[i++];
    if (n === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'Malformed certificate', { internal: `missing ${what}` });
    return n;
  };
  if (items[0]?.tag === ctxConsTag(0)) {
    const v = readSmallInteger(next('version').at(0, 'version'), 'version');
    if (v !== 2) throw new ZetaError('ZETA_ERR_VALIDATION', 'Malformed certificate', { internal: `version ${v + 1}` });
  }
  const serialHex = readSerialHex(next('serialNumber'), 'serialNumber');
  const innerSigAlg = next('signature').expect(TAG.SEQUENCE, 'signature');
  const issuer = next('issuer').expect(TAG.SEQUENCE, 'issuer');
  const validity = next('validity').expect(TAG.SEQUENCE, 'validity');
  const [nb, na] = validity.count(2, 2, 'validity') as [DerNode, DerNode];
  const subject = next('subject').expect(TAG.SEQUENCE, 'subject');
  const spki = next('subjectPublicKeyInfo').expect(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const extensions = new Map<string, CertExtension>();
  for (; i < items.length; i++) {
    const n = items[i]!;
    if (n.tag !== ctxConsTag(3)) continue; // issuer/subjectUniqueID: ignored
    for (const ext of n.at(0, 'extensions', TAG.SEQUENCE).items('extensions')) {
      const e = ext.expect(TAG.SEQUENCE, 'Extension').count(2, 3, 'Extension');
      const oid = readOid(e[0]!, 'extnID');
      const critical = e.length === 3 ? readBoolean(e[1]!, 'critical') : false;
      // §4.2: a certificate MUST NOT include more than one instance of an extension.
      if (extensions.has(oid)) throw new ZetaError('ZETA_ERR_VALIDATION', 'Malformed certificate', { internal: `duplicate extension ${oid}` });
      extensions.set(oid, { critical, value: readOctetString(e[e.length - 1]!, 'extnValue') });
    }
  }
  const sigAlgOid = readOid(sigAlg.expect(TAG.SEQUENCE, 'signatureAlgorithm').at(0, 'algorithm'), 'algorithm');
  // §4.1.1.2: the outer and inner algorithm identifiers must match.
  if (!sigAlg.der().equals(innerSigAlg.der())) throw new ZetaError('ZETA_ERR_VALIDATION', 'Malformed certificate', { internal: 'signature algorithm mismatch' });
  return {
    tbsDer: tbs.der(),
    serialHex,
    signatureAlgorithmOid: sigAlgOid,
    issuerDer: issuer.der(),
    notBefore: readTime(nb, 'notBefore'),
    notAfter: readTime(na, 'notAfter'),
    subjectDer: subject.der(),
    spkiDer: spki.der(),
    spkiNode: spki,
    extensions,
    signature: readBitStringBytes(sig, 'signatureValue'),
  };
}

/** subjectKeyIdentifier value if present. */
export function readSubjectKeyIdentifier(ext: CertExtension | undefined): Buffer | undefined {
  if (ext === undefined) return undefined;
  return readOctetString(decodeDer(ext.value, { maxBytes: 256, maxDepth: 1 }), 'subjectKeyIdentifier');
}

/** BasicConstraints cA flag. */
export function readIsCa(ext: CertExtension | undefined): boolean {
  if (ext === undefined) return false;
  const seq = decodeDer(ext.value, { maxBytes: 256, maxDepth: 2 }).expect(TAG.SEQUENCE, 'BasicConstraints');
  const first = seq.items('BasicConstraints')[0];
  return first !== undefined && first.tag === TAG.BOOLEAN && readBoolean(first, 'cA');
}

// --- serials and times ------------------------------------------------------------------------

const POOL_SIZE = 16 * 256;
let pool = Buffer.alloc(0);
let poolOffset = POOL_SIZE;

/** Writes 16 random octets at `off`; refilled from the CSPRNG in blocks (one syscall per 256 serials). */
function random16At(out: Buffer, off: number): void {
  if (poolOffset + 16 > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  pool.copy(out, off, poolOffset, poolOffset + 16);
  pool.fill(0, poolOffset, poolOffset + 16); // a served serial does not linger in the pool
  poolOffset += 16;
}

/** Octets randomSerial() and writeRandomSerialAt() produce. */
export const RANDOM_SERIAL_LENGTH = 16;

/**
 * Writes a fresh serial magnitude at `off` (RANDOM_SERIAL_LENGTH octets): 126 random bits,
 * positive (RFC 5280 §4.1.2.2: positive, ≤ 20 octets; CA/B BR §7.1: ≥ 64 bits of CSPRNG output).
 * The top bits are fixed to 01 so the encoding is always 16 octets, minimal, and never needs a 00
 * pad. Lets the hot path put the serial straight into the certificate it is building.
 */
export function writeRandomSerialAt(out: Buffer, off: number): void {
  random16At(out, off);
  out[off] = (out[off]! & 0x3f) | 0x40;
}

/** A fresh serial as its own Buffer; see writeRandomSerialAt. */
export function randomSerial(): Buffer {
  const s = Buffer.allocUnsafe(RANDOM_SERIAL_LENGTH);
  writeRandomSerialAt(s, 0);
  return s;
}

/** Checks a caller-chosen serial (RFC 5280 §4.1.2.2) and returns its minimal magnitude. */
export function normalizeSerial(serial: Buffer): Buffer {
  let i = 0;
  while (i < serial.length && serial[i] === 0) i++;
  const m = serial.subarray(i);
  if (m.length === 0) throw new ZetaError('ZETA_ERR_VALIDATION', 'The serial number must be positive.');
  // 20 octets including a 00 pad when the top bit is set.
  if (m.length + ((m[0]! & 0x80) !== 0 ? 1 : 0) > 20) throw new ZetaError('ZETA_ERR_VALIDATION', 'The serial number is longer than 20 octets.');
  return m;
}

/** X.509 times carry whole seconds; issued certificates report what they encode. */
export function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
