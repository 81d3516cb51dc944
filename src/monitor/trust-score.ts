/**
 * Device trust score, 0..100: a pure, total function of what is known about the device
 * (identity, posture, behaviour) and the time given in the input — no clock read, no I/O — that
 * returns its reasons (cf. the policy engine, STYLE.md). The policy engine sees the score as the
 * entity attribute `trustScore`.
 *
 * Weights (points subtracted from 100; the sum is clamped to [0, 100]):
 *
 * | factor | condition | points |
 * |---|---|---|
 * | identity.cert | certificate not valid (expired, revoked, unknown CA) | −60, and the score is capped at 20 |
 * | identity.keyType | ECDSA P-256/P-384, Ed25519: 0; RSA ≥ 2048: −5; anything else: −15 | 0..−15 |
 * | identity.attestation | verified: 0; unknown (not yet checked): −10; none (not supported): −15; failed: −40 | 0..−40 |
 * | identity.tpm | key not TPM-resident | −5 |
 * | identity.attestationMethod | verified with a software attestation key (no TPM): proves the agent, not the platform | −10 |
 * | posture.vulnerableFirmware | firmware with a known vulnerability | −20 |
 * | posture.firmwareAge | −5 at 1 year, growing linearly to −10 at 2 years and beyond | 0..−10 |
 * | posture.certAge | certificate older than 1 year (renewal overdue) | −5 |
 * | behavior | 40 × (1 − Π(1 − sᵢ·2^(−ageᵢ/24 h))) over the recent detection scores sᵢ | 0..−40 |
 *
 * Behaviour decays with a 24 h half-life: an alert of score 0.9 costs 36 points now, 18 tomorrow, 9
 * the day after. Scores from the future (clock skew) count as now; at most 64 scores are read.
 */

export type Attestation = 'verified' | 'failed' | 'unknown' | 'none';

export interface TrustInput {
  readonly identity: {
    readonly certValid: boolean;
    readonly keyType: string;
    readonly attestation: Attestation;
    readonly tpmResident: boolean;
    /** How the attestation was signed; 'software' is weaker than a TPM AK (src/attest README). */
    readonly attestationMethod?: 'tpm' | 'software';
  };
  readonly posture: { readonly firmwareAgeDays?: number; readonly vulnerableFirmware?: boolean; readonly certAgeDays?: number };
  readonly behavior: { readonly recentScores: readonly { readonly score: number; readonly atMs: number }[]; readonly nowMs: number };
}

export interface TrustFactor {
  readonly name: string;
  /** Points subtracted (≤ 0). */
  readonly points: number;
  readonly detail: string;
}

export interface TrustResult {
  readonly score: number;
  readonly factors: readonly TrustFactor[];
}

export const TRUST_WEIGHTS = Object.freeze({
  certInvalid: 60,
  certInvalidCap: 20,
  keyRsa: 5,
  keyOther: 15,
  attestationUnknown: 10,
  attestationNone: 15,
  attestationFailed: 40,
  notTpm: 5,
  attestationSoftware: 10,
  vulnerableFirmware: 20,
  firmwareAgeMax: 10,
  certOld: 5,
  behavior: 40,
  behaviorHalfLifeMs: 24 * 3600_000,
  maxScores: 64,
});

const STRONG_KEYS = new Set(['ecdsa-p256', 'ecdsa-p384', 'ec-p256', 'ec-p384', 'p-256', 'p-384', 'ed25519']);

function normKey(k: string): string {
  return k.toLowerCase().replace(/[\s_]/g, '-');
}

export function trustScore(input: TrustInput): TrustResult {
  const W = TRUST_WEIGHTS;
  const factors: TrustFactor[] = [];
  const add = (name: string, points: number, detail: string): void => {
    factors.push({ name, points: points === 0 ? 0 : -Math.abs(points), detail });
  };
  const { identity, posture, behavior } = input;

  add('identity.cert', identity.certValid ? 0 : W.certInvalid, identity.certValid ? 'certificate valid' : 'certificate not valid');
  const k = normKey(String(identity.keyType));
  const rsa = /^rsa-?(\d+)$/.exec(k);
  if (STRONG_KEYS.has(k)) add('identity.keyType', 0, `${identity.keyType}: allowed`);
  else if (rsa && Number(rsa[1]) >= 2048) add('identity.keyType', W.keyRsa, `${identity.keyType}: weaker than the ECDSA/Ed25519 default`);
  else add('identity.keyType', W.keyOther, `${identity.keyType}: not a recommended key type`);
  const att = identity.attestation;
  add('identity.attestation', att === 'verified' ? 0 : att === 'failed' ? W.attestationFailed : att === 'none' ? W.attestationNone : W.attestationUnknown, `attestation ${att}`);
  if (att === 'verified' && identity.attestationMethod === 'software') add('identity.attestationMethod', W.attestationSoftware, 'attested with a software key: proves the agent, not the platform');
  add('identity.tpm', identity.tpmResident ? 0 : W.notTpm, identity.tpmResident ? 'key in TPM' : 'key not TPM-resident');

  if (posture.vulnerableFirmware === true) add('posture.vulnerableFirmware', W.vulnerableFirmware, 'firmware with a known vulnerability');
  const fw = posture.firmwareAgeDays;
  if (fw !== undefined && Number.isFinite(fw)) {
    const p = fw < 365 ? 0 : Math.min(W.firmwareAgeMax, 5 + (5 * (fw - 365)) / 365);
    add('posture.firmwareAge', Math.round(p * 10) / 10, `firmware ${Math.round(fw)} days old`);
  }
  const ca = posture.certAgeDays;
  if (ca !== undefined && Number.isFinite(ca)) add('posture.certAge', ca > 365 ? W.certOld : 0, `certificate ${Math.round(ca)} days old`);

  // Behaviour: probabilistic OR of decayed scores, so several small anomalies add up but never exceed 1.
  let keep = 1;
  let used = 0;
  for (const r of behavior.recentScores) {
    if (used >= W.maxScores) break;
    if (!Number.isFinite(r.score) || !Number.isFinite(r.atMs)) continue;
    used++;
    const s = Math.min(1, Math.max(0, r.score));
    const age = Math.max(0, behavior.nowMs - r.atMs);
    keep *= 1 - s * Math.pow(2, -age / W.behaviorHalfLifeMs);
  }
  const b = Math.round(W.behavior * (1 - keep) * 10) / 10;
  add('behavior', b, used === 0 ? 'no recent detections' : `${used} recent detection score(s), decayed with a 24 h half-life`);

  let score = 100 + factors.reduce((t, f) => t + f.points, 0);
  if (!identity.certValid) score = Math.min(score, W.certInvalidCap);
  score = Math.max(0, Math.min(100, Math.round(score)));
  return { score, factors };
}
