/**
 * CA, OCSP-responder and server certificates (RFC 5280 profile), built by the same
 * template → sign → re-verify steps as device certificates but off the hot path, so they are also
 * re-parsed by OpenSSL (X509Certificate) before being returned.
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { describeCa, type CaCert } from './ca.js';
import { encodeBitString, encodeNull, encodeSequence, encodeUnsignedInteger } from './der.js';
import { KEY_TYPES, keyTypeOfSpki, spkiParts, verifySignature } from './key-types.js';
import { OID } from './oids.js';
import type { Signer } from './signer.js';
import {
  authorityKeyIdentifierExt,
  basicConstraintsExt,
  encodeDnsName,
  encodeExtension,
  encodeExtensions,
  encodeIpName,
  encodeName,
  encodeValidity,
  extKeyUsageExt,
  floorToSecond,
  KEY_USAGE,
  keyIdentifier,
  keyUsageExt,
  randomSerial,
  subjectAltNameExt,
  subjectKeyIdentifierExt,
  VERSION_V3,
} from './x509.js';

export type { CaCert } from './ca.js';
export { issueDeviceCertificate, type DeviceCertRequest, type IssuedCert } from './issue-device.js';

const DAY_MS = 86_400_000;
/** CA-side certificates start a little in the past so relying parties with slow clocks accept them. */
const BACKDATE_MS = 5 * 60_000;

interface Body {
  subjectDer: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

interface IssuerSide {
  nameDer: Buffer;
  signer: Signer;
  verifyKey: KeyObject;
}

function failed(what: string, internal: string, cause?: unknown): ZetaError {
  return new ZetaError('ZETA_ERR_ISSUANCE', `The ${what} certificate could not be issued.`, cause === undefined ? { internal } : { internal, cause });
}

/** template → sign → re-verify (signature with the issuer key, then OpenSSL's own parse). */
function signCertificate(what: string, issuer: IssuerSide, body: Body): Buffer {
  const notBefore = floorToSecond(body.notBefore);
  const notAfter = floorToSecond(body.notAfter);
  if (notBefore >= notAfter) throw failed(what, `notBefore ${notBefore.toISOString()} is not before notAfter ${notAfter.toISOString()}`);
  const info = KEY_TYPES[issuer.signer.keyType];
  const serial = randomSerial();
  const tbs = encodeSequence(
    VERSION_V3,
    encodeUnsignedInteger(serial),
    info.signatureAlgorithmDer,
    issuer.nameDer,
    encodeValidity(notBefore, notAfter),
    body.subjectDer,
    body.spkiDer,
    encodeExtensions(body.extensions),
  );
  const signature = issuer.signer.sign(tbs);
  const der = encodeSequence(tbs, info.signatureAlgorithmDer, encodeBitString(signature));
  if (!verifySignature(info.hash, issuer.verifyKey, tbs, signature)) throw failed(what, 'signature does not verify with the issuer key');
  let x: X509Certificate;
  try {
    x = new X509Certificate(der);
  } catch (e) {
    throw failed(what, 'OpenSSL cannot parse the result', e);
  }
  if (!x.verify(issuer.verifyKey)) throw failed(what, 'OpenSSL does not verify the result');
  if (x.serialNumber.toLowerCase() !== serial.toString('hex')) throw failed(what, 'serial differs after re-parse');
  if (new Date(x.validFrom).getTime() !== notBefore.getTime() || new Date(x.validTo).getTime() !== notAfter.getTime()) {
    throw failed(what, 'validity differs after re-parse');
  }
  return der;
}

function capAt(notAfter: Date, limit: Date): Date {
  return notAfter.getTime() > limit.getTime() ? limit : notAfter;
}

function issuerSide(ca: CaCert, what: string, now: Date): IssuerSide & { ski: Buffer; notAfter: Date } {
  const info = describeCa(ca);
  if (!info.isCa) throw failed(what, `issuer ${ca.id} is not a CA certificate`);
  if (now.getTime() >= info.notAfter.getTime()) throw failed(what, `issuer ${ca.id} expired at ${info.notAfter.toISOString()}`);
  return { nameDer: info.subjectDer, signer: ca.signer, verifyKey: info.publicKey, ski: info.ski, notAfter: info.notAfter };
}

function subjectKey(spkiDer: Buffer): Buffer {
  return keyIdentifier(spkiParts(spkiDer).publicKey);
}

function checkValidityDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new ZetaError('ZETA_ERR_VALIDATION', 'validityDays must be a whole number of days between 1 and 36500.');
  return days;
}

/** Self-signed root: CA:true pathLen 1 (root → issuing → device), keyCertSign + cRLSign. */
export function createRootCaCert(o: { signer: Signer; trustDomain: string; now: Date; validityDays?: number; commonName?: string }): Buffer {
  const days = checkValidityDays(o.validityDays ?? 3650);
  const name = encodeName({ commonName: o.commonName ?? 'Zeta Root CA', organization: o.trustDomain });
  const ski = subjectKey(o.signer.publicKeySpki);
  return signCertificate(
    'root CA',
    { nameDer: name, signer: o.signer, verifyKey: createPublicKey({ key: o.signer.publicKeySpki, format: 'der', type: 'spki' }) },
    {
      subjectDer: name,
      spkiDer: o.signer.publicKeySpki,
      notBefore: new Date(o.now.getTime() - BACKDATE_MS),
      notAfter: new Date(o.now.getTime() + days * DAY_MS),
      // RFC 5280 §4.2.1.1: AKI may be omitted in a self-signed certificate.
      extensions: [basicConstraintsExt(true, 1), keyUsageExt([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), subjectKeyIdentifierExt(ski)],
    },
  );
}

/**
 * Issuing CA under the root: CA:true pathLen 0. KeyUsage adds digitalSignature to
 * keyCertSign + cRLSign because this CA may sign OCSP responses itself (RFC 5280 §4.2.1.3).
 */
export function createIssuingCaCert(o: { root: CaCert; signer: Signer; trustDomain: string; now: Date; validityDays?: number; commonName?: string }): Buffer {
  const days = checkValidityDays(o.validityDays ?? 1825);
  const root = issuerSide(o.root, 'issuing CA', o.now);
  keyTypeOfSpki(o.signer.publicKeySpki);
  return signCertificate('issuing CA', root, {
    subjectDer: encodeName({ commonName: o.commonName ?? 'Zeta Issuing CA', organization: o.trustDomain }),
    spkiDer: o.signer.publicKeySpki,
    notBefore: new Date(o.now.getTime() - BACKDATE_MS),
    notAfter: capAt(new Date(o.now.getTime() + days * DAY_MS), root.notAfter),
    extensions: [
      basicConstraintsExt(true, 0),
      keyUsageExt([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
      subjectKeyIdentifierExt(subjectKey(o.signer.publicKeySpki)),
      authorityKeyIdentifierExt(root.ski),
    ],
  });
}

/**
 * Delegated OCSP responder (RFC 6960 §4.2.2.2): EKU id-kp-OCSPSigning and id-pkix-ocsp-nocheck
 * (§4.2.2.2.1), so it is short-lived (default 30 days) rather than itself checked for revocation.
 */
export function createOcspSignerCert(o: { issuer: CaCert; signer: Signer; now: Date; validityDays?: number; commonName?: string }): Buffer {
  const days = checkValidityDays(o.validityDays ?? 30);
  const issuer = issuerSide(o.issuer, 'OCSP responder', o.now);
  keyTypeOfSpki(o.signer.publicKeySpki);
  return signCertificate('OCSP responder', issuer, {
    subjectDer: encodeName({ commonName: o.commonName ?? `Zeta OCSP Responder ${o.issuer.id}` }),
    spkiDer: o.signer.publicKeySpki,
    notBefore: new Date(o.now.getTime() - BACKDATE_MS),
    notAfter: capAt(new Date(o.now.getTime() + days * DAY_MS), issuer.notAfter),
    extensions: [
      basicConstraintsExt(false),
      keyUsageExt([KEY_USAGE.digitalSignature]),
      extKeyUsageExt([OID.kpOcspSigning]),
      encodeExtension(OID.ocspNoCheck, false, encodeNull()),
      subjectKeyIdentifierExt(subjectKey(o.signer.publicKeySpki)),
      authorityKeyIdentifierExt(issuer.ski),
    ],
  });
}

/** TLS server certificate: serverAuth, DNS and IP SANs (RFC 5280 §4.2.1.6; CN kept for old clients). */
export function createServerCert(o: { issuer: CaCert; spki: Buffer; dnsNames: string[]; ipAddresses: string[]; now: Date; validityDays?: number }): Buffer {
  const days = checkValidityDays(o.validityDays ?? 90);
  const issuer = issuerSide(o.issuer, 'server', o.now);
  keyTypeOfSpki(o.spki);
  const names = [...o.dnsNames.map(encodeDnsName), ...o.ipAddresses.map(encodeIpName)];
  const first = o.dnsNames[0] ?? o.ipAddresses[0];
  if (first === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'A server certificate needs at least one DNS name or IP address.');
  return signCertificate('server', issuer, {
    subjectDer: encodeName({ commonName: first }),
    spkiDer: o.spki,
    notBefore: new Date(o.now.getTime() - BACKDATE_MS),
    notAfter: capAt(new Date(o.now.getTime() + days * DAY_MS), issuer.notAfter),
    extensions: [
      basicConstraintsExt(false),
      keyUsageExt([KEY_USAGE.digitalSignature]),
      extKeyUsageExt([OID.kpServerAuth]),
      subjectKeyIdentifierExt(subjectKey(o.spki)),
      authorityKeyIdentifierExt(issuer.ski),
      subjectAltNameExt(names),
    ],
  });
}
