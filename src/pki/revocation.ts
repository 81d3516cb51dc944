/** CRLReason registry (RFC 5280 §5.3.1): the one table of revocation reasons and their codes. */
import { ZetaError } from '../common/errors.js';

export const REVOCATION_REASONS = Object.freeze({
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  // 7 is not used (RFC 5280 §5.3.1)
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const);

export type RevocationReason = keyof typeof REVOCATION_REASONS;

export const REVOCATION_REASON_NAMES: readonly RevocationReason[] = Object.freeze(Object.keys(REVOCATION_REASONS) as RevocationReason[]);

export function parseRevocationReason(s: string): RevocationReason {
  if (typeof s === 'string' && Object.hasOwn(REVOCATION_REASONS, s)) return s as RevocationReason;
  throw new ZetaError('ZETA_ERR_VALIDATION', `Unknown revocation reason; use one of: ${REVOCATION_REASON_NAMES.join(', ')}.`, {
    internal: `reason ${JSON.stringify(s)}`,
    fields: { allowed: REVOCATION_REASON_NAMES },
  });
}

/**
 * A reason that may appear on a full CRL or an OCSP "revoked" answer. removeFromCRL only has
 * meaning in delta CRLs (RFC 5280 §5.3.1), which Zeta does not publish.
 */
export function checkPublishableReason(r: RevocationReason): number {
  const code = REVOCATION_REASONS[r];
  if (code === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', `Unknown revocation reason; use one of: ${REVOCATION_REASON_NAMES.join(', ')}.`);
  if (r === 'removeFromCRL') throw new ZetaError('ZETA_ERR_VALIDATION', 'removeFromCRL is only used in delta CRLs; unrevoke instead.');
  return code;
}
