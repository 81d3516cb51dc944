/**
 * Device certificate issuance as a pipeline of named stages:
 *   authorize → constraints → template → sign → re-verify
 * (cf. spiffe/spire pkg/server/ca, smallstep sign_options). Any failure is ZETA_ERR_ISSUANCE naming
 * the stage, and nothing is returned.
 *
 * Hot path: the issuer's Name, algorithm identifiers and the extensions that do not change are
 * encoded once per issuer (cached on its CaInfo); an issuance is one sized write of those parts plus
 * this device's fields, one sign and one verify. Re-verification does not use X509Certificate here (its parse costs more than a P-256
 * signature): the signature is verified with the issuer's public key, and the certificate is
 * re-read with our own strict decoder and compared field by field with the request.
 */
import { hash } from 'node:crypto';
import { ID_PATTERN } from '../common/ids.js';
import { ZetaError } from '../common/errors.js';
import { describeCa, type CaCert, type CaInfo } from './ca.js';
import { checkTimeRange, readHeader, readTimeMs, TAG, timeTlvLength, tlvLength, writeHeaderAt, writeTimeAt } from './der.js';
import { KEY_TYPES, spkiParts, verifySignature, type KeyType } from './key-types.js';
import { OID } from './oids.js';
import { sha256Hex, toPem } from './pem.js';
import {
  authorityInfoAccessExt,
  authorityKeyIdentifierExt,
  basicConstraintsExt,
  crlDistributionPointsExt,
  encodeRdn,
  extKeyUsageExt,
  floorToSecond,
  GN,
  keyUsageExt,
  normalizeSerial,
  oidDer,
  randomSerial,
  subjectKeyIdentifierExt,
  VERSION_V3,
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

/** What every device certificate from one issuer shares, encoded once. */
interface DeviceTemplate {
  /** signature AlgorithmIdentifier ‖ issuer Name */
  readonly algAndIssuer: Buffer;
  readonly signatureAlgorithmDer: Buffer;
  /** basicConstraints ‖ keyUsage ‖ extKeyUsage, per subject key type (KU differs for Ed25519). */
  readonly fixedExtensions: Readonly<Record<KeyType, Buffer>>;
  readonly aki: Buffer;
  /** SKI extension minus its final 20 octets. */
  readonly skiPrefix: Buffer;
  /** "O=<trust domain>" RDN per trust domain. */
  readonly orgRdn: Map<string, Buffer>;
  /** AIA ‖ CRLDP per URL triple (checked once when first seen); a short list, scanned. */
  readonly urlExtensions: { ocsp: string; caIssuers: string; crl: string; ext: Buffer }[];
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
    aki: authorityKeyIdentifierExt(ca.ski),
    skiPrefix: skiSample.subarray(0, skiSample.length - 20),
    orgRdn: new Map(),
    urlExtensions: [],
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

function urlExtensionsOf(t: DeviceTemplate, r: Readonly<DeviceCertRequest>): Buffer {
  for (const u of t.urlExtensions) {
    if (u.ocsp === r.ocspUrl && u.caIssuers === r.caIssuersUrl && u.crl === r.crlUrl) return u.ext;
  }
  checkUrl(r.ocspUrl, 'OCSP');
  checkUrl(r.caIssuersUrl, 'CA issuers');
  checkUrl(r.crlUrl, 'CRL');
  const ext = Buffer.concat([authorityInfoAccessExt(r.ocspUrl, r.caIssuersUrl), crlDistributionPointsExt(r.crlUrl)]);
  if (t.urlExtensions.length >= URL_CACHE_LIMIT) t.urlExtensions.shift();
  t.urlExtensions.push({ ocsp: r.ocspUrl, caIssuers: r.caIssuersUrl, crl: r.crlUrl, ext });
  return ext;
}

function orgRdnOf(t: DeviceTemplate, trustDomain: string): Buffer {
  const hit = t.orgRdn.get(trustDomain);
  if (hit !== undefined) return hit;
  if (typeof trustDomain !== 'string' || !TRUST_DOMAIN_RE.test(trustDomain)) throw refuse('The trust domain is not a valid SPIFFE trust domain.', String(trustDomain));
  const rdn = encodeRdn(OID.organizationName, trustDomain);
  if (t.orgRdn.size >= URL_CACHE_LIMIT) t.orgRdn.clear();
  t.orgRdn.set(trustDomain, rdn);
  return rdn;
}

// --- stages -------------------------------------------------------------------------------------

interface Checked {
  readonly issuer: CaInfo;
  readonly template: DeviceTemplate;
  readonly keyType: KeyType;
  readonly subjectPublicKey: Buffer;
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spiffeId: string;
  readonly orgRdn: Buffer;
  readonly urlExtensions: Buffer;
}

/** constraints: identity syntax, key type, validity inside the issuer's, URLs, serial. */
function checkConstraints(req: Readonly<DeviceCertRequest>, ca: CaCert): Checked {
  if (typeof req.deviceId !== 'string' || !ID_PATTERN.test(req.deviceId)) throw refuse('The device id is not valid.', JSON.stringify(req.deviceId));
  const issuer = describeCa(ca);
  if (!issuer.isCa) throw refuse('The issuer is not a CA.', ca.id);
  const template = templateOf(issuer);
  const orgRdn = orgRdnOf(template, req.trustDomain);
  // The registry decides the key type; anything it does not know is ZETA_ERR_KEY_REFUSED.
  const { keyType, publicKey } = spkiParts(req.spki);
  const notBefore = floorToSecond(req.notBefore);
  const notAfter = floorToSecond(req.notAfter);
  checkTimeRange(notBefore);
  checkTimeRange(notAfter);
  if (notBefore.getTime() >= notAfter.getTime()) throw refuse('notBefore must be before notAfter.', `${notBefore.toISOString()} / ${notAfter.toISOString()}`);
  // RFC 5280 §6.1.3 (a)(2): a certificate outliving its issuer stops verifying; never issue one.
  if (notAfter.getTime() > issuer.notAfter.getTime()) {
    throw refuse('notAfter is later than the issuing CA notAfter.', `${notAfter.toISOString()} > ${issuer.notAfter.toISOString()}`);
  }
  const urlExtensions = urlExtensionsOf(template, req);
  const serial = req.serial === undefined ? randomSerial() : normalizeSerial(req.serial);
  return {
    issuer,
    template,
    keyType,
    subjectPublicKey: publicKey,
    serial,
    notBefore,
    notAfter,
    spiffeId: `spiffe://${req.trustDomain}/device/${req.deviceId}`,
    orgRdn,
    urlExtensions,
  };
}

const CN_ATTR_PREFIX = oidDer(OID.commonName);

/**
 * template: TBSCertificate (RFC 5280 §4.1) from the precomputed parts plus this device's fields,
 * sized first and written in one pass into one buffer (this runs once per certificate).
 */
function buildTbs(req: Readonly<DeviceCertRequest>, c: Checked): Buffer {
  const t = c.template;
  const id = req.deviceId; // ASCII (ID_PATTERN): octets = characters
  const uri = c.spiffeId; // ASCII (trust domain and id patterns)
  const fixed = t.fixedExtensions[c.keyType];
  const pad = (c.serial[0]! & 0x80) !== 0 ? 1 : 0;
  const serialLen = c.serial.length + pad;
  const validityLen = timeTlvLength(c.notBefore) + timeTlvLength(c.notAfter);
  const cnAttrLen = CN_ATTR_PREFIX.length + tlvLength(id.length);
  const cnRdnLen = tlvLength(tlvLength(cnAttrLen));
  const subjectLen = c.orgRdn.length + cnRdnLen;
  const uriLen = tlvLength(uri.length);
  const sanValueLen = tlvLength(uriLen);
  const sanLen = SAN_OID.length + tlvLength(sanValueLen);
  const extListLen = fixed.length + t.skiPrefix.length + 20 + t.aki.length + tlvLength(sanLen) + c.urlExtensions.length;
  const extLen = tlvLength(extListLen);
  const tbsLen =
    VERSION_V3.length +
    tlvLength(serialLen) +
    t.algAndIssuer.length +
    tlvLength(validityLen) +
    tlvLength(subjectLen) +
    req.spki.length +
    tlvLength(extLen);

  const out = Buffer.allocUnsafe(tlvLength(tbsLen));
  let o = writeHeaderAt(out, 0, TAG.SEQUENCE, tbsLen);
  o += VERSION_V3.copy(out, o);
  o = writeHeaderAt(out, o, TAG.INTEGER, serialLen);
  if (pad === 1) out[o++] = 0;
  o += c.serial.copy(out, o);
  o += t.algAndIssuer.copy(out, o);
  o = writeHeaderAt(out, o, TAG.SEQUENCE, validityLen);
  o = writeTimeAt(out, o, c.notBefore);
  o = writeTimeAt(out, o, c.notAfter);
  // subject: O=<trust domain>, CN=<device id> (UTF8String, §4.1.2.6)
  o = writeHeaderAt(out, o, TAG.SEQUENCE, subjectLen);
  o += c.orgRdn.copy(out, o);
  o = writeHeaderAt(out, o, TAG.SET, tlvLength(cnAttrLen));
  o = writeHeaderAt(out, o, TAG.SEQUENCE, cnAttrLen);
  o += CN_ATTR_PREFIX.copy(out, o);
  o = writeHeaderAt(out, o, TAG.UTF8_STRING, id.length);
  o += out.write(id, o, 'latin1');
  o += req.spki.copy(out, o);
  o = writeHeaderAt(out, o, 0xa3, extLen); // [3] EXPLICIT Extensions
  o = writeHeaderAt(out, o, TAG.SEQUENCE, extListLen);
  o += fixed.copy(out, o);
  o += t.skiPrefix.copy(out, o);
  // SKI, RFC 7093 §2 method 1; written from hex to avoid one off-heap Buffer per issuance.
  o += out.write(hash('sha256', c.subjectPublicKey, 'hex').slice(0, 40), o, 'hex');
  o += t.aki.copy(out, o);
  // §4.2.1.6: SAN non-critical, the subject Name is not empty.
  o = writeHeaderAt(out, o, TAG.SEQUENCE, sanLen);
  o += SAN_OID.copy(out, o);
  o = writeHeaderAt(out, o, TAG.OCTET_STRING, sanValueLen);
  o = writeHeaderAt(out, o, TAG.SEQUENCE, uriLen);
  o = writeHeaderAt(out, o, URI_TAG, uri.length);
  o += out.write(uri, o, 'latin1');
  o += c.urlExtensions.copy(out, o);
  if (o !== out.length) throw new ZetaError('ZETA_ERR_INTERNAL', 'template size mismatch', { internal: `${o} != ${out.length}` });
  return out;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, BIT STRING signatureValue } */
function assembleCertificate(tbs: Buffer, alg: Buffer, signature: Buffer): Buffer {
  const bitsLen = signature.length + 1;
  const len = tbs.length + alg.length + tlvLength(bitsLen);
  const out = Buffer.allocUnsafe(tlvLength(len));
  let o = writeHeaderAt(out, 0, TAG.SEQUENCE, len);
  o += tbs.copy(out, o);
  o += alg.copy(out, o);
  o = writeHeaderAt(out, o, TAG.BIT_STRING, bitsLen);
  out[o++] = 0;
  signature.copy(out, o);
  return out;
}

const SAN_OID = oidDer(OID.subjectAltName);
const URI_TAG = 0x80 | GN.uniformResourceIdentifier;

const SAN_OID_CONTENT = SAN_OID.subarray(2);

function mismatch(what: string): ZetaError {
  return new ZetaError('ZETA_ERR_INTERNAL', 'certificate differs from the request', { internal: `${what} differs after re-read` });
}

/** Compares buf[start, end) with `want` without allocating a view. */
function same(buf: Buffer, start: number, end: number, want: Buffer): boolean {
  return end - start === want.length && buf.compare(want, 0, want.length, start, end) === 0;
}

/**
 * re-verify: the signature with the issuer's public key (crypto.verify), then a strict re-read of
 * the finished DER, compared field by field with what was asked: serial, validity, issuer, key,
 * SAN URI. Walks headers instead of building a tree: this is the hot path.
 */
function reverify(req: Readonly<DeviceCertRequest>, c: Checked, tbs: Buffer, signature: Buffer, der: Buffer): void {
  if (!verifySignature(c.issuer.keyInfo.hash, c.issuer.publicKey, tbs, signature)) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'signature does not verify', { internal: 'the signer produced a signature the issuer key does not verify' });
  }
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (RFC 5280 §4.1)
  const cert = readHeader(der, 0, der.length, TAG.SEQUENCE);
  if (cert.end !== der.length) throw mismatch('certificate length');
  const t = readHeader(der, cert.contentStart, cert.end, TAG.SEQUENCE);
  if (!same(der, cert.contentStart, t.end, tbs)) throw mismatch('TBSCertificate');
  const alg = readHeader(der, t.end, cert.end, TAG.SEQUENCE);
  if (!same(der, t.end, alg.end, c.template.signatureAlgorithmDer)) throw mismatch('signatureAlgorithm');
  const sig = readHeader(der, alg.end, cert.end, TAG.BIT_STRING);
  if (sig.end !== cert.end || der[sig.contentStart] !== 0 || !same(der, sig.contentStart + 1, sig.end, signature)) throw mismatch('signatureValue');

  const version = readHeader(der, t.contentStart, t.end, 0xa0);
  if (!same(der, t.contentStart, version.end, VERSION_V3)) throw mismatch('version');
  const serial = readHeader(der, version.end, t.end, TAG.INTEGER);
  const pad = der[serial.contentStart] === 0 ? 1 : 0;
  if (!same(der, serial.contentStart + pad, serial.end, c.serial)) throw mismatch('serial');
  const inner = readHeader(der, serial.end, t.end, TAG.SEQUENCE);
  const issuerName = readHeader(der, inner.end, t.end, TAG.SEQUENCE);
  if (!same(der, serial.end, issuerName.end, c.template.algAndIssuer)) throw mismatch('signature or issuer');
  const validity = readHeader(der, issuerName.end, t.end, TAG.SEQUENCE);
  const nb = readHeader(der, validity.contentStart, validity.end);
  const na = readHeader(der, nb.end, validity.end);
  if (
    na.end !== validity.end ||
    readTimeMs(der, nb.tag, nb.contentStart, nb.end, 'notBefore') !== c.notBefore.getTime() ||
    readTimeMs(der, na.tag, na.contentStart, na.end, 'notAfter') !== c.notAfter.getTime()
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
    const tbs = buildTbs(r, c);
    stage = 'sign';
    const signature = issuer.signer.sign(tbs);
    const der = assembleCertificate(tbs, c.template.signatureAlgorithmDer, signature);
    stage = 're-verify';
    reverify(r, c, tbs, signature, der);
    return {
      der,
      pem: toPem(der, 'CERTIFICATE'),
      serialHex: c.serial.toString('hex'),
      fingerprintSha256: sha256Hex(der),
      spkiSha256: sha256Hex(r.spki),
      notBefore: c.notBefore,
      notAfter: c.notAfter,
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
