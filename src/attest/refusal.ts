/**
 * Every way an attestation can be refused, one stable name each. The caller (API, trust score,
 * audit) keys on `reason`; `detail` is for the operator log.
 */
export const REFUSAL_REASONS = [
  'malformed',
  'weak-hash',
  'ak-not-restricted',
  'signature-invalid',
  'nonce-mismatch',
  'nonce-replayed',
  'pcr-selection-mismatch',
  'pcr-digest-mismatch',
  'event-log-tampered',
  'event-log-pcr-mismatch',
  'measurement-not-in-reference',
  'ak-not-bound',
  'ek-cert-mismatch',
  'ek-chain-untrusted',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  readonly detail: string;
}

export function refuse(reason: RefusalReason, detail: string): Refusal {
  return { ok: false, reason, detail };
}
