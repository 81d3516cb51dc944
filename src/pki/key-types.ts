/**
 * The key-type registry: the one place that knows which algorithms Zeta accepts and how each is
 * written in X.509. Everything else asks this table.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { decodeDer, encodeBitString, encodeOid, encodeSequence, readBitStringBytes, readOid, TAG, type DerNode } from './der.js';
import { OID } from './oids.js';

export type KeyType = 'p256' | 'p384' | 'ed25519';

export interface KeyTypeInfo {
  readonly keyType: KeyType;
  /** Human name for messages. */
  readonly label: string;
  /** SubjectPublicKeyInfo algorithm OID (RFC 5480 §2.1.1, RFC 8410 §3). */
  readonly algorithmOid: string;
  /** namedCurve OID for EC keys, null for Ed25519. */
  readonly curveOid: string | null;
  /** Argument for crypto.generateKeyPairSync. */
  readonly nodeKeyType: 'ec' | 'ed25519';
  readonly nodeCurve: 'P-256' | 'P-384' | null;
  /** Signature algorithm this key signs certificates, CRLs and OCSP responses with. */
  readonly signatureOid: string;
  /** DER AlgorithmIdentifier for that signature algorithm (parameters absent: RFC 5758 §3.2, RFC 8410 §3). */
  readonly signatureAlgorithmDer: Buffer;
  /** node:crypto hash name for sign/verify; null where the algorithm hashes itself (Ed25519). */
  readonly hash: 'sha256' | 'sha384' | null;
  /** Encoded length of the public point / key in the SPKI BIT STRING (uncompressed for EC). */
  readonly publicKeyLength: number;
  /** KeyUsage bits a leaf with this key gets (RFC 5280 §4.2.1.3): Ed25519 cannot do key agreement. */
  readonly leafKeyUsageBits: readonly number[];
  /** Canonical DER SPKI prefix for the uncompressed form (lets the hot path skip a full parse). */
  readonly spkiPrefix: Buffer;
}

function algorithmIdentifier(oid: string, paramsOid?: string): Buffer {
  return paramsOid === undefined ? encodeSequence(encodeOid(oid)) : encodeSequence(encodeOid(oid), encodeOid(paramsOid));
}

function spkiPrefix(algorithm: Buffer, publicKeyLength: number): Buffer {
  const spki = encodeSequence(algorithm, encodeBitString(Buffer.alloc(publicKeyLength)));
  return spki.subarray(0, spki.length - publicKeyLength);
}

function defineKeyType(
  keyType: KeyType,
  label: string,
  curveOid: string | null,
  signatureOid: string,
  hash: 'sha256' | 'sha384' | null,
  publicKeyLength: number,
): KeyTypeInfo {
  const algorithmOid = curveOid === null ? OID.ed25519 : OID.ecPublicKey;
  const alg = curveOid === null ? algorithmIdentifier(algorithmOid) : algorithmIdentifier(algorithmOid, curveOid);
  return Object.freeze({
    keyType,
    label,
    algorithmOid,
    curveOid,
    nodeKeyType: curveOid === null ? 'ed25519' : 'ec',
    nodeCurve: curveOid === OID.prime256v1 ? 'P-256' : curveOid === OID.secp384r1 ? 'P-384' : null,
    signatureOid,
    signatureAlgorithmDer: algorithmIdentifier(signatureOid),
    hash,
    publicKeyLength,
    // digitalSignature (0), keyAgreement (4)
    leafKeyUsageBits: curveOid === null ? [0] : [0, 4],
    spkiPrefix: spkiPrefix(alg, publicKeyLength),
  });
}

export const KEY_TYPES: Readonly<Record<KeyType, KeyTypeInfo>> = Object.freeze({
  p256: defineKeyType('p256', 'P-256', OID.prime256v1, OID.ecdsaWithSha256, 'sha256', 65),
  p384: defineKeyType('p384', 'P-384', OID.secp384r1, OID.ecdsaWithSha384, 'sha384', 97),
  ed25519: defineKeyType('ed25519', 'Ed25519', null, OID.ed25519, null, 32),
});

export const KEY_TYPE_NAMES: readonly KeyType[] = Object.freeze(Object.keys(KEY_TYPES) as KeyType[]);

export function isKeyType(s: string): s is KeyType {
  return Object.hasOwn(KEY_TYPES, s);
}

/**
 * Signature algorithms accepted on *incoming* objects (CSRs, signed OCSP requests): a P-384 key
 * may sign its CSR with SHA-256 (OpenSSL's default digest), so this is wider than what we emit.
 */
export const VERIFY_ALGORITHMS: Readonly<Record<string, { keyTypes: readonly KeyType[]; hash: 'sha256' | 'sha384' | 'sha512' | null }>> =
  Object.freeze({
    [OID.ecdsaWithSha256]: { keyTypes: ['p256', 'p384'], hash: 'sha256' },
    [OID.ecdsaWithSha384]: { keyTypes: ['p256', 'p384'], hash: 'sha384' },
    [OID.ecdsaWithSha512]: { keyTypes: ['p256', 'p384'], hash: 'sha512' },
    [OID.ed25519]: { keyTypes: ['ed25519'], hash: null },
  });

const ALLOWED = 'use P-256, P-384 or Ed25519';

/** Names for keys we refuse, so the message says what was sent. */
const KNOWN_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10040.4.1': 'DSA',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.3.101.113': 'Ed448',
  '1.2.840.10046.2.1': 'Diffie-Hellman',
};
const KNOWN_CURVES: Readonly<Record<string, string>> = {
  '1.3.132.0.10': 'secp256k1',
  '1.3.132.0.33': 'P-224',
  '1.3.132.0.35': 'P-521',
  '1.2.840.10045.3.1.1': 'P-192',
  '1.3.36.3.3.2.8.1.1.7': 'brainpoolP256r1',
  '1.3.36.3.3.2.8.1.1.11': 'brainpoolP384r1',
  '1.3.36.3.3.2.8.1.1.13': 'brainpoolP512r1',
};

function refuse(message: string, internal?: string): ZetaError {
  return new ZetaError('ZETA_ERR_KEY_REFUSED', message, internal === undefined ? {} : { internal });
}

function rsaModulusBits(key: Buffer): number | undefined {
  try {
    // RFC 8017 §A.1.1 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    const n = decodeDer(key, { maxBytes: 4096, maxDepth: 2 }).expect(TAG.SEQUENCE, 'RSAPublicKey').at(0, 'modulus', TAG.INTEGER).content();
    let i = 0;
    while (i < n.length && n[i] === 0) i++;
    if (i === n.length) return 0;
    return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
  } catch {
    return undefined;
  }
}

/** Decoded SPKI fields for callers that need more than the type (OCSP key hash, SKI). */
export interface SpkiParts {
  readonly keyType: KeyType;
  /** subjectPublicKey BIT STRING value, without the unused-bits octet (RFC 6960 §4.1.1 hashes this). */
  readonly publicKey: Buffer;
}

function classifySpkiNode(spki: DerNode): SpkiParts {
  const [alg, key] = spki.expect(TAG.SEQUENCE, 'SubjectPublicKeyInfo').count(2, 2, 'SubjectPublicKeyInfo') as [DerNode, DerNode];
  const algItems = alg.expect(TAG.SEQUENCE, 'AlgorithmIdentifier').count(1, 2, 'AlgorithmIdentifier');
  const algOid = readOid(algItems[0]!, 'algorithm');
  const params = algItems[1];
  if (key.tag !== TAG.BIT_STRING) throw refuse('The public key is malformed.', 'subjectPublicKey is not a BIT STRING');
  const keyBytes = readBitStringBytes(key, 'subjectPublicKey');

  if (algOid === OID.ecPublicKey) {
    // RFC 5480 §2.1.1.1: namedCurve only; implicit/specified curves are not allowed.
    if (params === undefined || params.tag !== TAG.OID) throw refuse(`EC keys with explicit curve parameters are not allowed; ${ALLOWED}.`);
    const curve = readOid(params, 'namedCurve');
    const kt = curve === OID.prime256v1 ? KEY_TYPES.p256 : curve === OID.secp384r1 ? KEY_TYPES.p384 : undefined;
    if (kt === undefined) {
      throw refuse(`EC keys on curve ${KNOWN_CURVES[curve] ?? curve} are not allowed; ${ALLOWED}.`);
    }
    // SEC 1 §2.3.3: uncompressed 04||X||Y or compressed 02/03||X.
    const coord = (kt.publicKeyLength - 1) / 2;
    const okLen =
      (keyBytes[0] === 0x04 && keyBytes.length === kt.publicKeyLength) ||
      ((keyBytes[0] === 0x02 || keyBytes[0] === 0x03) && keyBytes.length === coord + 1);
    if (!okLen) throw refuse(`The ${kt.label} public key is malformed.`, `EC point of ${keyBytes.length} bytes`);
    return { keyType: kt.keyType, publicKey: keyBytes };
  }
  if (algOid === OID.ed25519) {
    // RFC 8410 §3: parameters MUST be absent.
    if (params !== undefined) throw refuse('The Ed25519 public key is malformed.', 'Ed25519 with parameters');
    if (keyBytes.length !== 32) throw refuse('The Ed25519 public key is malformed.', `Ed25519 key of ${keyBytes.length} bytes`);
    return { keyType: 'ed25519', publicKey: keyBytes };
  }
  if (algOid === OID.rsaEncryption) {
    const bits = rsaModulusBits(keyBytes);
    throw refuse(`RSA ${bits === undefined ? '' : `${bits}-bit `}keys are not allowed; ${ALLOWED}.`);
  }
  throw refuse(`${KNOWN_ALGORITHMS[algOid] ?? `Algorithm ${algOid}`} keys are not allowed; ${ALLOWED}.`);
}

/** Classifies an SPKI that is already decoded (part of a CSR or certificate). */
export function spkiPartsOfNode(spki: DerNode): SpkiParts {
  try {
    return classifySpkiNode(spki);
  } catch (e) {
    if (e instanceof ZetaError && e.code === 'ZETA_ERR_VALIDATION') {
      throw refuse('The public key is malformed.', e.internal ?? e.message);
    }
    throw e;
  }
}

export function spkiParts(spkiDer: Buffer): SpkiParts {
  // Fast path: the canonical uncompressed encodings are fixed-prefix, fixed-length DER.
  for (const kt of KEY_TYPE_NAMES) {
    const info = KEY_TYPES[kt];
    const p = info.spkiPrefix;
    if (spkiDer.length === p.length + info.publicKeyLength && spkiDer.compare(p, 0, p.length, 0, p.length) === 0) {
      if (info.curveOid !== null && spkiDer[p.length] !== 0x04) break;
      return { keyType: kt, publicKey: spkiDer.subarray(p.length) };
    }
  }
  let node: DerNode;
  try {
    node = decodeDer(spkiDer, { maxBytes: 16 * 1024, maxDepth: 4 });
  } catch (e) {
    throw refuse('The public key is malformed.', e instanceof ZetaError ? (e.internal ?? e.message) : String(e));
  }
  return spkiPartsOfNode(node);
}

/**
 * The key type of a DER SubjectPublicKeyInfo, or ZETA_ERR_KEY_REFUSED naming what was sent.
 * Checks the structure and the point/key length; that the point is on the curve is proven by
 * the proof-of-possession signature at CSR intake (parseCsr).
 */
export function keyTypeOfSpki(spkiDer: Buffer): KeyType {
  return spkiParts(spkiDer).keyType;
}

/**
 * A KeyObject for an SPKI this registry accepted (`parts` from spkiParts / spkiPartsOfNode).
 * Uncompressed EC points and Ed25519 keys are imported as JWK coordinates: OpenSSL then checks the
 * point is on the curve (EC_KEY_set_public_key_affine_coordinates, SEC 1 §3.2.2.1) at about half
 * the cost of its DER decoder. Compressed points take the DER path. Throws if OpenSSL refuses.
 */
export function publicKeyOf(parts: SpkiParts, spkiDer: Buffer): KeyObject {
  const info = KEY_TYPES[parts.keyType];
  const bits = parts.publicKey;
  if (info.nodeCurve === null) {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bits.toString('base64url') }, format: 'jwk' });
  }
  if (bits[0] === 0x04 && bits.length === info.publicKeyLength) {
    const n = (info.publicKeyLength - 1) / 2;
    return createPublicKey({
      key: { kty: 'EC', crv: info.nodeCurve, x: bits.toString('base64url', 1, 1 + n), y: bits.toString('base64url', 1 + n) },
      format: 'jwk',
    });
  }
  return createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
}

/** Verifies an X.509-style signature value (DER ECDSA-Sig-Value or raw Ed25519) with the given hash (null for Ed25519). */
export function verifySignature(hashName: string | null, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return hashName === null ? verify(null, data, key, signature) : verify(hashName, data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    // OpenSSL throws on some malformed signature encodings; that is a failed verification.
    return false;
  }
}
