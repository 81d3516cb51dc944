import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ByteReader, unwrapTpm2b } from './byte-reader.js';
import { ECC_CURVES, TPM_ALG, TPMA_OBJECT, hashById, type HashAlgInfo } from './tpm-alg.js';

/** Largest TPMT_PUBLIC Zeta reads: RSA-4096 unique + a SHA-512 policy fit well under it. */
export const MAX_TPM_PUBLIC_BYTES = 1024;

export interface SymDef {
  /** TPM_ALG_NULL when the key has no symmetric part. */
  readonly algorithm: number;
  readonly keyBits: number;
  readonly mode: number;
}

export interface TpmPublic {
  readonly type: 'rsa' | 'ecc';
  readonly nameAlg: HashAlgInfo;
  readonly attributes: number;
  readonly authPolicy: Buffer;
  readonly symmetric: SymDef;
  /** Signing/decryption scheme fixed in the key; TPM_ALG_NULL if any is allowed. */
  readonly scheme: { readonly alg: number; readonly hash: HashAlgInfo | null };
  readonly rsa?: { readonly keyBits: number; readonly exponent: number; readonly modulus: Buffer };
  readonly ecc?: { readonly curveId: number; readonly curve: 'P-256' | 'P-384' | 'P-521'; readonly x: Buffer; readonly y: Buffer };
  readonly key: KeyObject;
  /** The exact TPMT_PUBLIC bytes the name is computed over. */
  readonly raw: Buffer;
  /** TPM 2.0 Part 1 §16: name = nameAlg || H_nameAlg(TPMT_PUBLIC). */
  readonly name: Buffer;
}

function readSymDef(r: ByteReader): SymDef {
  const algorithm = r.u16('symmetric.algorithm');
  if (algorithm === TPM_ALG.NULL) return { algorithm, keyBits: 0, mode: TPM_ALG.NULL };
  if (algorithm !== TPM_ALG.AES) r.fail(`symmetric algorithm 0x${algorithm.toString(16)} not supported`);
  const keyBits = r.u16('symmetric.keyBits');
  const mode = r.u16('symmetric.mode');
  return { algorithm, keyBits, mode };
}

function readScheme(r: ByteReader, field: string): { alg: number; hash: HashAlgInfo | null } {
  const alg = r.u16(`${field}.scheme`);
  if (alg === TPM_ALG.NULL || alg === TPM_ALG.RSAES) return { alg, hash: null };
  const hashId = r.u16(`${field}.hashAlg`);
  const hash = hashById(hashId) ?? r.fail(`${field} hash 0x${hashId.toString(16)} not supported`);
  // TPMS_SCHEME_ECDAA carries a count after the hash (Part 2 §11.2.3.2).
  if (alg === TPM_ALG.ECDAA) r.u16(`${field}.count`);
  return { alg, hash };
}

function b64u(b: Buffer): string {
  return b.toString('base64url');
}

function leftPad(b: Buffer, size: number, r: ByteReader, field: string): Buffer {
  let v = b;
  while (v.length > size && v[0] === 0) v = v.subarray(1);
  if (v.length > size) r.fail(`${field} longer than the curve size`);
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

/**
 * Parses a TPMT_PUBLIC, or a TPM2B_PUBLIC around one (Part 2 §12.2.4-5), for RSA and ECC keys.
 * Keyed-hash and symmetric objects are refused: Zeta only needs AKs and EKs.
 */
export function parseTpmPublic(input: Buffer): TpmPublic {
  if (input.length > MAX_TPM_PUBLIC_BYTES + 2) new ByteReader(input, 'TPMT_PUBLIC').fail(`${input.length} bytes is over the ${MAX_TPM_PUBLIC_BYTES}-byte limit`);
  const body = unwrapTpm2b(input, (b) => b.length >= 2 && (b.readUInt16BE(0) === TPM_ALG.RSA || b.readUInt16BE(0) === TPM_ALG.ECC));
  const r = new ByteReader(body, 'TPMT_PUBLIC');
  const typeId = r.u16('type');
  if (typeId !== TPM_ALG.RSA && typeId !== TPM_ALG.ECC) r.fail(`object type 0x${typeId.toString(16)} is not RSA or ECC`);
  const nameAlgId = r.u16('nameAlg');
  const nameAlg = hashById(nameAlgId) ?? r.fail(`nameAlg 0x${nameAlgId.toString(16)} not supported`);
  const attributes = r.u32('objectAttributes');
  const authPolicy = r.tpm2b('authPolicy', 64);
  const symmetric = readSymDef(r);
  const scheme = readScheme(r, 'scheme');
  let out: TpmPublic;
  if (typeId === TPM_ALG.RSA) {
    const keyBits = r.u16('keyBits');
    const exponentRaw = r.u32('exponent');
    const modulus = r.tpm2b('unique.rsa', 512);
    if (keyBits < 2048 || keyBits > 4096 || modulus.length * 8 !== keyBits) r.fail(`RSA modulus of ${modulus.length * 8} bits (keyBits ${keyBits}) not accepted`);
    // Part 2 §12.2.3.5: an exponent of zero means the default 2^16 + 1.
    const exponent = exponentRaw === 0 ? 65537 : exponentRaw;
    const e = Buffer.alloc(4);
    e.writeUInt32BE(exponent);
    let eTrim = e;
    while (eTrim.length > 1 && eTrim[0] === 0) eTrim = eTrim.subarray(1);
    const raw = r.slice(0);
    r.end();
    const key = createPublicKey({ key: { kty: 'RSA', n: b64u(modulus), e: b64u(eTrim) }, format: 'jwk' });
    out = { type: 'rsa', nameAlg, attributes, authPolicy, symmetric, scheme, rsa: { keyBits, exponent, modulus }, key, raw, name: nameOf(nameAlg, raw) };
  } else {
    const curveId = r.u16('curveID');
    const kdf = r.u16('kdf.scheme');
    if (kdf !== TPM_ALG.NULL) r.u16('kdf.hashAlg');
    const curve = ECC_CURVES[curveId] ?? r.fail(`ECC curve 0x${curveId.toString(16)} not supported`);
    const x = leftPad(r.tpm2b('unique.x', 66), curve.size, r, 'unique.x');
    const y = leftPad(r.tpm2b('unique.y', 66), curve.size, r, 'unique.y');
    const raw = r.slice(0);
    r.end();
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: b64u(x), y: b64u(y) }, format: 'jwk' });
    } catch (e) {
      return r.fail(`ECC point is not on ${curve.jwk} (${String(e)})`);
    }
    out = { type: 'ecc', nameAlg, attributes, authPolicy, symmetric, scheme, ecc: { curveId, curve: curve.jwk, x, y }, key, raw, name: nameOf(nameAlg, raw) };
  }
  return out;
}

export function nameOf(nameAlg: HashAlgInfo, tpmtPublic: Buffer): Buffer {
  const alg = Buffer.alloc(2);
  alg.writeUInt16BE(nameAlg.id);
  return Buffer.concat([alg, createHash(nameAlg.name).update(tpmtPublic).digest()]);
}

/** What an attestation key must be so that only the TPM can have made a quote with it. */
const AK_REQUIRED = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

/**
 * INVARIANT: a restricted signing key only signs digests the TPM computed itself and refuses
 * external data that starts with TPM_GENERATED_VALUE (Part 1 §25.2.4), so a TPMS_ATTEST it signs
 * is TPM-made. fixedTPM + sensitiveDataOrigin: the private key was born in, and never leaves, it.
 * Returns the missing properties, empty when the key is a proper AK.
 */
export function akAttributeProblems(pub: TpmPublic): string[] {
  const problems: string[] = [];
  for (const [name, bit] of Object.entries(TPMA_OBJECT)) {
    if ((AK_REQUIRED & bit) !== 0 && (pub.attributes & bit) === 0) problems.push(`${name} not set`);
  }
  if ((pub.attributes & TPMA_OBJECT.decrypt) !== 0) problems.push('decrypt set (an AK must be a signing-only key)');
  return problems;
}
