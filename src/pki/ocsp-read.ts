/**
 * The relying-party side of OCSP (RFC 6960): reads a response and checks it — the signature, the
 * responder's authority (the CA itself, or a certificate it issued with id-kp-OCSPSigning,
 * §4.2.2.2), the nonce, and the freshness window. For the agent and the demo.
 */
import { X509Certificate } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { decodeDer, readOid, readSerialHex, readTime, TAG, readOctetString, type DerNode } from './der.js';
import { OID } from './oids.js';
import { VERIFY_ALGORITHMS, verifySignature } from './key-types.js';
import { REVOCATION_REASONS, type RevocationReason } from './revocation.js';

export interface OcspSingleStatus {
  serialHex: string;
  status: 'good' | 'revoked' | 'unknown';
  revokedAt?: Date;
  reason?: RevocationReason;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface OcspResponseInfo {
  responseStatus: number;
  responses: OcspSingleStatus[];
  nonce?: Buffer;
  producedAt?: Date;
  /** Who signed it: 'issuer' or the delegated responder's subject. */
  responder: string;
}

const bad = (why: string): ZetaError => new ZetaError('ZETA_ERR_VALIDATION', `OCSP response not accepted: ${why}`);
const REASON_BY_CODE = new Map<number, RevocationReason>(Object.entries(REVOCATION_REASONS).map(([name, code]): [number, RevocationReason] => [code, name as RevocationReason]));

function findExt(exts: DerNode | undefined, oid: string): Buffer | undefined {
  if (exts === undefined) return undefined;
  for (const e of exts.at(0, 'extensions', TAG.SEQUENCE).items('extensions')) {
    if (readOid(e.at(0, 'extnID'), 'extnID') === oid) return readOctetString(e.at(e.items('ext').length - 1, 'extnValue'), 'extnValue');
  }
  return undefined;
}

/** Parses and verifies an OCSP response for certificates of `issuer`. Throws unless every check passes. */
export function readOcspResponse(der: Buffer, issuer: X509Certificate, expectNonce?: Buffer, now: Date = new Date()): OcspResponseInfo {
  let root: DerNode;
  try {
    root = decodeDer(der, { maxBytes: 64 * 1024 });
  } catch {
    throw bad('not DER');
  }
  const responseStatus = root.at(0, 'responseStatus', TAG.ENUMERATED).content()[0] ?? 255;
  if (responseStatus !== 0) return { responseStatus, responses: [], responder: 'none' };
  const rb = root.at(1, 'responseBytes', 0xa0).at(0, 'ResponseBytes', TAG.SEQUENCE);
  if (readOid(rb.at(0, 'responseType'), 'responseType') !== OID.ocspBasic) throw bad('not a basic response');
  const basic = decodeDer(readOctetString(rb.at(1, 'response'), 'response'), { maxBytes: 64 * 1024 });
  const tbs = basic.at(0, 'tbsResponseData', TAG.SEQUENCE);
  const sigAlg = VERIFY_ALGORITHMS[readOid(basic.at(1, 'signatureAlgorithm').at(0, 'algorithm'), 'algorithm')];
  if (sigAlg === undefined) throw bad('unsupported signature algorithm');
  const sigBits = basic.at(2, 'signature', TAG.BIT_STRING).content();
  const signature = sigBits.subarray(1);
  const certs = basic.items('BasicOCSPResponse').find((n) => n.tag === 0xa0);

  // RFC 6960 §4.2.2.2: the CA itself, or a responder certificate it issued for OCSP signing.
  let signerKey = issuer.publicKey;
  let responder = 'issuer';
  const delegatedDer = certs?.at(0, 'certs', TAG.SEQUENCE).items('certs')[0]?.der();
  if (delegatedDer !== undefined) {
    const delegated = new X509Certificate(delegatedDer);
    if (!delegated.checkIssued(issuer) || !delegated.verify(issuer.publicKey)) throw bad('responder certificate not issued by the CA');
    if (!(delegated.keyUsage ?? []).includes(OID.kpOcspSigning)) throw bad('responder certificate lacks id-kp-OCSPSigning');
    if (new Date(delegated.validTo) < now || new Date(delegated.validFrom) > now) throw bad('responder certificate not valid now');
    signerKey = delegated.publicKey;
    responder = delegated.subject.replace(/\n/g, ', ');
  }
  if (!verifySignature(sigAlg.hash, signerKey, tbs.der(), signature)) throw bad('signature does not verify');

  const items = tbs.items('ResponseData');
  let i = items[0]?.tag === 0xa0 ? 1 : 0;
  i++; // responderID
  const producedAt = readTime(tbs.at(i++, 'producedAt'), 'producedAt');
  const responses: OcspSingleStatus[] = [];
  for (const sr of tbs.at(i++, 'responses', TAG.SEQUENCE).items('responses')) {
    const serialHex = readSerialHex(sr.at(0, 'certID').at(3, 'serialNumber'), 'serialNumber');
    const cs = sr.at(1, 'certStatus');
    const thisUpdate = readTime(sr.at(2, 'thisUpdate'), 'thisUpdate');
    const rest = sr.items('SingleResponse').slice(3);
    const nu = rest.find((n) => n.tag === 0xa0);
    const nextUpdate = nu === undefined ? undefined : readTime(nu.at(0, 'nextUpdate'), 'nextUpdate');
    if (thisUpdate.getTime() > now.getTime() + 5 * 60_000) throw bad('thisUpdate is in the future');
    if (nextUpdate !== undefined && nextUpdate < now) throw bad('response is stale (nextUpdate passed)');
    if (cs.tag === 0x80) responses.push({ serialHex, status: 'good', thisUpdate, ...(nextUpdate === undefined ? {} : { nextUpdate }) });
    else if (cs.tag === 0x82) responses.push({ serialHex, status: 'unknown', thisUpdate, ...(nextUpdate === undefined ? {} : { nextUpdate }) });
    else if (cs.tag === 0xa1) {
      const revokedAt = readTime(cs.at(0, 'revocationTime'), 'revocationTime');
      const rn = cs.items('RevokedInfo')[1];
      const code = rn === undefined ? undefined : rn.at(0, 'reason', TAG.ENUMERATED).content()[0];
      const reason = code === undefined ? undefined : REASON_BY_CODE.get(code);
      responses.push({ serialHex, status: 'revoked', revokedAt, ...(reason === undefined ? {} : { reason }), thisUpdate, ...(nextUpdate === undefined ? {} : { nextUpdate }) });
    } else throw bad('unknown certStatus');
  }
  const exts = items[i]?.tag === 0xa1 ? items[i] : undefined;
  const nonceExt = findExt(exts, OID.ocspNonce);
  // RFC 8954 §2.1: the nonce is an OCTET STRING inside the extension value.
  const nonce = nonceExt === undefined ? undefined : (() => { try { return readOctetString(decodeDer(nonceExt), 'nonce'); } catch { return nonceExt; } })();
  if (expectNonce !== undefined && (nonce === undefined || !nonce.equals(expectNonce))) throw bad('nonce does not match the request (replayed response?)');
  return { responseStatus, responses, ...(nonce === undefined ? {} : { nonce }), producedAt, responder };
}
