/**
 * CSR intake (PKCS#10, RFC 2986) for EST (RFC 7030). Untrusted input is checked in the order
 * size → structure → key type → signature (proof of possession), and nothing in the CSR names the
 * identity: the caller takes it from the device record.
 */
import type { KeyObject } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { decodeDer, readBitStringBytes, readOid, readSmallInteger, relabelDerError, TAG, type DerNode } from './der.js';
import { publicKeyOf, spkiPartsOfNode, VERIFY_ALGORITHMS, verifySignature, type KeyType } from './key-types.js';

export interface ParsedCsr {
  /** DER SubjectPublicKeyInfo (a copy). */
  spki: Buffer;
  keyType: KeyType;
  /** DER subject Name, for logs only: never the identity. */
  subjectDer: Buffer;
}

function malformed(internal: string): ZetaError {
  return new ZetaError('ZETA_ERR_CSR_MALFORMED', 'The certificate request is malformed.', { internal });
}

interface CsrParts {
  cri: DerNode;
  subject: DerNode;
  spki: DerNode;
  signatureOid: string;
  signatureHasParameters: boolean;
  signature: Buffer;
}

/** structure: CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature } */
function readStructure(der: Buffer, maxBytes: number): CsrParts {
  // Depth 12 covers attributes → extensionRequest → Extensions → Extension; real CSRs use < 8.
  const root = decodeDer(der, { maxBytes, maxDepth: 12, maxNodes: 1024 }).expect(TAG.SEQUENCE, 'CertificationRequest');
  const [cri, alg, sig] = root.count(3, 3, 'CertificationRequest') as [DerNode, DerNode, DerNode];
  // RFC 2986 §4.1: version, subject, subjectPKInfo, attributes [0]
  const [version, subject, spki, attributes] = cri.expect(TAG.SEQUENCE, 'CertificationRequestInfo').count(4, 4, 'CertificationRequestInfo') as [
    DerNode,
    DerNode,
    DerNode,
    DerNode,
  ];
  if (readSmallInteger(version, 'version') !== 0) throw malformed('CSR version is not v1(0)');
  for (const rdn of subject.expect(TAG.SEQUENCE, 'subject').items('subject')) rdn.expect(TAG.SET, 'RelativeDistinguishedName');
  spki.expect(TAG.SEQUENCE, 'subjectPKInfo');
  for (const a of attributes.expect(0xa0, 'attributes').items('attributes')) {
    const [type, values] = a.expect(TAG.SEQUENCE, 'Attribute').count(2, 2, 'Attribute') as [DerNode, DerNode];
    readOid(type, 'attribute type');
    values.expect(TAG.SET, 'attribute values');
  }
  const algItems = alg.expect(TAG.SEQUENCE, 'signatureAlgorithm').count(1, 2, 'signatureAlgorithm');
  const signatureOid = readOid(algItems[0]!, 'signatureAlgorithm');
  return { cri, subject, spki, signatureOid, signatureHasParameters: algItems.length > 1, signature: readBitStringBytes(sig, 'signature') };
}

/**
 * Parses and checks a DER PKCS#10 request: size (ZETA_ERR_PAYLOAD_TOO_LARGE) → structure
 * (ZETA_ERR_CSR_MALFORMED) → key type (ZETA_ERR_KEY_REFUSED) → proof of possession
 * (ZETA_ERR_CSR_SIGNATURE).
 */
export function parseCsr(der: Buffer, maxBytes: number): ParsedCsr {
  // size
  if (!Buffer.isBuffer(der)) throw malformed('not a Buffer');
  if (der.length > maxBytes) {
    throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `The certificate request exceeds ${maxBytes} bytes.`, { internal: `${der.length} bytes` });
  }
  // structure
  let parts: CsrParts;
  try {
    parts = readStructure(der, maxBytes);
  } catch (e) {
    throw relabelDerError(e, 'ZETA_ERR_CSR_MALFORMED', 'The certificate request is malformed.');
  }
  // key type (the registry names what it refuses)
  const spkiParts = spkiPartsOfNode(parts.spki);
  const { keyType } = spkiParts;
  // signature: proof of possession over certificationRequestInfo with the CSR's own key
  const alg = VERIFY_ALGORITHMS[parts.signatureOid];
  // RFC 5758 §3.2, RFC 8410 §3: ECDSA and Ed25519 identifiers carry no parameters.
  if (alg === undefined || !alg.keyTypes.includes(keyType) || parts.signatureHasParameters) {
    throw new ZetaError('ZETA_ERR_CSR_SIGNATURE', 'The certificate request signature algorithm is not allowed for its key.', {
      internal: `signature algorithm ${parts.signatureOid} with a ${keyType} key`,
    });
  }
  let key: KeyObject;
  try {
    // OpenSSL checks the point is on the curve here (SEC 1 §3.2.2.1).
    key = publicKeyOf(spkiParts, parts.spki.der());
  } catch (e) {
    throw new ZetaError('ZETA_ERR_KEY_REFUSED', 'The public key is malformed.', { internal: 'OpenSSL refused the SubjectPublicKeyInfo', cause: e });
  }
  if (!verifySignature(alg.hash, key, parts.cri.der(), parts.signature)) {
    throw new ZetaError('ZETA_ERR_CSR_SIGNATURE', 'The certificate request signature does not verify with its key.', {
      internal: 'proof of possession failed',
    });
  }
  return { spki: Buffer.from(parts.spki.der()), keyType, subjectDer: Buffer.from(parts.subject.der()) };
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const WS_RE = /[ \t\r\n]+/g;

/**
 * Decodes an EST body (RFC 7030 §4.2.1: base64 DER, RFC 4648 §4 alphabet; line breaks and
 * whitespace allowed). `maxBytes` bounds the decoded size; the raw body is bounded before any work.
 */
export function decodeBase64Body(body: Buffer | string, maxBytes: number): Buffer {
  // 4/3 expansion plus generous room for CRLF every 64 characters and stray spaces.
  const maxRaw = Math.ceil(maxBytes / 3) * 4 * 2 + 256;
  if (body.length > maxRaw) {
    throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes.`, { internal: `${body.length} raw bytes` });
  }
  const text = (typeof body === 'string' ? body : body.toString('latin1')).replace(WS_RE, '');
  if (text.length === 0) throw malformed('empty body');
  if (!B64_RE.test(text)) throw new ZetaError('ZETA_ERR_CSR_MALFORMED', 'The request body is not base64.', { internal: 'bad base64 alphabet or padding' });
  const der = Buffer.from(text, 'base64');
  if (der.length > maxBytes) {
    throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes.`, { internal: `${der.length} decoded bytes` });
  }
  return der;
}
