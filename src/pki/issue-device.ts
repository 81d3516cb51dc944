/**
 * Device certificate issuance as a pipeline of named stages:
 *   authorize → constraints → template → sign → re-verify
 * (cf. spiffe/spire pkg/server/ca, smallstep sign_options). Any failure is ZETA_ERR_ISSUANCE naming
 * the stage, and nothing is returned.
 *
 * Hot path: the issuer's Name, algorithm identifiers and the extensions that do not change are
 * encoded once per issuer (cached on its CaInfo); an issuance is one sized write of those parts plus
 * this device's fields into one buffer that also has room for the signature, one sign and one
 * verify. Re-verification does not parse the finished certificate each time (X509Certificate's
 * parse costs more than a P-256 signature):
 * - every certificate: the bytes signed are exactly the bytes the template stage encoded, the
 *   signature in the DER verifies over the TBSCertificate in the DER with the issuer's public key,
 *   and the device's own fields (id, key, SPIFFE URI, validity) sit where the template put them;
 * - the first certificate of each shape (issuer × key type × trust domain × URL set): also a full
 *   strict re-read compared field by field with the request, OpenSSL's parse (X509Certificate:
 *   verify, checkIssued, SAN) and our full decoder (parseCertificate: the exact extension set).
 *   The template is deterministic, so what passed once for a shape holds for the rest of it.
 */
import { hash, X509Certificate } from 'node:crypto';
import { ID_PATTERN } from '../common/ids.js';
import { ZetaError } from '../common/errors.js';
import { describeCa, type CaCert, type CaInfo } from './ca.js';
import { checkTimeRange, headerLength, readHeader, readTimeMs, TAG, tlvLength, writeHeaderAt } from './der.js';
import { KEY_TYPES, spkiParts, verifySignature, type KeyType, type KeyTypeInfo } from './key-types.js';
import { OID } from './oids.js';
import { toPem } from './pem.js';
import {
  authorityInfoAccessExt,
  authorityKeyIdentifierExt,
  basicConstraintsExt,
  crlDistributionPointsExt,
  encodeRdn,
  encodeValidity,
  extKeyUsageExt,
  GN,
  keyUsageExt,
  normalizeSerial,
  oidDer,
  parseCertificate,
  RANDOM_SERIAL_LENGTH,
  subjectKeyIdentifierExt,
  VERSION_V3,
  writeRandomSerialAt,
} from './x509.js';

export interface DeviceCertRequest {
  deviceId: string;
  trustDomain: string;
  /** DER SubjectPublicKeyInfo, typically from parseCsr. */
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  ocspUrl: string;
  caIssuersUrl: string;
  crlUrl: string;
  /** Serial magnitude; default 16 random octets, positive. */
  serial?: Buffer;
  /** Recorded by the caller; not encoded (no registered OID says "TPM-resident key"). */
  tpmResident?: boolean;
}

export interface IssuedCert {
  der: Buffer;
  pem: string;
  /** Lower-case hex, no leading 00. */
  serialHex: string;
  /** SHA-256 of the certificate DER, lower-case hex. */
  fingerprintSha256: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex. */
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  spiffeId: string;
  keyType: KeyType;
}

export type IssuanceStage = 'authorize' | 'constraints' | 'template' | 'sign' | 're-verify';

/** SPIFFE trust domain: lower-case letters, digits, '.', '-', '_' (SPIFFE ID spec §2.1). */
const TRUST_DOMAIN_RE = /^[a-z0-9._-]{1,255}$/;
const URL_CACHE_LIMIT = 16;

/** AIA ‖ CRLDP for one URL triple; `checked` once a certificate carrying it passed the full check. */
interface UrlEntry {
  readonly ocsp: string;
  readonly caIssuers: string;
  readonly crl: string;
  readonly ext: Buffer;
  checked: boolean;
}

/** "O=<trust domain>" RDN; `checked` as for UrlEntry. */
interface OrgEntry {
  readonly rdn: Buffer;
  checked: boolean;
}

/** The last Validity encoded (certificates issued in the same second share it). */
interface ValidityEntry {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly tlv: Buffer;
}

/** What every device certificate from one issuer shares, encoded once. */
interface DeviceTemplate {
  /** signature AlgorithmIdentifier ‖ issuer Name */
  readonly algAndIssuer: Buffer;
  readonly signatureAlgorithmDer: Buffer;
  /** basicConstraints ‖ keyUsage ‖ extKeyUsage, per subject key type (KU differs for Ed25519). */
  readonly fixedExtensions: Readonly<Record<KeyType, Buffer>>;
  /** Subject key types whose certificates passed the full check. */
  readonly checkedKeyTypes: Set<KeyType>;
  readonly aki: Buffer;
  /** SKI extension minus its final 20 octets. */
  readonly skiPrefix: Buffer;
  /** Per trust domain. */
  readonly orgRdn: Map<string, OrgEntry>;
  /** Per URL triple (checked once when first seen); a short list, scanned. */
  readonly urlExtensions: UrlEntry[];
  /** Longest signature value the issuer's key type produces: room reserved after the TBS. */
  readonly maxSignatureLength: number;
  validity: ValidityEntry | undefined;
  /** For X509Certificate#checkIssued in the full check; made on first use. */
  issuerX509: X509Certificate | undefined;
}

/** ECDSA-Sig-Value with both INTEGERs at their longest (RFC 3279 §2.2.3), or Ed25519's 64 octets. */
function maxSignatureLength(info: KeyTypeInfo): number {
  if (info.hash === null) return 64; // RFC 8032 §5.1.6
  const coordinate = (info.publicKeyLength - 1) / 2;
  return tlvLength(2 * tlvLength(coordinate + 1));
}

function templateOf(ca: CaInfo): DeviceTemplate {
  const hit = ca.templates.get('device') as DeviceTemplate | undefined;
  if (hit !== undefined) return hit;
  const fixed = (kt: KeyType): Buffer =>
    Buffer.concat([
      basicConstraintsExt(false),
      keyUsageExt(KEY_TYPES[kt].leafKeyUsageBits),
      // RFC 5280 §4.2.1.12: client authentication only; device certs do not serve TLS.
      extKeyUsageExt([OID.kpClientAuth]),
    ]);
  const skiSample = subjectKeyIdentifierExt(Buffer.alloc(20));
  const t: DeviceTemplate = {
    algAndIssuer: Buffer.concat([ca.keyInfo.signatureAlgorithmDer, ca.subjectDer]),
    signatureAlgorithmDer: ca.keyInfo.signatureAlgorithmDer,
    fixedExtensions: { p256: fixed('p256'), p384: fixed('p384'), ed25519: fixed('ed25519') },
    checkedKeyTypes: new Set(),
    aki: authorityKeyIdentifierExt(ca.ski),
    skiPrefix: skiSample.subarray(0, skiSample.length - 20),
    orgRdn: new Map(),
    urlExtensions: [],
    maxSignatureLength: maxSignatureLength(ca.keyInfo),
    validity: undefined,
    issuerX509: undefined,
  };
  ca.templates.set('device', t);
  return t;
}

function refuse(message: string, internal?: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', message, internal === undefined ? {} : { internal });
}

function checkUrl(u: string, what: string): void {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw refuse(`The ${what} URL is not a URL.`, u);
  }
  // RFC 5280 §4.2.1.13, §4.2.2.1: plain http(s) so relying parties can fetch without TLS loops; IA5 only.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !/^[\x21-\x7e]+$/.test(u)) throw refuse(`The ${what} URL must be an ASCII http(s) URL.`, u);
}

function urlEntryOf(t: DeviceTemplate, r: Readonly<DeviceCertRequest>): UrlEntry {
  for (const u of t.urlExtensions) {
    if (u.ocsp === r.ocspUrl && u.caIssuers === r.caIssuersUrl && u.crl === r.crlUrl) return u;
  }
  checkUrl(r.ocspUrl, 'OCSP');
  checkUrl(r.caIssuersUrl, 'CA issuers');
  checkUrl(r.crlUrl, 'CRL');
  const ext = Buffer.concat([authorityInfoAccessExt(r.ocspUrl, r.caIssuersUrl), crlDistributionPointsExt(r.crlUrl)]);
  const entry: UrlEntry = { ocsp: r.ocspUrl, caIssuers: r.caIssuersUrl, crl: r.crlUrl, ext, checked: false };
  if (t.urlExtensions.length >= URL_CACHE_LIMIT) t.urlExtensions.shift();
  t.urlExtensions.push(entry);
  return entry;
}

function orgEntryOf(t: DeviceTemplate, trustDomain: string): OrgEntry {
  const hit = t.orgRdn.get(trustDomain);
  if (hit !== undefined) return hit;
  if (typeof trustDomain !== 'string' || !TRUST_DOMAIN_RE.test(trustDomain)) throw refuse('The trust domain is not a valid SPIFFE trust domain.', String(trustDomain));
  const entry: OrgEntry = { rdn: encodeRdn(OID.organizationName, trustDomain), checked: false };
  if (t.orgRdn.size >= URL_CACHE_LIMIT) t.orgRdn.clear();
  t.orgRdn.set(trustDomain, entry);
  return entry;
}

/** X.509 times carry whole seconds; issued certificates report what they encode. */
function floorMs(d: Date): number {
  return Math.floor(d.getTime() / 1000) * 1000;
}

/**
 * The Validity for [notBefore, notAfter] (already floored), checked against the issuer: reused while
 * the pair stays the same. A new encoding is decoded once and compared before it is used.
 */
function validityOf(t: DeviceTemplate, issuer: CaInfo, nbMs: number, naMs: number): ValidityEntry {
  const hit = t.validity;
  if (hit !== undefined && hit.notBeforeMs === nbMs && hit.notAfterMs === naMs) return hit;
  const notBefore = new Date(nbMs);
  const notAfter = new Date(naMs);
  checkTimeRange(notBefore);
  checkTimeRange(notAfter);
  if (nbMs >= naMs) throw refuse('notBefore must be before notAfter.', `${notBefore.toISOString()} / ${notAfter.toISOString()}`);
  // RFC 5280 §6.1.3 (a)(2): a certificate outliving its issuer stops verifying; never issue one.
  if (naMs > issuer.notAfter.getTime()) {
    throw refuse('notAfter is later than the issuing CA notAfter.', `${notAfter.toISOString()} > ${issuer.notAfter.toISOString()}`);
  }
  const tlv = encodeValidity(notBefore, notAfter);
  const seq = readHeader(tlv, 0, tlv.length, TAG.SEQUENCE);
  const nb = readHeader(tlv, seq.contentStart, seq.end);
  const na = readHeader(tlv, nb.end, seq.end);
  if (
    na.end !== tlv.length ||
    readTimeMs(tlv, nb.tag, nb.contentStart, nb.end, 'notBefore') !== nbMs ||
    readTimeMs(tlv, na.tag, na.contentStart, na.end, 'notAfter') !== naMs
  ) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'validity does not round-trip', { internal: `${notBefore.toISOString()} / ${notAfter.toISOString()}` });
  }
  const entry: ValidityEntry = { notBeforeMs: nbMs, notAfterMs: naMs, tlv };
  t.validity = entry;
  return entry;
}

// --- stages -------------------------------------------------------------------------------------

interface Checked {
  readonly ca: CaCert;
  readonly issuer: CaInfo;
  readonly template: DeviceTemplate;
  readonly keyType: KeyType;
  readonly subjectPublicKey: Buffer;
  /** Caller-chosen magnitude, or null for a fresh random one written in place. */
  readonly serial: Buffer | null;
  readonly validity: ValidityEntry;
  readonly spiffeId: string;
  readonly org: OrgEntry;
  readonly url: UrlEntry;
}

/** constraints: identity syntax, key type, validity inside the issuer's, URLs, serial. */
function checkConstraints(req: Readonly<DeviceCertRequest>, ca: CaCert): Checked {
  if (typeof req.deviceId !== 'string' || !ID_PATTERN.test(req.deviceId)) throw refuse('The device id is not valid.', JSON.stringify(req.deviceId));
  const issuer = describeCa(ca);
  if (!issuer.isCa) throw refuse('The issuer is not a CA.', ca.id);
  const template = templateOf(issuer);
  const org = orgEntryOf(template, req.trustDomain);
  // The registry decides the key type; anything it does not know is ZETA_ERR_KEY_REFUSED.
  const { keyType, publicKey } = spkiParts(req.spki);
  const validity = validityOf(template, issuer, floorMs(req.notBefore), floorMs(req.notAfter));
  const url = urlEntryOf(template, req);
  const serial = req.serial === undefined ? null : normalizeSerial(req.serial);
  return {
    ca,
    issuer,
    template,
    keyType,
    subjectPublicKey: publicKey,
    serial,
    validity,
    spiffeId: `spiffe://${req.trustDomain}/device/${req.deviceId}`,
    org,
    url,
  };
}

const CN_ATTR_PREFIX = oidDer(OID.commonName);
const SAN_OID = oidDer(OID.subjectAltName);
const URI_TAG = 0x80 | GN.uniformResourceIdentifier;
const SAN_OID_CONTENT = SAN_OID.subarray(2);

/** Copies `src` into `out` at `o` (TypedArray#set: a plain memmove); returns the offset after it. */
function put(out: Buffer, o: number, src: Uint8Array): number {
  out.set(src, o);
  return o + src.length;
}

/**
 * The certificate being built: one buffer holding the TBSCertificate at [tbsStart, tbsEnd) with
 * room before it for the Certificate header and after it for signatureAlgorithm and the signature.
 * Field offsets are absolute positions in `buf`.
 */
interface Draft {
  buf: Buffer;
  tbsStart: number;
  tbsEnd: number;
  serialAt: number;
  serialEnd: number;
  idAt: number;
  spkiAt: number;
  uriAt: number;
  uriEnd: number;
  /** Set by assembleCertificate: the Certificate is buf[derStart, sigEnd), its signature value at sigAt. */
  derStart: number;
  sigAt: number;
  sigEnd: number;
}

/** The encoded TBS, kept to prove the signer signed exactly it (see reverify). */
let shadow = Buffer.alloc(2048);

/**
 * template: TBSCertificate (RFC 5280 §4.1) from the precomputed parts plus this device's fields,
 * sized first and written in one pass into one buffer (this runs once per certificate).
 */
function buildTbs(req: Readonly<DeviceCertRequest>, c: Checked): Draft {
  const t = c.template;
  const id = req.deviceId; // ASCII (ID_PATTERN): octets = characters
  const uri = c.spiffeId; // ASCII (trust domain and id patterns)
  const fixed = t.fixedExtensions[c.keyType];
  const serialMagnitude = c.serial === null ? RANDOM_SERIAL_LENGTH : c.serial.length;
  const pad = c.serial !== null && (c.serial[0]! & 0x80) !== 0 ? 1 : 0;
  const serialLen = serialMagnitude + pad;
  const cnAttrLen = CN_ATTR_PREFIX.length + tlvLength(id.length);
  const cnRdnLen = tlvLength(tlvLength(cnAttrLen));
  const subjectLen = c.org.rdn.length + cnRdnLen;
  const uriLen = tlvLength(uri.length);
  const sanValueLen = tlvLength(uriLen);
  const sanLen = SAN_OID.length + tlvLength(sanValueLen);
  const extListLen = fixed.length + t.skiPrefix.length + 20 + t.aki.length + tlvLength(sanLen) + c.url.ext.length;
  const extLen = tlvLength(extListLen);
  const tbsLen =
    VERSION_V3.length +
    tlvLength(serialLen) +
    t.algAndIssuer.length +
    c.validity.tlv.length +
    tlvLength(subjectLen) +
    req.spki.length +
    tlvLength(extLen);
  const tbsTlvLen = tlvLength(tbsLen);
  const maxCert = tbsTlvLen + t.signatureAlgorithmDer.length + tlvLength(1 + t.maxSignatureLength);
  const tbsStart = headerLength(maxCert);

  const out = Buffer.allocUnsafe(tbsStart + maxCert);
  let o = writeHeaderAt(out, tbsStart, TAG.SEQUENCE, tbsLen);
  o = put(out, o, VERSION_V3);
  o = writeHeaderAt(out, o, TAG.INTEGER, serialLen);
  if (pad === 1) out[o++] = 0;
  const serialAt = o;
  if (c.serial === null) writeRandomSerialAt(out, o);
  else out.set(c.serial, o);
  o += serialMagnitude;
  o = put(out, o, t.algAndIssuer);
  o = put(out, o, c.validity.tlv);
  // subject: O=<trust domain>, CN=<device id> (UTF8String, §4.1.2.6)
  o = writeHeaderAt(out, o, TAG.SEQUENCE, subjectLen);
  o = put(out, o, c.org.rdn);
  o = writeHeaderAt(out, o, TAG.SET, tlvLength(cnAttrLen));
  o = writeHeaderAt(out, o, TAG.SEQUENCE, cnAttrLen);
  o = put(out, o, CN_ATTR_PREFIX);
  o = writeHeaderAt(out, o, TAG.UTF8_STRING, id.length);
  const idAt = o;
  o += out.write(id, o, 'latin1');
  const spkiAt = o;
  o = put(out, o, req.spki);
  o = writeHeaderAt(out, o, 0xa3, extLen); // [3] EXPLICIT Extensions
  o = writeHeaderAt(out, o, TAG.SEQUENCE, extListLen);
  o = put(out, o, fixed);
  o = put(out, o, t.skiPrefix);
  // SKI, RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 over the subjectPublicKey bits
  // (as hex: the one-shot digest is cheaper that way than as a Buffer).
  o += out.write(hash('sha256', c.subjectPublicKey, 'hex'), o, 20, 'hex');
  o = put(out, o, t.aki);
  // §4.2.1.6: SAN non-critical, the subject Name is not empty.
  o = writeHeaderAt(out, o, TAG.SEQUENCE, sanLen);
  o = put(out, o, SAN_OID);
  o = writeHeaderAt(out, o, TAG.OCTET_STRING, sanValueLen);
  o = writeHeaderAt(out, o, TAG.SEQUENCE, uriLen);
  o = writeHeaderAt(out, o, URI_TAG, uri.length);
  const uriAt = o;
  o += out.write(uri, o, 'latin1');
  const uriEnd = o;
  o = put(out, o, c.url.ext);
  if (o !== tbsStart + tbsTlvLen) throw new ZetaError('ZETA_ERR_INTERNAL', 'template size mismatch', { internal: `${o - tbsStart} != ${tbsTlvLen}` });
  if (shadow.length < tbsTlvLen) shadow = Buffer.alloc(Math.max(tbsTlvLen, 2 * shadow.length));
  out.copy(shadow, 0, tbsStart, o);
  return { buf: out, tbsStart, tbsEnd: o, serialAt, serialEnd: serialAt + serialMagnitude, idAt, spkiAt, uriAt, uriEnd, derStart: 0, sigAt: 0, sigEnd: 0 };
}

/**
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, BIT STRING signatureValue }, around
 * the TBS already in place; returns the DER (a view of d.buf).
 */
function assembleCertificate(d: Draft, alg: Buffer, signature: Buffer): Buffer {
  const tbsLen = d.tbsEnd - d.tbsStart;
  const bitsLen = signature.length + 1;
  const len = tbsLen + alg.length + tlvLength(bitsLen);
  const h = headerLength(len);
  if (h > d.tbsStart || d.tbsStart + len > d.buf.length) {
    // A signature longer than the key type allows will not verify; still build the DER it asks for.
    const grown = Buffer.allocUnsafe(h + len);
    d.buf.copy(grown, h, d.tbsStart, d.tbsEnd);
    const shift = h - d.tbsStart;
    d.buf = grown;
    d.tbsStart += shift;
    d.tbsEnd += shift;
    d.serialAt += shift;
    d.serialEnd += shift;
    d.idAt += shift;
    d.spkiAt += shift;
    d.uriAt += shift;
    d.uriEnd += shift;
  }
  const out = d.buf;
  d.derStart = d.tbsStart - h;
  writeHeaderAt(out, d.derStart, TAG.SEQUENCE, len);
  let o = put(out, d.tbsEnd, alg);
  o = writeHeaderAt(out, o, TAG.BIT_STRING, bitsLen);
  out[o++] = 0;
  d.sigAt = o;
  d.sigEnd = put(out, o, signature);
  return out.subarray(d.derStart, d.sigEnd);
}

function mismatch(what: string): ZetaError {
  return new ZetaError('ZETA_ERR_INTERNAL', 'certificate differs from the request', { internal: `${what} differs after re-read` });
}

/** Compares buf[start, end) with `want` without allocating a view. */
function same(buf: Buffer, start: number, end: number, want: Buffer): boolean {
  return end - start === want.length && buf.compare(want, 0, want.length, start, end) === 0;
}

/**
 * re-verify, every certificate: the TBS in the DER is byte for byte the one the template stage
 * encoded (a signer cannot have changed what it was given), the signature value in the DER
 * verifies over it with the issuer's public key, and the device's own fields are where the template
 * put them. The first certificate of a shape also gets the full check (fullCheck).
 */
function reverify(req: Readonly<DeviceCertRequest>, c: Checked, d: Draft, der: Buffer): void {
  const out = d.buf;
  if (out.compare(shadow, 0, d.tbsEnd - d.tbsStart, d.tbsStart, d.tbsEnd) !== 0) throw mismatch('TBSCertificate (changed while signing)');
  if (!verifySignature(c.issuer.keyInfo.hash, c.issuer.publicKey, out.subarray(d.tbsStart, d.tbsEnd), out.subarray(d.sigAt, d.sigEnd))) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'signature does not verify', { internal: 'the signer produced a signature the issuer key does not verify' });
  }
  if (
    out.toString('latin1', d.idAt, d.idAt + req.deviceId.length) !== req.deviceId ||
    out.toString('latin1', d.uriAt, d.uriEnd) !== c.spiffeId ||
    !same(out, d.spkiAt, d.spkiAt + req.spki.length, req.spki) ||
    (c.serial !== null && !same(out, d.serialAt, d.serialEnd, c.serial))
  ) {
    throw mismatch('device fields');
  }
  const t = c.template;
  if (!t.checkedKeyTypes.has(c.keyType) || !c.org.checked || !c.url.checked) {
    fullCheck(req, c, der);
    t.checkedKeyTypes.add(c.keyType);
    c.org.checked = true;
    c.url.checked = true;
  }
}

/**
 * The full check, once per shape: a strict re-read of the finished DER compared field by field with
 * the request (serial, validity, issuer, key, SAN URI), then OpenSSL's own parse and our full decoder.
 */
function fullCheck(req: Readonly<DeviceCertRequest>, c: Checked, der: Buffer): void {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (RFC 5280 §4.1)
  const cert = readHeader(der, 0, der.length, TAG.SEQUENCE);
  if (cert.end !== der.length) throw mismatch('certificate length');
  const t = readHeader(der, cert.contentStart, cert.end, TAG.SEQUENCE);
  const alg = readHeader(der, t.end, cert.end, TAG.SEQUENCE);
  if (!same(der, t.end, alg.end, c.template.signatureAlgorithmDer)) throw mismatch('signatureAlgorithm');
  const sig = readHeader(der, alg.end, cert.end, TAG.BIT_STRING);
  if (sig.end !== cert.end || der[sig.contentStart] !== 0) throw mismatch('signatureValue');

  const version = readHeader(der, t.contentStart, t.end, 0xa0);
  if (!same(der, t.contentStart, version.end, VERSION_V3)) throw mismatch('version');
  const serial = readHeader(der, version.end, t.end, TAG.INTEGER);
  const pad = der[serial.contentStart] === 0 ? 1 : 0;
  if (c.serial !== null && !same(der, serial.contentStart + pad, serial.end, c.serial)) throw mismatch('serial');
  if (c.serial === null && (serial.end - serial.contentStart !== RANDOM_SERIAL_LENGTH || (der[serial.contentStart]! & 0xc0) !== 0x40)) throw mismatch('serial');
  const inner = readHeader(der, serial.end, t.end, TAG.SEQUENCE);
  const issuerName = readHeader(der, inner.end, t.end, TAG.SEQUENCE);
  if (!same(der, serial.end, issuerName.end, c.template.algAndIssuer)) throw mismatch('signature or issuer');
  const validity = readHeader(der, issuerName.end, t.end, TAG.SEQUENCE);
  const nb = readHeader(der, validity.contentStart, validity.end);
  const na = readHeader(der, nb.end, validity.end);
  if (
    na.end !== validity.end ||
    readTimeMs(der, nb.tag, nb.contentStart, nb.end, 'notBefore') !== c.validity.notBeforeMs ||
    readTimeMs(der, na.tag, na.contentStart, na.end, 'notAfter') !== c.validity.notAfterMs
  ) {
    throw mismatch('validity');
  }
  const subject = readHeader(der, validity.end, t.end, TAG.SEQUENCE);
  const spki = readHeader(der, subject.end, t.end, TAG.SEQUENCE);
  if (!same(der, subject.end, spki.end, req.spki)) throw mismatch('subject public key');
  const exts = readHeader(der, spki.end, t.end, 0xa3);
  if (exts.end !== t.end) throw mismatch('TBSCertificate length');
  const list = readHeader(der, exts.contentStart, exts.end, TAG.SEQUENCE);
  let uris = 0;
  for (let p = list.contentStart; p < list.end; ) {
    const ext = readHeader(der, p, list.end, TAG.SEQUENCE);
    const id = readHeader(der, ext.contentStart, ext.end, TAG.OID);
    if (same(der, id.contentStart, id.end, SAN_OID_CONTENT)) {
      const value = readHeader(der, id.end, ext.end, TAG.OCTET_STRING);
      const names = readHeader(der, value.contentStart, value.end, TAG.SEQUENCE);
      for (let q = names.contentStart; q < names.end; ) {
        const gn = readHeader(der, q, names.end);
        if (gn.tag !== URI_TAG || der.toString('latin1', gn.contentStart, gn.end) !== c.spiffeId) throw mismatch('SAN');
        uris++;
        q = gn.end;
      }
    }
    p = ext.end;
  }
  if (uris !== 1) throw mismatch('SAN URI count');

  // OpenSSL, the relying parties' parser: it must accept what we made and agree on the basics.
  let x: X509Certificate;
  try {
    x = new X509Certificate(der);
  } catch (e) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'certificate differs from the request', { internal: `OpenSSL does not parse it: ${String(e)}` });
  }
  const tpl = c.template;
  tpl.issuerX509 ??= new X509Certificate(c.ca.certDer);
  if (!x.verify(c.issuer.publicKey) || !x.checkIssued(tpl.issuerX509)) throw mismatch('issuer (OpenSSL)');
  if (x.subjectAltName !== `URI:${c.spiffeId}`) throw mismatch('SAN (OpenSSL)');
  if (x.ca) throw mismatch('basicConstraints (OpenSSL)');
  if (new Date(x.validFrom).getTime() !== c.validity.notBeforeMs || new Date(x.validTo).getTime() !== c.validity.notAfterMs) throw mismatch('validity (OpenSSL)');
  // Our full decoder: the exact extension set, each once, with the criticality the profile says.
  const parsed = parseCertificate(der);
  const want: Readonly<Record<string, boolean>> = {
    [OID.basicConstraints]: true,
    [OID.keyUsage]: true,
    [OID.extKeyUsage]: false,
    [OID.subjectKeyIdentifier]: false,
    [OID.authorityKeyIdentifier]: false,
    [OID.subjectAltName]: false,
    [OID.authorityInfoAccess]: false,
    [OID.cRLDistributionPoints]: false,
  };
  if (parsed.extensions.size !== Object.keys(want).length) throw mismatch('extension set');
  for (const [oid, ext] of parsed.extensions) {
    if (want[oid] !== ext.critical) throw mismatch(`extension ${oid}`);
  }
  if (!parsed.spkiDer.equals(req.spki) || !parsed.issuerDer.equals(c.issuer.subjectDer)) throw mismatch('subject key or issuer (decoder)');
}

/**
 * Issues a device certificate: CN=<deviceId>, O=<trust domain>, URI SAN
 * spiffe://<trust-domain>/device/<device-id>, EKU clientAuth, AIA (OCSP + caIssuers) and CRL DP.
 * `authorize` runs first and refuses by throwing. The identity comes from `req`, which the caller
 * takes from the device record, never from a CSR.
 */
export function issueDeviceCertificate(req: DeviceCertRequest, issuer: CaCert, authorize?: (req: DeviceCertRequest) => void): IssuedCert {
  // A frozen snapshot: later stages see exactly what authorize saw.
  const r: Readonly<DeviceCertRequest> = Object.freeze({ ...req });
  let stage: IssuanceStage = 'authorize';
  try {
    if (authorize !== undefined) authorize(r);
    stage = 'constraints';
    const c = checkConstraints(r, issuer);
    stage = 'template';
    const d = buildTbs(r, c);
    stage = 'sign';
    const signature = issuer.signer.sign(d.buf.subarray(d.tbsStart, d.tbsEnd));
    const der = assembleCertificate(d, c.template.signatureAlgorithmDer, signature);
    stage = 're-verify';
    reverify(r, c, d, der);
    return {
      der,
      pem: toPem(der, 'CERTIFICATE'),
      serialHex: d.buf.toString('hex', d.serialAt, d.serialEnd),
      fingerprintSha256: hash('sha256', der, 'hex'),
      spkiSha256: hash('sha256', r.spki, 'hex'),
      notBefore: new Date(c.validity.notBeforeMs),
      notAfter: new Date(c.validity.notAfterMs),
      spiffeId: c.spiffeId,
      keyType: c.keyType,
    };
  } catch (e) {
    const detail = e instanceof ZetaError ? e.message : 'internal error';
    const internal = e instanceof ZetaError ? `${e.code}: ${e.internal ?? e.message}` : String(e);
    throw new ZetaError('ZETA_ERR_ISSUANCE', `Certificate issuance failed at ${stage}: ${detail}`, {
      internal: `device ${String(r.deviceId)}, issuer ${issuer.id}, stage ${stage}: ${internal}`,
      cause: e,
      fields: { stage, ...(e instanceof ZetaError ? { reason: e.code } : {}) },
    });
  }
}
