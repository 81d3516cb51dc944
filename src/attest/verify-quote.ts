import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { isZetaError } from '../common/errors.js';
import { refuse, type Refusal } from './refusal.js';
import { checkTpmSignature, parseQuoteAttest, parseTpmSignature, type QuoteAttest, type TpmSignature } from './tpm-attest.js';
import { HASH_ALGS, isHashName, type HashName } from './tpm-alg.js';
import { akAttributeProblems, parseTpmPublic, type TpmPublic } from './tpm-public.js';

/** PCR values as the device read them: bank name → PCR index → value. */
export type PcrValues = Partial<Record<HashName, Record<number, Buffer>>>;

export interface VerifyQuoteInput {
  /**
   * The attestation key: TPM2B_PUBLIC / TPMT_PUBLIC bytes or a parsed one (TPM-resident AK), or a
   * bare KeyObject for a software attestation key (then no TPM property can be claimed).
   */
  readonly akPublic: Buffer | TpmPublic | KeyObject;
  /** TPMS_ATTEST or TPM2B_ATTEST bytes, as TPM2_Quote returned them. */
  readonly quote: Buffer;
  /** TPMT_SIGNATURE bytes. */
  readonly signature: Buffer;
  /** The nonce this verifier issued for this quote. */
  readonly nonce: Buffer;
  readonly pcrs: PcrValues;
  /** PCRs the quote must cover (e.g. [0, 2, 4, 7]); default none beyond what `pcrs` lists. */
  readonly requiredPcrs?: readonly number[];
  /** SHA-1 signatures and SHA-1 PCR banks are refused ('weak-hash') unless this is set. */
  readonly allowSha1?: boolean;
}

export interface VerifiedQuote {
  readonly ok: true;
  readonly attest: QuoteAttest;
  readonly signature: TpmSignature;
  /** The quoted PCRs only, per bank: values proven by the signature through pcrDigest. */
  readonly quoted: ReadonlyMap<HashName, ReadonlyMap<number, Buffer>>;
  /** Parsed AK, or null for a software key. */
  readonly ak: TpmPublic | null;
}

export type QuoteCheck = VerifiedQuote | Refusal;

function malformed(e: unknown): Refusal {
  if (isZetaError(e) && e.code === 'ZETA_ERR_TPM_MALFORMED') return refuse('malformed', e.message);
  throw e;
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === 'object' && k !== null && 'asymmetricKeyType' in k && 'export' in k;
}

/**
 * Verifies a TPM2_Quote: size → structure → signature → nonce → PCR selection → pcrDigest
 * (TPM 2.0 Part 3 §18.4: pcrDigest = H_sign(PCR values in selection order)).
 */
export function verifyQuote(input: VerifyQuoteInput): QuoteCheck {
  let ak: TpmPublic | null;
  let attest: QuoteAttest;
  let sig: TpmSignature;
  try {
    ak = Buffer.isBuffer(input.akPublic) ? parseTpmPublic(input.akPublic) : isKeyObject(input.akPublic) ? null : input.akPublic;
    attest = parseQuoteAttest(input.quote);
    sig = parseTpmSignature(input.signature);
  } catch (e) {
    return malformed(e);
  }
  const allowSha1 = input.allowSha1 === true;
  if (sig.hash.name === 'sha1' && !allowSha1) return refuse('weak-hash', 'The quote is signed with SHA-1, which this verifier does not accept.');
  if (ak !== null) {
    const problems = akAttributeProblems(ak);
    if (problems.length > 0) return refuse('ak-not-restricted', `The attestation key is not a restricted TPM signing key: ${problems.join(', ')}.`);
  }
  const key = ak ?? (input.akPublic as KeyObject);
  const sigProblem = checkTpmSignature(key, attest.raw, sig);
  if (sigProblem !== null) return refuse('signature-invalid', `Quote signature: ${sigProblem}.`);

  if (attest.extraData.length !== input.nonce.length || !timingSafeEqual(attest.extraData, input.nonce)) {
    return refuse('nonce-mismatch', 'The quote does not carry the nonce issued for it (stale or replayed quote).');
  }

  const quoted = new Map<HashName, Map<number, Buffer>>();
  const parts: Buffer[] = [];
  for (const sel of attest.pcrSelect) {
    if (quoted.has(sel.hash.name)) return refuse('malformed', `The quote selects the ${sel.hash.name} bank twice.`);
    if (sel.hash.name === 'sha1' && !allowSha1 && sel.pcrs.length > 0) return refuse('weak-hash', 'The quote covers the SHA-1 PCR bank, which this verifier does not accept.');
    const supplied = input.pcrs[sel.hash.name] ?? {};
    const bank = new Map<number, Buffer>();
    for (const i of sel.pcrs) {
      const v = supplied[i];
      if (v === undefined) return refuse('pcr-selection-mismatch', `The quote covers ${sel.hash.name} PCR ${i} but no value for it was sent.`);
      if (v.length !== sel.hash.size) return refuse('pcr-selection-mismatch', `${sel.hash.name} PCR ${i} has ${v.length} bytes, expected ${sel.hash.size}.`);
      bank.set(i, v);
      parts.push(v);
    }
    quoted.set(sel.hash.name, bank);
  }
  // INVARIANT: every PCR value the caller will rely on is covered by the signature.
  for (const [alg, values] of Object.entries(input.pcrs)) {
    if (!isHashName(alg) || values === undefined) continue;
    for (const idx of Object.keys(values)) {
      if (quoted.get(alg)?.has(Number(idx)) !== true) return refuse('pcr-selection-mismatch', `${alg} PCR ${idx} was sent but the quote does not cover it.`);
    }
  }
  for (const req of input.requiredPcrs ?? []) {
    if (![...quoted.values()].some((b) => b.has(req))) return refuse('pcr-selection-mismatch', `The quote does not cover the required PCR ${req}.`);
  }
  const digest = createHash(sig.hash.name).update(Buffer.concat(parts)).digest();
  if (attest.pcrDigest.length !== HASH_ALGS[sig.hash.name].size || !timingSafeEqual(digest, attest.pcrDigest)) {
    return refuse('pcr-digest-mismatch', 'The PCR values sent do not hash to the quoted pcrDigest.');
  }
  return { ok: true, attest, signature: sig, quoted, ak };
}
