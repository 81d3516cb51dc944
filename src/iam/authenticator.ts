/**
 * The login flow, independent of HTTP: password → (enrol) second factor → session, step-up and
 * logout. Every outcome is audited — failures with the name as typed (unknown names included), so
 * the log shows spraying — and every failure, password or second factor, counts toward the
 * per-name lockout. The caller (src/api/routes-auth.ts) owns cookies and the wire format.
 */
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import type { OperatorsTable } from '../store/index.js';
import type { LoginGuard } from './login-guard.js';
import type { OperatorInfo } from './model.js';
import { normalizeUsername, type Operators } from './operators.js';
import { verifyPassword, MAX_PASSWORD_LENGTH } from './passwords.js';
import type { Sessions, SessionRow } from './sessions.js';
import { totpUri, verifyTotp } from './totp.js';

export type MfaMethod = 'totp' | 'webauthn' | 'recovery';

export interface LoginStep {
  stage: 'mfa' | 'enroll-mfa';
  methods?: MfaMethod[];
  preId: string;
}

export interface SessionGrant {
  sessionId: string;
  csrfToken: string;
  operator: OperatorInfo;
  recoveryCodes?: string[];
}

export class Authenticator {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly operators: Operators;
  readonly sessions: Sessions;
  readonly guard: LoginGuard;
  readonly #issuer: string;

  constructor(o: { store: Store; audit: AuditLog; clock: Clock; operators: Operators; sessions: Sessions; guard: LoginGuard; issuer: string }) {
    this.#store = o.store;
    this.#audit = o.audit;
    this.#clock = o.clock;
    this.operators = o.operators;
    this.sessions = o.sessions;
    this.guard = o.guard;
    this.#issuer = o.issuer;
  }

  async #refuse(action: string, username: string, why: string, address: string): Promise<void> {
    await this.#audit.record({ actor: `login:${username.slice(0, 64)}`, action, outcome: 'refused', subject: username.slice(0, 64), details: { why, client: address } });
  }

  /** Counts a failure and audits a lockout it causes. */
  async #fail(action: string, username: string, why: string, address: string): Promise<never> {
    await this.#refuse(action, username, why, address);
    if (await this.guard.fail(username)) {
      await this.#audit.record({ actor: 'iam', action: 'auth.lockout', outcome: 'ok', subject: username.slice(0, 64), details: { client: address } });
    }
    throw new ZetaError(action === 'auth.login' ? 'ZETA_ERR_LOGIN_FAILED' : 'ZETA_ERR_MFA_FAILED', action === 'auth.login' ? 'user name or password not accepted' : 'second factor not accepted');
  }

  async #checkLocked(username: string, address: string): Promise<void> {
    const wait = await this.guard.lockedFor(username);
    if (wait > 0) {
      await this.#refuse('auth.login', username, 'locked', address);
      throw new ZetaError('ZETA_ERR_LOCKED', 'too many failed logins for this user name; try again later', { fields: { retryAfter: wait } });
    }
  }

  /** Step 1. Unknown names, disabled accounts and wrong passwords get the same answer after the same work. */
  async login(usernameIn: string, password: string, address: string): Promise<LoginStep> {
    const username = normalizeUsername(usernameIn).slice(0, 128);
    const wait = this.guard.rateLimit(address);
    if (wait > 0) {
      await this.#refuse('auth.login', username, 'address rate limit', address);
      throw new ZetaError('ZETA_ERR_RATE_LIMITED', 'too many login attempts from this address', { fields: { retryAfter: wait } });
    }
    await this.#checkLocked(username, address);
    const row = username === '' || password.length > MAX_PASSWORD_LENGTH ? undefined : await this.operators.byUsername(username);
    const ok = await verifyPassword(row?.password_hash ?? null, password);
    if (row === undefined || !ok || row.disabled_at !== null) {
      return this.#fail('auth.login', username, row === undefined ? 'unknown user' : row.disabled_at !== null ? 'disabled' : 'wrong password', address);
    }
    const methods = await this.#methods(row);
    const stage = methods.length === 0 ? 'enroll' : 'mfa';
    const pre = await this.#store.writeTx(async (tx) => {
      // Any earlier pre-authentication state of this operator ends: one login in flight at a time.
      await tx.deleteFrom('sessions').where('operator_id', '=', row.id).where('stage', '!=', 'full').execute();
      const p = await this.sessions.create(tx, row.id, stage, address);
      await this.#audit.append(tx, { actor: `operator:${row.username}`, action: 'auth.password', subject: row.username, details: { next: stage, client: address } });
      return p;
    });
    return stage === 'enroll' ? { stage: 'enroll-mfa', preId: pre.id } : { stage: 'mfa', methods: [...methods, 'recovery'], preId: pre.id };
  }

  async #methods(row: OperatorsTable): Promise<MfaMethod[]> {
    const m: MfaMethod[] = [];
    if (row.totp_secret !== null) m.push('totp');
    const keys = await this.#store.db.selectFrom('webauthn_credentials').select('id').where('operator_id', '=', row.id).limit(1).execute();
    if (keys.length > 0) m.push('webauthn');
    return m;
  }

  async #preRow(pre: SessionRow): Promise<OperatorsTable> {
    const row = await this.operators.row(pre.operator_id);
    if (row === undefined || row.disabled_at !== null) throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'log in again');
    return row;
  }

  /** TOTP enrolment, at stage enroll or from a full session. */
  async totpSetup(session: SessionRow): Promise<{ secret: string; otpauthUrl: string }> {
    const row = await this.#preRow(session);
    if (session.stage === 'mfa') throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'this account already has a second factor; verify it first');
    const secret = await this.operators.beginTotp(row.id);
    await this.#audit.record({ actor: `operator:${row.username}`, action: 'operator.mfa-enrol-start', subject: row.username, details: { method: 'totp' } });
    return { secret, otpauthUrl: totpUri(secret, row.username, this.#issuer) };
  }

  /** Completes the login with a TOTP code (or completes a TOTP enrolment). */
  async totp(pre: SessionRow, code: string, address: string): Promise<SessionGrant> {
    const row = await this.#preRow(pre);
    await this.#checkLocked(row.username, address);
    const enrolling = pre.stage === 'enroll';
    const secret = enrolling ? this.operators.pendingTotp(row) : this.operators.activeTotp(row);
    if (secret === undefined) throw new ZetaError('ZETA_ERR_MFA_FAILED', enrolling ? 'call /api/v1/auth/totp/setup first' : 'no TOTP on this account');
    const step = await verifyTotp(secret, code, this.#clock.now(), enrolling ? null : row.totp_last_step);
    if (step === undefined) return this.#fail('auth.mfa', row.username, 'wrong or reused TOTP code', address);
    const grant = await this.#store.writeTx(async (tx) => {
      let recoveryCodes: string[] | undefined;
      if (enrolling) {
        const codes = await this.operators.activateTotp(tx, row, step, `operator:${row.username}`);
        if (codes.length > 0) recoveryCodes = codes;
      }
      else if (!(await this.operators.consumeTotpStep(tx, row.id, step))) return undefined;
      return { ...(await this.#grant(tx, pre, row, 'totp', address)), ...(recoveryCodes === undefined ? {} : { recoveryCodes }) };
    });
    if (grant === undefined) return this.#fail('auth.mfa', row.username, 'TOTP code already used', address);
    await this.guard.succeed(row.username);
    return { ...grant, operator: await this.operators.info(row) };
  }

  /** Confirms a TOTP enrolment started from a full session (adding TOTP beside a passkey). */
  async confirmTotp(session: SessionRow, code: string, address: string): Promise<{ operator: OperatorInfo; recoveryCodes?: string[] }> {
    const row = await this.#preRow(session);
    const secret = this.operators.pendingTotp(row);
    if (secret === undefined) throw new ZetaError('ZETA_ERR_MFA_FAILED', 'call /api/v1/auth/totp/setup first');
    const step = await verifyTotp(secret, code, this.#clock.now(), null);
    if (step === undefined) return this.#fail('auth.mfa', row.username, 'wrong TOTP code at enrolment', address);
    const codes = await this.#store.writeTx((tx) => this.operators.activateTotp(tx, row, step, `operator:${row.username}`));
    return { operator: await this.operators.info((await this.operators.row(row.id))!), ...(codes.length > 0 ? { recoveryCodes: codes } : {}) };
  }

  async recovery(pre: SessionRow, code: string, address: string): Promise<SessionGrant> {
    const row = await this.#preRow(pre);
    if (pre.stage !== 'mfa') throw new ZetaError('ZETA_ERR_MFA_FAILED', 'recovery codes exist only after a second factor is enrolled');
    await this.#checkLocked(row.username, address);
    const grant = await this.#store.writeTx(async (tx) => {
      if (!(await this.operators.spendRecoveryCode(tx, row.id, code.slice(0, 64)))) return undefined;
      return this.#grant(tx, pre, row, 'recovery', address);
    });
    if (grant === undefined) return this.#fail('auth.mfa', row.username, 'recovery code unknown or used', address);
    await this.guard.succeed(row.username);
    return { ...grant, operator: await this.operators.info(row) };
  }

  /** Inside the caller's transaction: end the pre-auth state, open a full session (fresh id). */
  async #grant(tx: Parameters<Parameters<Store['writeTx']>[0]>[0], pre: SessionRow, row: OperatorsTable, method: string, address: string): Promise<{ sessionId: string; csrfToken: string }> {
    await this.sessions.delete(tx, pre.id_hash);
    const s = await this.sessions.create(tx, row.id, 'full', address, true);
    await this.#audit.append(tx, { actor: `operator:${row.username}`, action: 'auth.login', subject: row.username, details: { method, client: address } });
    return { sessionId: s.id, csrfToken: s.csrfToken };
  }

  /** A session for an operator authenticated elsewhere (WebAuthn verified, OIDC callback). */
  async grantFor(pre: SessionRow | undefined, row: OperatorsTable, method: string, address: string): Promise<SessionGrant> {
    const g = await this.#store.writeTx(async (tx) => {
      if (pre !== undefined) return this.#grant(tx, pre, row, method, address);
      const s = await this.sessions.create(tx, row.id, 'full', address, false);
      await this.#audit.append(tx, { actor: `operator:${row.username}`, action: 'auth.login', subject: row.username, details: { method, client: address } });
      return { sessionId: s.id, csrfToken: s.csrfToken };
    });
    await this.guard.succeed(row.username);
    return { ...g, operator: await this.operators.info(row) };
  }

  /** Step-up with TOTP: the same replay guard as login. */
  async stepUpTotp(session: SessionRow, code: string, address: string): Promise<string> {
    const row = await this.#preRow(session);
    const secret = this.operators.activeTotp(row);
    const step = secret === undefined ? undefined : await verifyTotp(secret, code, this.#clock.now(), row.totp_last_step);
    if (step === undefined) return this.#fail('auth.step-up', row.username, 'wrong or reused TOTP code', address);
    const until = await this.#store.writeTx(async (tx) => {
      if (!(await this.operators.consumeTotpStep(tx, row.id, step))) return undefined;
      const u = await this.sessions.setStepUp(tx, session.id_hash);
      await this.#audit.append(tx, { actor: `operator:${row.username}`, action: 'auth.step-up', subject: row.username, details: { method: 'totp', until: u } });
      return u;
    });
    if (until === undefined) return this.#fail('auth.step-up', row.username, 'TOTP code already used', address);
    return until;
  }

  async logout(session: SessionRow): Promise<void> {
    const row = await this.operators.row(session.operator_id);
    await this.#store.writeTx(async (tx) => {
      await this.sessions.delete(tx, session.id_hash);
      await this.#audit.append(tx, { actor: `operator:${row?.username ?? session.operator_id}`, action: 'auth.logout', subject: row?.username ?? null, details: {} });
    });
  }
}
