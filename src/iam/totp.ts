/**
 * TOTP (RFC 6238) through otplib v13: SHA-1, 6 digits, 30 s, what every authenticator app speaks.
 * One step of clock skew each way is accepted (RFC 6238 §5.2), and the caller passes the last
 * accepted time step so a code is never accepted twice (§5.2: "the verifier MUST NOT accept the
 * second attempt of the OTP after the successful validation").
 */
import { generateSecret, generateURI, verify, generate } from 'otplib';

export const TOTP_PERIOD = 30;

export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(secret: string, username: string, issuer: string): string {
  return generateURI({ issuer, label: username, secret });
}

/** The accepted RFC 6238 time step, or undefined. `after` refuses that step and earlier ones. */
export async function verifyTotp(secret: string, code: string, now: Date, after: number | null): Promise<number | undefined> {
  if (!/^[0-9]{6}$/.test(code)) return undefined;
  const r = await verify({
    secret, token: code, epoch: Math.floor(now.getTime() / 1000), epochTolerance: TOTP_PERIOD,
    ...(after === null ? {} : { afterTimeStep: after }),
  }).catch(() => ({ valid: false as const }));
  return r.valid && 'timeStep' in r ? r.timeStep : undefined;
}

/** The current code (tests, and `zeta operator add --totp` provisioning checks). */
export function totpCode(secret: string, now: Date = new Date()): Promise<string> {
  return generate({ secret, epoch: Math.floor(now.getTime() / 1000) });
}
