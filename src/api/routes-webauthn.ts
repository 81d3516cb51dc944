/**
 * WebAuthn passkeys (W3C WebAuthn Level 3) through @simplewebauthn/server: registration (at first
 * login instead of TOTP, or from a session), authentication as the second factor, and step-up.
 * The relying party is the API's public URL (iamPublicUrl): rpID its host name, the only accepted
 * origin that URL. Each challenge is stored in the caller's (pre-)session row and taken before it
 * is checked, so it is single use; the signature counter is kept and must not go backwards.
 * Attestation is not requested ('none'): Zeta trusts the operator's enrolment, not a vendor.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { ZetaError } from '../common/errors.js';
import type { OperatorInfo, SessionRow } from '../iam/index.js';
import { clientAddress } from './access.js';
import type { AuthHelpers } from './routes-auth.js';

export interface WebauthnHandle {
  stepUp: (s: { row: SessionRow; operator: OperatorInfo }, response: Record<string, unknown>, address: string) => Promise<string>;
}

const credentialResponse = z.record(z.string(), z.unknown());

export function registerWebauthnRoutes(app: FastifyInstance, h: AuthHelpers): WebauthnHandle {
  const { cp, access } = h;
  const origin = cp.iam.publicUrl;
  const rpID = new URL(origin).hostname;
  const store = cp.store;
  const opts = { bodyLimit: 64 * 1024 };

  const credentialsOf = (operatorId: string): Promise<{ id: string; transports: string }[]> =>
    store.db.selectFrom('webauthn_credentials').select(['id', 'transports']).where('operator_id', '=', operatorId).execute();
  const allow = async (operatorId: string): Promise<{ id: string; transports?: string[] }[]> =>
    (await credentialsOf(operatorId)).map((c) => ({ id: c.id, transports: JSON.parse(c.transports) as string[] }));

  const refuse = async (username: string, action: string, why: string, address: string): Promise<never> => {
    await cp.audit.record({ actor: `operator:${username}`, action, outcome: 'refused', subject: username, details: { method: 'webauthn', why, client: address } });
    if (await cp.iam.guard.fail(username)) await cp.audit.record({ actor: 'iam', action: 'auth.lockout', outcome: 'ok', subject: username, details: { client: address } });
    throw new ZetaError('ZETA_ERR_WEBAUTHN', 'passkey not accepted');
  };

  /** Verifies an assertion against the challenge taken from `row`; returns the credential's owner id. */
  const verifyAssertion = async (row: SessionRow, username: string, raw: Record<string, unknown>, address: string, action: string): Promise<void> => {
    const response = raw as unknown as AuthenticationResponseJSON;
    const challenge = await store.writeTx((tx) => cp.iam.sessions.takeChallenge(tx, row.id_hash));
    if (challenge === undefined) throw new ZetaError('ZETA_ERR_WEBAUTHN', 'ask for options first (the challenge is single use)');
    const id = typeof response.id === 'string' ? response.id : '';
    const cred = await store.db.selectFrom('webauthn_credentials').selectAll().where('id', '=', id).executeTakeFirst();
    if (cred === undefined || cred.operator_id !== row.operator_id) return refuse(username, action, 'unknown credential', address);
    let ok = false;
    let newCounter = cred.counter;
    try {
      const v = await verifyAuthenticationResponse({
        response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false,
        credential: { id: cred.id, publicKey: new Uint8Array(Buffer.from(cred.public_key, 'base64url')), counter: cred.counter },
      });
      ok = v.verified;
      newCounter = v.authenticationInfo.newCounter;
    } catch (e) {
      return refuse(username, action, (e as Error).message.slice(0, 200), address);
    }
    if (!ok) return refuse(username, action, 'signature not verified', address);
    await store.db.updateTable('webauthn_credentials').set({ counter: newCounter, last_used_at: cp.clock.now().toISOString() }).where('id', '=', cred.id).execute();
  };

  const operatorRow = async (id: string): Promise<NonNullable<Awaited<ReturnType<typeof cp.iam.operators.row>>>> => {
    const r = await cp.iam.operators.row(id);
    if (r === undefined || r.disabled_at !== null) throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'log in again');
    return r;
  };

  /** Registration: at stage enroll (first login) or from a full session. */
  const registrant = async (req: Parameters<typeof access.preSession>[0]): Promise<{ row: SessionRow; pre: boolean }> => {
    const pre = await access.preSession(req);
    if (pre !== undefined) {
      if (pre.stage !== 'enroll') throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'verify the existing second factor first, then add a passkey from the session');
      return { row: pre, pre: true };
    }
    return { row: (await h.session(req)).row, pre: false };
  };

  app.post('/api/v1/auth/webauthn/register/options', opts, async (req) => {
    const { row } = await registrant(req);
    const op = await operatorRow(row.operator_id);
    const options = await generateRegistrationOptions({
      rpName: `Zeta (${cp.config.trustDomain})`, rpID, userName: op.username, userDisplayName: op.display_name,
      userID: new Uint8Array(Buffer.from(op.id, 'utf8')), attestationType: 'none', excludeCredentials: await allow(op.id),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
    await cp.iam.sessions.setChallenge(row.id_hash, options.challenge);
    return options;
  });

  app.post('/api/v1/auth/webauthn/register/verify', opts, async (req, reply) => {
    const { row, pre } = await registrant(req);
    const b = (() => {
      const r = z.strictObject({ response: credentialResponse, name: z.string().min(1).max(64).optional() }).safeParse(req.body ?? {});
      if (!r.success) throw new ZetaError('ZETA_ERR_VALIDATION', 'body: {response, name}');
      return r.data;
    })();
    const op = await operatorRow(row.operator_id);
    const address = clientAddress(req);
    const challenge = await store.writeTx((tx) => cp.iam.sessions.takeChallenge(tx, row.id_hash));
    if (challenge === undefined) throw new ZetaError('ZETA_ERR_WEBAUTHN', 'ask for registration options first (the challenge is single use)');
    let info;
    try {
      const v = await verifyRegistrationResponse({ response: b.response as unknown as RegistrationResponseJSON, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
      if (!v.verified) throw new Error('registration not verified');
      info = v.registrationInfo;
    } catch (e) {
      await cp.audit.record({ actor: `operator:${op.username}`, action: 'operator.mfa-enrol', outcome: 'refused', subject: op.username, details: { method: 'webauthn', why: (e as Error).message.slice(0, 200), client: address } });
      throw new ZetaError('ZETA_ERR_WEBAUTHN', 'passkey registration not accepted');
    }
    const name = b.name ?? 'passkey';
    const now = cp.clock.now().toISOString();
    let recoveryCodes: string[] | undefined;
    await store.writeTx(async (tx) => {
      const clash = await tx.selectFrom('webauthn_credentials').select('id').where('id', '=', info.credential.id).executeTakeFirst();
      if (clash !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', 'this passkey is already registered');
      await tx.insertInto('webauthn_credentials').values({
        id: info.credential.id, operator_id: op.id, public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter, transports: JSON.stringify(info.credential.transports ?? []), name, created_at: now, last_used_at: null,
      }).execute();
      // The first second factor of an account comes with its recovery codes, whichever kind it is.
      if (pre) recoveryCodes = await cp.iam.operators.replaceRecoveryCodes(tx, op.id);
      await cp.audit.append(tx, { actor: `operator:${op.username}`, action: 'operator.mfa-enrol', subject: op.username, details: { method: 'webauthn', credential: info.credential.id, name } });
    });
    if (!pre) return { id: info.credential.id, name };
    const g = await cp.iam.auth.grantFor(row, op, 'webauthn-enrol', address);
    return { id: info.credential.id, name, ...h.grant(reply, { ...g, ...(recoveryCodes === undefined ? {} : { recoveryCodes }) }) };
  });

  app.post('/api/v1/auth/webauthn/options', opts, async (req) => {
    const pre = await h.pre(req);
    if (pre.stage !== 'mfa') throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'this account has no passkey yet; register one');
    const options = await generateAuthenticationOptions({ rpID, allowCredentials: await allow(pre.operator_id), userVerification: 'preferred' });
    await cp.iam.sessions.setChallenge(pre.id_hash, options.challenge);
    return options;
  });

  app.post('/api/v1/auth/webauthn/verify', opts, async (req, reply) => {
    const pre = await h.pre(req);
    const b = z.strictObject({ response: credentialResponse }).safeParse(req.body ?? {});
    if (!b.success) throw new ZetaError('ZETA_ERR_VALIDATION', 'body: {response}');
    const op = await operatorRow(pre.operator_id);
    const address = clientAddress(req);
    const wait = await cp.iam.guard.lockedFor(op.username);
    if (wait > 0) throw new ZetaError('ZETA_ERR_LOCKED', 'too many failed logins for this user name; try again later', { fields: { retryAfter: wait } });
    await verifyAssertion(pre, op.username, b.data.response, address, 'auth.mfa');
    return h.grant(reply, await cp.iam.auth.grantFor(pre, op, 'webauthn', address));
  });

  app.post('/api/v1/auth/step-up/options', opts, async (req) => {
    const s = await h.session(req);
    const options = await generateAuthenticationOptions({ rpID, allowCredentials: await allow(s.operator.id), userVerification: 'preferred' });
    await cp.iam.sessions.setChallenge(s.row.id_hash, options.challenge);
    return options;
  });

  return {
    stepUp: async (s, response, address) => {
      await verifyAssertion(s.row, s.operator.username, response, address, 'auth.step-up');
      return store.writeTx(async (tx) => {
        const until = await cp.iam.sessions.setStepUp(tx, s.row.id_hash);
        await cp.audit.append(tx, { actor: `operator:${s.operator.username}`, action: 'auth.step-up', subject: s.operator.username, details: { method: 'webauthn', until } });
        return until;
      });
    },
  };
}
