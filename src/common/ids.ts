import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';

/** Device ids and other public identifiers: lower-case, URL and SPIFFE-path safe. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString('hex')}`;
}

/** A bearer secret: 32 random bytes, base64url, with a readable prefix. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * Secrets are 256-bit random values, so a single SHA-256 is a sufficient at-rest hash (no slow KDF
 * needed: there is nothing to brute-force).
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}
