/**
 * Passwords: argon2id (RFC 9106) with the OWASP-recommended minimum (19 MiB, t=2, p=1), and a
 * minimum policy (length, not the user name itself, not one repeated character). NIST SP 800-63B §5.1.1.2:
 * length over composition rules; no maximum below 64 (ours is 256, to bound hashing work).
 */
import { hash, verify, type Options } from '@node-rs/argon2';
import { ZetaError } from '../common/errors.js';

// Algorithm.Argon2id is an ambient const enum (not importable under verbatimModuleSyntax); its value is 2.
const PARAMS: Options = { algorithm: 2 as NonNullable<Options['algorithm']>, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
export const MAX_PASSWORD_LENGTH = 256;

/** Verified against when the user does not exist, so an unknown name costs the same time. */
let dummyHash: Promise<string> | undefined;

export function checkPasswordPolicy(password: string, username: string, minLength: number): void {
  const problems: string[] = [];
  if ([...password].length < minLength) problems.push(`at least ${minLength} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) problems.push(`at most ${MAX_PASSWORD_LENGTH} characters`);
  if (password.toLowerCase() === username.toLowerCase()) problems.push('must not be the user name');
  if (/^(.)\1*$/su.test(password)) problems.push('must not be one repeated character');
  if (problems.length > 0) throw new ZetaError('ZETA_ERR_PASSWORD_POLICY', `password: ${problems.join('; ')}`, { fields: { problems } });
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

/** Constant work whether or not there is a hash to check (unknown user, SSO-only account). */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  if (stored === null) {
    dummyHash ??= hash('zeta-dummy-password-for-timing', PARAMS);
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
