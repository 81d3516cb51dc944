/** OCSP (RFC 6960): bounded request parsing, issuer matching, signed basic responses. */
import { hash } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { describeCa, type CaCert } from './ca.js';
import {
  ctxConsTag,
  decodeDer,
  encodeBitString,
  encodeEnumerated,
  encodeExplicit,
  encodeGeneralizedTime,
  encodeNull,
  encodeOctetString,
  encodeSequence,
  encodeTlv,
  encodeUnsignedInteger,
  readBoolean,
  readOctetString,
  readOid,
  readSerialHex,
  readSmallInteger,
  relabelDerError,
  TAG,
  type DerNode,
} from './der.js';
import { spkiPartsOfNode, verifySignature } from './key-types.js';
import { OID } from './oids.js';
import { checkPublishableReason, type RevocationReason } from './revocation.js';
import { serialFromHex } from './crl.js';
import { encodeExtension, floorToSecond, oidDer, parseCertificate } from './x509.js';

export type OcspHash = 'sha1' | 'sha256';

export interface OcspCertId {
  hashAlgorithm: OcspHash;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lower-case hex, no leading 00 (as IssuedCert.serialHex). */
  serialHex: string;
}

export interface OcspRequest {
  certIds: OcspCertId[];
  /** RFC 8954 nonce value (the OCTET STRING's content). */
  nonce?: Buffer;
}

export const MAX_OCSP_CERT_IDS = 16;
const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024;
const HASHES: Readonly<Record<string, { name: OcspHash; length: number }>> = {
  [OID.sha1]: { name: 'sha1', length: 20 },
  [OID.sha256]: { name: 'sha256', length: 32 },
};

function malformed(internal: string): ZetaError {
  return new ZetaError('ZETA_ERR_OCSP_MALFORMED', 'The OCSP request is malformed.', { internal });
}

/** CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } (§4.1.1) */
function readCertId(n: DerNode): OcspCertId {
  const [alg, nameHash, keyHash, serial] = n.expect(TAG.SEQUENCE, 'CertID').count(4, 4, 'CertID') as [DerNode, DerNode, DerNode, DerNode];
  const algItems = alg.expect(TAG.SEQUENCE, 'hashAlgorithm').count(1, 2, 'hashAlgorithm');
  const h = HASHES[readOid(algItems[0]!, 'hashAlgorithm')];
  if (h === undefined) throw malformed('CertID hash algorithm other than SHA-1/SHA-256');
  if (algItems[1] !== undefined && algItems[1].tag !== TAG.NULL) throw malformed('hash algorithm parameters');
  const issuerNameHash = readOctetString(nameHash, 'issuerNameHash');
  const issuerKeyHash = readOctetString(keyHash, 'issuerKeyHash');
  if (issuerNameHash.length !== h.length || issuerKeyHash.length !== h.length) throw malformed('CertID hash of the wrong length');
  // RFC 5280 §4.1.2.2: serials are ≤ 20 octets (21 with a 00 pad).
  if (serial.length > 21) throw malformed('serial longer than 20 octets');
  return {
    hashAlgorithm: h.name,
    issuerNameHash: Buffer.from(issuerNameHash),
    issuerKeyHash: Buffer.from(issuerKeyHash),
    serialHex: readSerialHex(serial, 'serialNumber'),
  };
}

/** Extensions; returns the nonce. Unknown critical extensions are refused (RFC 5280 §4.2 rule). */
function readRequestExtensions(n: DerNode): Buffer | undefined {
  let nonce: Buffer | undefined;
  for (const ext of n.at(0, 'requestExtensions', TAG.SEQUENCE).items('requestExtensions')) {
    const e = ext.expect(TAG.SEQUENCE, 'Extension').count(2, 3, 'Extension');
    const oid = readOid(e[0]!, 'extnID');
    const critical = e.length === 3 && readBoolean(e[1]!, 'critical');
    const value = readOctetString(e[e.length - 1]!, 'extnValue');
    if (oid === OID.ocspNonce) {
      if (nonce !== undefined) throw malformed('two nonces');
      // RFC 8954 §2.1: Nonce ::= OCTET STRING (SIZE(1..32))
      const inner = readOctetString(decodeDer(value, { maxBytes: 64, maxDepth: 1 }), 'nonce');
      if (inner.length < 1 || inner.length > 32) throw malformed(`nonce of ${inner.length} octets`);
      nonce = Buffer.from(inner);
    } else if (critical) {
      throw malformed(`unknown critical extension ${oid}`);
    }
  }
  return nonce;
}

/**
 * Parses an OCSPRequest (§4.1.1): 1..16 CertIDs, SHA-1 or SHA-256, optional nonce.
 * A signed request (optionalSignature) is accepted and its signature ignored: status is public
 * information and Zeta does not require signed requests (§4.1.2 leaves this to the responder).
 */
export function parseOcspRequest(der: Buffer, maxBytes: number = DEFAULT_MAX_REQUEST_BYTES): OcspRequest {
  if (der.length > maxBytes) {
    throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `The OCSP request exceeds ${maxBytes} bytes.`, { internal: `${der.length} bytes` });
  }
  try {
    const req = decodeDer(der, { maxBytes, maxDepth: 16, maxNodes: 2048 }).expect(TAG.SEQUENCE, 'OCSPRequest');
    const top = req.count(1, 2, 'OCSPRequest');
    if (top[1] !== undefined) top[1].expect(ctxConsTag(0), 'optionalSignature');
    const items = top[0]!.expect(TAG.SEQUENCE, 'TBSRequest').items('TBSRequest');
    let i = 0;
    if (items[i]?.tag === ctxConsTag(0)) {
      if (readSmallInteger(items[i]!.at(0, 'version'), 'version') !== 0) throw malformed('version is not v1');
      i++;
    }
    if (items[i]?.tag === ctxConsTag(1)) i++; // requestorName: informational only
    const list = items[i++];
    if (list === undefined) throw malformed('no requestList');
    const requests = list.expect(TAG.SEQUENCE, 'requestList').items('requestList');
    if (requests.length === 0) throw malformed('empty requestList');
    if (requests.length > MAX_OCSP_CERT_IDS) throw malformed(`${requests.length} CertIDs (limit ${MAX_OCSP_CERT_IDS})`);
    const certIds = requests.map((r) => {
      const parts = r.expect(TAG.SEQUENCE, 'Request').count(1, 2, 'Request');
      if (parts[1] !== undefined) parts[1].expect(ctxConsTag(0), 'singleRequestExtensions');
      return readCertId(parts[0]!);
    });
    let nonce: Buffer | undefined;
    const ext = items[i];
    if (ext !== undefined) {
      ext.expect(ctxConsTag(2), 'requestExtensions');
      nonce = readRequestExtensions(ext);
      i++;
    }
    if (i !== items.length) throw malformed('unexpected fields in TBSRequest');
    return nonce === undefined ? { certIds } : { certIds, nonce };
  } catch (e) {
    throw relabelDerError(e, 'ZETA_ERR_OCSP_MALFORMED', 'The OCSP request is malformed.');
  }
}

/** Does this CertID name `issuer`? (§4.1.1: hash of the issuer's Name DER and of its key's BIT STRING value) */
export function matchesIssuer(certId: OcspCertId, issuer: CaCert): boolean {
  const ca = describeCa(issuer);
  const alg = certId.hashAlgorithm === 'sha1' ? 'sha1' : certId.hashAlgorithm === 'sha256' ? 'sha256' : undefined;
  if (alg === undefined) return false;
  return ca.nameHash[alg].equals(certId.issuerNameHash) && ca.keyHash[alg].equals(certId.issuerKeyHash);
}

function encodeCertId(id: OcspCertId): Buffer {
  const h = id.hashAlgorithm === 'sha256' ? OID.sha256 : OID.sha1;
  return encodeSequence(
    encodeSequence(oidDer(h), encodeNull()),
    encodeOctetString(id.issuerNameHash),
    encodeOctetString(id.issuerKeyHash),
    encodeUnsignedInteger(serialFromHex(id.serialHex)),
  );
}

function encodeNonceExtension(nonce: Buffer): Buffer {
  if (nonce.length < 1 || nonce.length > 32) throw new ZetaError('ZETA_ERR_VALIDATION', 'An OCSP nonce is 1 to 32 octets (RFC 8954 §2.1).');
  return encodeExtension(OID.ocspNonce, false, encodeOctetString(nonce));
}

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspSingleResponse {
  certId: OcspCertId;
  status: OcspCertStatus;
  revokedAt?: Date;
  reason?: RevocationReason;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** SingleResponse (§4.2.1) */
function encodeSingleResponse(r: OcspSingleResponse): Buffer {
  let status: Buffer;
  if (r.status === 'good') {
    status = Buffer.from([0x80, 0]); // good [0] IMPLICIT NULL
  } else if (r.status === 'unknown') {
    status = Buffer.from([0x82, 0]); // unknown [2] IMPLICIT NULL
  } else if (r.status === 'revoked') {
    if (r.revokedAt === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'A revoked status needs revokedAt.');
    const parts = [encodeGeneralizedTime(floorToSecond(r.revokedAt))];
    if (r.reason !== undefined) {
      const code = checkPublishableReason(r.reason);
      if (code !== 0) parts.push(encodeExplicit(0, encodeEnumerated(code))); // revocationReason [0] EXPLICIT CRLReason
    }
    status = encodeTlv(ctxConsTag(1), ...parts); // revoked [1] IMPLICIT RevokedInfo
  } else {
    throw new ZetaError('ZETA_ERR_VALIDATION', 'Unknown OCSP certificate status.');
  }
  const thisUpdate = floorToSecond(r.thisUpdate);
  const nextUpdate = floorToSecond(r.nextUpdate);
  if (nextUpdate.getTime() < thisUpdate.getTime()) throw new ZetaError('ZETA_ERR_VALIDATION', 'nextUpdate must not be before thisUpdate.');
  return encodeSequence(encodeCertId(r.certId), status, encodeGeneralizedTime(thisUpdate), encodeExplicit(0, encodeGeneralizedTime(nextUpdate)));
}

/**
 * A successful OCSPResponse carrying a signed BasicOCSPResponse (§4.2.1): responderID byKey, the
 * nonce echoed when given, and the delegated responder certificate included (§4.2.2.2) unless
 * `includeCerts` says otherwise.
 */
export function buildOcspResponse(o: {
  responder: CaCert;
  includeCerts?: Buffer[];
  responses: OcspSingleResponse[];
  nonce?: Buffer;
  producedAt: Date;
}): Buffer {
  const responder = describeCa(o.responder);
  if (o.responses.length === 0 || o.responses.length > MAX_OCSP_CERT_IDS) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `An OCSP response carries 1 to ${MAX_OCSP_CERT_IDS} answers.`);
  }
  const responseData = encodeSequence(
    // version v1 is DEFAULT: omitted. responderID byKey [2] EXPLICIT KeyHash (SHA-1 of the key bits).
    encodeExplicit(2, encodeOctetString(responder.keyHash.sha1)),
    encodeGeneralizedTime(floorToSecond(o.producedAt)),
    encodeSequence(...o.responses.map(encodeSingleResponse)),
    ...(o.nonce === undefined ? [] : [encodeExplicit(1, encodeSequence(encodeNonceExtension(o.nonce)))]),
  );
  const alg = responder.keyInfo.signatureAlgorithmDer;
  const signature = o.responder.signer.sign(responseData);
  if (!verifySignature(responder.keyInfo.hash, responder.publicKey, responseData, signature)) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'The OCSP response signature does not verify.', { internal: `responder ${o.responder.id}` });
  }
  // A delegated responder (not a CA) must ship its certificate so clients can check its EKU.
  const certs = o.includeCerts ?? (responder.isCa ? [] : [o.responder.certDer]);
  const basic = encodeSequence(responseData, alg, encodeBitString(signature), ...(certs.length === 0 ? [] : [encodeExplicit(0, encodeSequence(...certs))]));
  return encodeSequence(
    encodeEnumerated(0), // successful
    encodeExplicit(0, encodeSequence(oidDer(OID.ocspBasic), encodeOctetString(basic))),
  );
}

export const OCSP_ERROR_STATUS = Object.freeze({
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const);

export type OcspErrorStatus = keyof typeof OCSP_ERROR_STATUS;

/** An unsuccessful OCSPResponse: status only, no responseBytes, unsigned (§4.2.1). */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  const code = OCSP_ERROR_STATUS[status];
  if (code === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'Unknown OCSP error status.');
  return encodeSequence(encodeEnumerated(code));
}

/** An OCSPRequest for one certificate (what `openssl ocsp -reqout` makes), for tests and the agent. */
export function buildOcspRequest(certDer: Buffer, issuerDer: Buffer, nonce?: Buffer, hashAlgorithm: OcspHash = 'sha1'): Buffer {
  const cert = parseCertificate(certDer);
  const issuer = parseCertificate(issuerDer);
  const keyBits = spkiPartsOfNode(issuer.spkiNode).publicKey;
  const certId = encodeCertId({
    hashAlgorithm,
    issuerNameHash: hash(hashAlgorithm, issuer.subjectDer, 'buffer'),
    issuerKeyHash: hash(hashAlgorithm, keyBits, 'buffer'),
    serialHex: cert.serialHex,
  });
  const tbs = encodeSequence(
    encodeSequence(encodeSequence(certId)),
    ...(nonce === undefined ? [] : [encodeExplicit(2, encodeSequence(encodeNonceExtension(nonce)))]),
  );
  return encodeSequence(tbs);
}
