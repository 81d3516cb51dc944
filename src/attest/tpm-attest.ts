import { constants, createHash, publicDecrypt, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ByteReader, unwrapTpm2b } from './byte-reader.js';
import { ECC_CURVES, TPM_ALG, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, hashById, type HashAlgInfo } from './tpm-alg.js';
import type { TpmPublic } from './tpm-public.js';

/** sizeof(TPMS_ATTEST) bound (Part 2 §10.12.13: TPM2B_ATTEST.attestationData is at most that). */
export const MAX_ATTEST_BYTES = 1024;
export const MAX_SIGNATURE_BYTES = 1024;
/** Part 2 §10.6.2: at most HASH_COUNT selections; PC Client TPMs have 24 PCRs → 3 select bytes. */
const MAX_PCR_SELECTIONS = 8;
const MAX_SIZEOF_SELECT = 4;

export interface PcrSelection {
  readonly hash: HashAlgInfo;
  /** PCR indexes, ascending (the order their values enter pcrDigest, Part 3 §18.2 / §18.4). */
  readonly pcrs: readonly number[];
}

export interface ClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

export interface QuoteAttest {
  readonly magic: number;
  readonly type: number;
  readonly qualifiedSigner: Buffer;
  /** The caller's nonce, echoed by the TPM (TPM2_Quote qualifyingData). */
  readonly extraData: Buffer;
  readonly clockInfo: ClockInfo;
  readonly firmwareVersion: bigint;
  readonly pcrSelect: readonly PcrSelection[];
  readonly pcrDigest: Buffer;
  /** The exact TPMS_ATTEST bytes the signature covers. */
  readonly raw: Buffer;
}

function readPcrSelection(r: ByteReader): PcrSelection[] {
  const count = r.u32('pcrSelect.count');
  if (count > MAX_PCR_SELECTIONS) r.fail(`${count} PCR selections, at most ${MAX_PCR_SELECTIONS}`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashId = r.u16('pcrSelect.hash');
    const hash = hashById(hashId) ?? r.fail(`PCR bank 0x${hashId.toString(16)} not supported`);
    const size = r.u8('pcrSelect.sizeofSelect');
    if (size > MAX_SIZEOF_SELECT) r.fail(`sizeofSelect ${size} over ${MAX_SIZEOF_SELECT}`);
    const bits = r.bytes(size, 'pcrSelect.pcrSelect');
    const pcrs: number[] = [];
    // Part 2 §10.6.1: PCR n is bit (n mod 8) of octet (n div 8).
    for (let n = 0; n < size * 8; n++) if (((bits[n >> 3] ?? 0) & (1 << (n & 7))) !== 0) pcrs.push(n);
    out.push({ hash, pcrs });
  }
  return out;
}

function looksLikeAttest(b: Buffer): boolean {
  return b.length >= 4 && b.readUInt32BE(0) === TPM_GENERATED_VALUE;
}

/** Parses a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE, or the TPM2B_ATTEST around one. */
export function parseQuoteAttest(input: Buffer): QuoteAttest {
  if (input.length > MAX_ATTEST_BYTES + 2) new ByteReader(input, 'TPMS_ATTEST').fail(`${input.length} bytes is over the ${MAX_ATTEST_BYTES}-byte limit`);
  const body = unwrapTpm2b(input, looksLikeAttest);
  const r = new ByteReader(body, 'TPMS_ATTEST');
  const magic = r.u32('magic');
  if (magic !== TPM_GENERATED_VALUE) r.fail('magic is not TPM_GENERATED_VALUE');
  const type = r.u16('type');
  if (type !== TPM_ST_ATTEST_QUOTE) r.fail(`type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
  const qualifiedSigner = r.tpm2b('qualifiedSigner', 2 + 64);
  const extraData = r.tpm2b('extraData', 64);
  const clock = r.u64('clockInfo.clock');
  const resetCount = r.u32('clockInfo.resetCount');
  const restartCount = r.u32('clockInfo.restartCount');
  const safeByte = r.u8('clockInfo.safe');
  if (safeByte > 1) r.fail('clockInfo.safe is not TPMI_YES_NO');
  const firmwareVersion = r.u64('firmwareVersion');
  const pcrSelect = readPcrSelection(r);
  const pcrDigest = r.tpm2b('pcrDigest', 64);
  r.end();
  return {
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safeByte === 1 },
    firmwareVersion,
    pcrSelect,
    pcrDigest,
    raw: Buffer.from(body),
  };
}

export type SignatureScheme = 'rsassa' | 'rsapss' | 'ecdsa';

export interface TpmSignature {
  readonly scheme: SignatureScheme;
  readonly hash: HashAlgInfo;
  /** RSA: the signature octets; ECDSA: r || s, each left-padded later to the curve size. */
  readonly sig?: Buffer;
  readonly r?: Buffer;
  readonly s?: Buffer;
}

/** Parses a TPMT_SIGNATURE (Part 2 §11.3.4) for RSASSA, RSAPSS and ECDSA. */
export function parseTpmSignature(input: Buffer): TpmSignature {
  const r = new ByteReader(input, 'TPMT_SIGNATURE');
  if (input.length > MAX_SIGNATURE_BYTES) r.fail(`${input.length} bytes is over the ${MAX_SIGNATURE_BYTES}-byte limit`);
  const alg = r.u16('sigAlg');
  const hashId = r.u16('hash');
  const hash = hashById(hashId) ?? r.fail(`signature hash 0x${hashId.toString(16)} not supported`);
  let out: TpmSignature;
  if (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS) {
    out = { scheme: alg === TPM_ALG.RSASSA ? 'rsassa' : 'rsapss', hash, sig: r.tpm2b('sig', 512) };
  } else if (alg === TPM_ALG.ECDSA) {
    out = { scheme: 'ecdsa', hash, r: r.tpm2b('signatureR', 66), s: r.tpm2b('signatureS', 66) };
  } else {
    return r.fail(`signature algorithm 0x${alg.toString(16)} not supported`);
  }
  r.end();
  return out;
}

const SCHEME_ALG: Record<SignatureScheme, number> = { rsassa: TPM_ALG.RSASSA, rsapss: TPM_ALG.RSAPSS, ecdsa: TPM_ALG.ECDSA };

/** DigestInfo DER prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Record<string, string> = {
  sha1: '3021300906052b0e03021a05000414',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/**
 * RSASSA-PKCS1-v1_5 by encode-and-compare (RFC 8017 §8.2.2): the whole encoded message must equal
 * the one expected, so no lenient DigestInfo parsing can accept a forged or malformed padding.
 */
function verifyPkcs1(key: KeyObject, data: Buffer, hash: HashAlgInfo, sig: Buffer): boolean {
  const k = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  const prefix = DIGEST_INFO[hash.name];
  if (prefix === undefined || sig.length !== k) return false;
  const t = Buffer.concat([Buffer.from(prefix, 'hex'), createHash(hash.name).update(data).digest()]);
  if (k < t.length + 11) return false;
  const expected = Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(k - t.length - 3, 0xff), Buffer.from([0x00]), t]);
  let em: Buffer;
  try {
    em = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, sig);
  } catch {
    return false; // signature representative out of range (≥ n)
  }
  return em.length === expected.length && timingSafeEqual(em, expected);
}

function fixedWidth(v: Buffer, size: number): Buffer | null {
  let t = v;
  while (t.length > 0 && t[0] === 0) t = t.subarray(1);
  if (t.length > size) return null;
  return Buffer.concat([Buffer.alloc(size - t.length), t]);
}

/**
 * Checks `sig` over `data` with the key. Returns a reason when it does not verify, null when it
 * does. The scheme must fit the key type and, when the key fixes one, the key's scheme and hash.
 */
export function checkTpmSignature(key: TpmPublic | KeyObject, data: Buffer, sig: TpmSignature): string | null {
  const keyObject = 'key' in key ? key.key : key;
  const keyType = keyObject.asymmetricKeyType;
  if ('key' in key && key.scheme.alg !== TPM_ALG.NULL) {
    if (key.scheme.alg !== SCHEME_ALG[sig.scheme] || key.scheme.hash?.id !== sig.hash.id) return 'the signature scheme is not the one the key is restricted to';
  }
  if (sig.scheme === 'ecdsa') {
    if (keyType !== 'ec' || sig.r === undefined || sig.s === undefined) return 'an ECDSA signature needs an ECC key';
    const crv = keyObject.asymmetricKeyDetails?.namedCurve;
    const size = Object.values(ECC_CURVES).find((c) => c.jwk === crv || (crv === 'prime256v1' && c.jwk === 'P-256') || (crv === 'secp384r1' && c.jwk === 'P-384') || (crv === 'secp521r1' && c.jwk === 'P-521'))?.size;
    if (size === undefined) return `curve ${String(crv)} not supported`;
    const rr = fixedWidth(sig.r, size);
    const ss = fixedWidth(sig.s, size);
    if (rr === null || ss === null) return 'ECDSA r or s is longer than the curve order';
    return cryptoVerify(sig.hash.name, data, { key: keyObject, dsaEncoding: 'ieee-p1363' }, Buffer.concat([rr, ss])) ? null : 'signature does not verify';
  }
  if (keyType !== 'rsa' || sig.sig === undefined) return 'an RSA signature needs an RSA key';
  if (sig.scheme === 'rsassa') return verifyPkcs1(keyObject, data, sig.hash, sig.sig) ? null : 'signature does not verify';
  // TPM 2.0 Part 1 §B.7 (RSAPSS) as current TPMs and libtpms implement it: salt = digest size.
  // Exactly that length, not RSA_PSS_SALTLEN_AUTO: a verifier should not accept more than the signer does.
  if (cryptoVerify(sig.hash.name, data, { key: keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: sig.hash.size }, sig.sig)) return null;
  return 'signature does not verify';
}
