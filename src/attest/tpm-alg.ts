/**
 * The one registry of TPM algorithm identifiers Zeta understands (TCG Algorithm Registry; TPM 2.0
 * Part 2 §6.3). Anything else is refused where it is read.
 */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface HashAlgInfo {
  readonly id: number;
  readonly name: HashName;
  readonly size: number;
}

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  ECSCHNORR: 0x001c,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043,
} as const;

export const HASH_ALGS: Readonly<Record<HashName, HashAlgInfo>> = Object.freeze({
  sha1: { id: TPM_ALG.SHA1, name: 'sha1', size: 20 },
  sha256: { id: TPM_ALG.SHA256, name: 'sha256', size: 32 },
  sha384: { id: TPM_ALG.SHA384, name: 'sha384', size: 48 },
  sha512: { id: TPM_ALG.SHA512, name: 'sha512', size: 64 },
});

export function hashById(id: number): HashAlgInfo | undefined {
  return Object.values(HASH_ALGS).find((h) => h.id === id);
}

export function isHashName(s: string): s is HashName {
  return Object.hasOwn(HASH_ALGS, s);
}

/** TPM_ECC_CURVE (Part 2 §6.4) → node / JWK curve. */
export const ECC_CURVES: Readonly<Record<number, { readonly jwk: 'P-256' | 'P-384' | 'P-521'; readonly size: number }>> = Object.freeze({
  0x0003: { jwk: 'P-256', size: 32 },
  0x0004: { jwk: 'P-384', size: 48 },
  0x0005: { jwk: 'P-521', size: 66 },
});

/** TPMA_OBJECT bits (Part 2 §8.3.2). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** TPM_GENERATED_VALUE (Part 2 §6.2): the TPM puts it only in structures it built itself. */
export const TPM_GENERATED_VALUE = 0xff544347;
/** TPM_ST_ATTEST_QUOTE (Part 2 §6.9). */
export const TPM_ST_ATTEST_QUOTE = 0x8018;
