/**
 * A CA as issuance code sees it: its certificate and its signer. Everything derived from the
 * certificate (subject Name, SKI, public key, validity, OCSP hashes) is computed once per CaCert
 * object and cached, so an issuance never re-parses its issuer.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { KEY_TYPES, spkiPartsOfNode, type KeyType, type KeyTypeInfo } from './key-types.js';
import type { Signer } from './signer.js';
import { keyIdentifier, parseCertificate, readIsCa, readSubjectKeyIdentifier } from './x509.js';
import { OID } from './oids.js';

export interface CaCert {
  id: string;
  certDer: Buffer;
  signer: Signer;
}

export interface CaInfo {
  readonly subjectDer: Buffer;
  readonly spkiDer: Buffer;
  /** subjectPublicKey BIT STRING value (RFC 6960 §4.1.1 issuerKeyHash input). */
  readonly publicKeyBits: Buffer;
  readonly publicKey: KeyObject;
  readonly keyType: KeyType;
  readonly keyInfo: KeyTypeInfo;
  /** Subject key identifier: from the extension, else RFC 7093 method 1. */
  readonly ski: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  /** OCSP CertID hashes (RFC 6960 §4.1.1) of this CA as an issuer. */
  readonly nameHash: { readonly sha1: Buffer; readonly sha256: Buffer };
  readonly keyHash: { readonly sha1: Buffer; readonly sha256: Buffer };
  /** Per-issuer scratch space for precomputed templates (see issue-device.ts). */
  readonly templates: Map<string, unknown>;
}

const cache = new WeakMap<CaCert, { der: Buffer; info: CaInfo }>();

function misconfigured(message: string, internal: string, cause?: unknown): ZetaError {
  return new ZetaError('ZETA_ERR_CONFIG', message, cause === undefined ? { internal } : { internal, cause });
}

/** Derived facts about a CA certificate; refuses a signer that does not hold the certificate's key. */
export function describeCa(ca: CaCert): CaInfo {
  const hit = cache.get(ca);
  if (hit !== undefined && hit.der === ca.certDer) return hit.info;
  let parsed: ReturnType<typeof parseCertificate>;
  try {
    parsed = parseCertificate(ca.certDer);
  } catch (e) {
    throw misconfigured('The CA certificate does not parse.', `CA ${ca.id}`, e);
  }
  const { keyType, publicKey: publicKeyBits } = spkiPartsOfNode(parsed.spkiNode);
  // INVARIANT: a CA signs only with the key its certificate certifies.
  if (!parsed.spkiDer.equals(ca.signer.publicKeySpki)) {
    throw misconfigured('The CA signer does not match the CA certificate.', `CA ${ca.id}: signer key differs from certificate key`);
  }
  const info: CaInfo = {
    subjectDer: Buffer.from(parsed.subjectDer),
    spkiDer: Buffer.from(parsed.spkiDer),
    publicKeyBits: Buffer.from(publicKeyBits),
    publicKey: createPublicKey({ key: parsed.spkiDer, format: 'der', type: 'spki' }),
    keyType,
    keyInfo: KEY_TYPES[keyType],
    ski: Buffer.from(readSubjectKeyIdentifier(parsed.extensions.get(OID.subjectKeyIdentifier)) ?? keyIdentifier(publicKeyBits)),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    isCa: readIsCa(parsed.extensions.get(OID.basicConstraints)),
    nameHash: { sha1: hash('sha1', parsed.subjectDer, 'buffer'), sha256: hash('sha256', parsed.subjectDer, 'buffer') },
    keyHash: { sha1: hash('sha1', publicKeyBits, 'buffer'), sha256: hash('sha256', publicKeyBits, 'buffer') },
    templates: new Map(),
  };
  cache.set(ca, { der: ca.certDer, info });
  return info;
}
