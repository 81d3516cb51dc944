import { createCipheriv, createHash, createHmac, constants, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { tpm2b, u32be } from './byte-reader.js';
import { TPM_ALG, type HashAlgInfo } from './tpm-alg.js';
import { parseTpmPublic, type TpmPublic } from './tpm-public.js';

function labelBytes(label: string): Buffer {
  // Part 1 §11.4.10.2: the label is a NUL-terminated string; the NUL is part of the input.
  return Buffer.from(`${label}\0`, 'latin1');
}

/** KDFa (TPM 2.0 Part 1 §11.4.10.2): SP 800-108 counter-mode KDF with HMAC. */
export function kdfa(hash: HashAlgInfo, key: Buffer, label: string, contextU: Buffer, contextV: Buffer, bits: number): Buffer {
  const out: Buffer[] = [];
  const bytes = Math.ceil(bits / 8);
  for (let i = 1, got = 0; got < bytes; i++) {
    const block = createHmac(hash.name, key).update(u32be(i)).update(labelBytes(label)).update(contextU).update(contextV).update(u32be(bits)).digest();
    out.push(block);
    got += block.length;
  }
  return Buffer.concat(out).subarray(0, bytes);
}

/** KDFe (TPM 2.0 Part 1 §11.4.10.3): SP 800-56A concatenation KDF over the ECDH x-coordinate. */
export function kdfe(hash: HashAlgInfo, z: Buffer, label: string, partyU: Buffer, partyV: Buffer, bits: number): Buffer {
  const out: Buffer[] = [];
  const bytes = Math.ceil(bits / 8);
  for (let i = 1, got = 0; got < bytes; i++) {
    const block = createHash(hash.name).update(u32be(i)).update(z).update(labelBytes(label)).update(partyU).update(partyV).digest();
    out.push(block);
    got += block.length;
  }
  return Buffer.concat(out).subarray(0, bytes);
}

export interface Credential {
  /** TPM2B_ID_OBJECT: integrityHMAC (TPM2B_DIGEST) || encIdentity. */
  readonly credentialBlob: Buffer;
  /** TPM2B_ENCRYPTED_SECRET: the seed, encrypted to the EK. */
  readonly encryptedSecret: Buffer;
}

const CURVE_NODE: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/** Seed and its encryption to the EK (Part 1 §24.4 → Annex B.10.3 RSA / C.6.4 ECC). */
function protectSeed(ek: TpmPublic): { seed: Buffer; encryptedSecret: Buffer } {
  const hash = ek.nameAlg;
  if (ek.type === 'rsa') {
    const seed = randomBytes(hash.size);
    const enc = publicEncrypt({ key: ek.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.name, oaepLabel: labelBytes('IDENTITY') }, seed);
    return { seed, encryptedSecret: tpm2b(enc) };
  }
  const ecc = ek.ecc;
  if (ecc === undefined) throw new ZetaError('ZETA_ERR_TPM_MALFORMED', 'The EK has no ECC point.');
  const eph = generateKeyPairSync('ec', { namedCurve: CURVE_NODE[ecc.curve] ?? 'prime256v1' });
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: ek.key });
  const jwk = eph.publicKey.export({ format: 'jwk' });
  const size = ecc.x.length;
  const pad = (b64: string | undefined): Buffer => {
    const b = Buffer.from(b64 ?? '', 'base64url');
    return Buffer.concat([Buffer.alloc(size - b.length), b]);
  };
  const ex = pad(jwk.x);
  const ey = pad(jwk.y);
  const seed = kdfe(hash, z, 'IDENTITY', ex, ecc.x, hash.size * 8);
  // The "encrypted" secret for ECC is the ephemeral point, TPMS_ECC_POINT (Part 2 §11.2.5.2).
  return { seed, encryptedSecret: tpm2b(Buffer.concat([tpm2b(ex), tpm2b(ey)])) };
}

/**
 * TPM2_MakeCredential done by the verifier (TPM 2.0 Part 1 §24, Part 3 §12.6): binds `secret` to
 * the object named `akName` in the TPM that holds `ekPublic`. Only that TPM can run
 * TPM2_ActivateCredential on it, and it refuses unless an object with exactly that name (so
 * exactly those attributes, e.g. fixedTPM + restricted) is loaded beside the EK.
 */
export function makeCredential(ekPublic: Buffer | TpmPublic, akName: Buffer, secret: Buffer): Credential {
  const ek = Buffer.isBuffer(ekPublic) ? parseTpmPublic(ekPublic) : ekPublic;
  const hash = ek.nameAlg;
  if (secret.length === 0 || secret.length > hash.size) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `The credential secret must be 1..${hash.size} bytes (the EK nameAlg digest size).`);
  }
  if (akName.length < 2 || akName.readUInt16BE(0) === TPM_ALG.NULL || akName.length > 2 + 64) {
    throw new ZetaError('ZETA_ERR_VALIDATION', 'The AK name must be nameAlg || digest.');
  }
  const sym = ek.symmetric;
  if (sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || (sym.keyBits !== 128 && sym.keyBits !== 256)) {
    throw new ZetaError('ZETA_ERR_TPM_MALFORMED', 'The EK is not a storage key with AES-CFB protection (not an endorsement key).');
  }
  const { seed, encryptedSecret } = protectSeed(ek);
  // Part 1 §24.4: symKey = KDFa(nameAlg, seed, "STORAGE", name, ∅, symKeyBits); IV is zero.
  const symKey = kdfa(hash, seed, 'STORAGE', akName, Buffer.alloc(0), sym.keyBits);
  const cipher = createCipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(secret)), cipher.final()]);
  // Part 1 §24.5: HMACkey = KDFa(nameAlg, seed, "INTEGRITY", ∅, ∅, digest bits); outerHMAC over encIdentity || name.
  const hmacKey = kdfa(hash, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), hash.size * 8);
  const integrity = createHmac(hash.name, hmacKey).update(encIdentity).update(akName).digest();
  return { credentialBlob: tpm2b(Buffer.concat([tpm2b(integrity), encIdentity])), encryptedSecret };
}

/** tpm2-tools' makecredential file: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. */
export function encodeTpm2ToolsCredential(c: Credential): Buffer {
  return Buffer.concat([u32be(0xbadcc0de), u32be(1), c.credentialBlob, c.encryptedSecret]);
}
