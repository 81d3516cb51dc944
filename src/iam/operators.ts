/**
 * Operator accounts: who they are, their role and scope, their factors. Every change is audited in
 * the same transaction as the change. Secrets never leave this file in clear except a TOTP secret
 * at enrolment (shown once, to the operator enrolling it) and recovery codes (shown once).
 */
import { randomBytes } from 'node:crypto';
import type { Store, Tx } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { hashSecret, newId } from '../common/ids.js';
import type { OperatorsTable } from '../store/index.js';
import { ROLES, isRole, type OperatorInfo, type OperatorScope } from './model.js';
import { checkPasswordPolicy, hashPassword } from './passwords.js';
import type { SecretBox } from './secret-box.js';
import { newTotpSecret } from './totp.js';

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/;
export const RECOVERY_CODE_COUNT = 10;

type Row = OperatorsTable;

/** Scope as sent: missing lists mean every site / segment. */
export interface ScopeInput { sites?: string[] | undefined; segments?: string[] | undefined }

export interface NewOperator {
  username: string;
  role: string;
  displayName?: string;
  password?: string;
  scope?: ScopeInput;
  oidc?: { issuer: string; subject: string };
}

export function normalizeUsername(u: string): string {
  return u.trim().toLowerCase();
}

function parseScope(s: ScopeInput | undefined): OperatorScope {
  const clean = (l: unknown, what: string): string[] => {
    if (l === undefined) return [];
    if (!Array.isArray(l) || l.length > 100) throw new ZetaError('ZETA_ERR_VALIDATION', `scope.${what} must be a list of at most 100 names`);
    for (const v of l) if (typeof v !== 'string' || !SCOPE_NAME.test(v)) throw new ZetaError('ZETA_ERR_VALIDATION', `scope.${what}: "${String(v)}" is not a site or segment name`);
    return [...new Set(l as string[])].sort();
  };
  return { sites: clean(s?.sites, 'sites'), segments: clean(s?.segments, 'segments') };
}

/** A recovery code: 10 groups-of-5 base32-ish characters, easy to type, 100 bits. */
function newRecoveryCode(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(20);
  let s = '';
  for (let i = 0; i < 20; i++) s += alphabet[bytes[i]! % alphabet.length];
  return `${s.slice(0, 5)}-${s.slice(5, 10)}-${s.slice(10, 15)}-${s.slice(15, 20)}`;
}

export function normalizeRecoveryCode(c: string): string {
  return c.trim().toLowerCase().replace(/[^a-z0-9]/g, '');
}

export class Operators {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #box: () => SecretBox;
  readonly #minPassword: number;

  constructor(store: Store, audit: AuditLog, clock: Clock, box: () => SecretBox, options: { passwordMinLength: number }) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#box = box;
    this.#minPassword = options.passwordMinLength;
  }

  async info(row: Row): Promise<OperatorInfo> {
    const passkeys = await this.#store.db.selectFrom('webauthn_credentials').select((eb) => eb.fn.countAll<number>().as('n')).where('operator_id', '=', row.id).executeTakeFirst();
    return {
      id: row.id, username: row.username, displayName: row.display_name, role: isRole(row.role) ? row.role : 'auditor',
      scope: JSON.parse(row.scope) as OperatorScope, disabled: row.disabled_at !== null,
      mfa: { totp: row.totp_secret !== null, passkeys: Number(passkeys?.n ?? 0) },
      sso: row.oidc_issuer === null || row.oidc_subject === null ? null : { issuer: row.oidc_issuer, subject: row.oidc_subject },
      createdAt: row.created_at,
    };
  }

  row(id: string): Promise<Row | undefined> {
    return this.#store.db.selectFrom('operators').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byUsername(username: string): Promise<Row | undefined> {
    return this.#store.db.selectFrom('operators').selectAll().where('username', '=', normalizeUsername(username)).executeTakeFirst();
  }

  byOidc(issuer: string, subject: string): Promise<Row | undefined> {
    return this.#store.db.selectFrom('operators').selectAll().where('oidc_issuer', '=', issuer).where('oidc_subject', '=', subject).executeTakeFirst();
  }

  /** By id or user name; NOT_FOUND otherwise. */
  async resolve(idOrName: string): Promise<Row> {
    const r = (await this.row(idOrName)) ?? (await this.byUsername(idOrName));
    if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no operator ${idOrName}`);
    return r;
  }

  async get(idOrName: string): Promise<OperatorInfo> {
    return this.info(await this.resolve(idOrName));
  }

  async list(): Promise<OperatorInfo[]> {
    const rows = await this.#store.db.selectFrom('operators').selectAll().orderBy('username').execute();
    return Promise.all(rows.map((r) => this.info(r)));
  }

  /** Bounds and policy are checked before anything is written; the audit entry commits with the row. */
  async create(o: NewOperator, actor: string): Promise<OperatorInfo> {
    const username = normalizeUsername(o.username);
    if (!USERNAME_PATTERN.test(username)) throw new ZetaError('ZETA_ERR_VALIDATION', 'username: 1-64 characters a-z 0-9 . _ @ -, starting with a letter or digit');
    if (!isRole(o.role)) throw new ZetaError('ZETA_ERR_VALIDATION', `role must be one of ${ROLES.join(', ')}`);
    const displayName = (o.displayName ?? username).trim();
    if (displayName === '' || displayName.length > 128) throw new ZetaError('ZETA_ERR_VALIDATION', 'displayName must be 1-128 characters');
    const scope = parseScope(o.scope);
    if (o.password === undefined && o.oidc === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'an operator needs a password or a single-sign-on identity');
    if (o.password !== undefined) checkPasswordPolicy(o.password, username, this.#minPassword);
    const passwordHash = o.password === undefined ? null : await hashPassword(o.password);
    const now = this.#clock.now().toISOString();
    const id = newId('op');
    await this.#store.writeTx(async (tx) => {
      const clash = await tx.selectFrom('operators').select('id').where('username', '=', username).executeTakeFirst();
      if (clash !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `operator ${username} already exists`);
      await tx.insertInto('operators').values({
        id, username, display_name: displayName, role: o.role, scope: JSON.stringify(scope), password_hash: passwordHash,
        totp_secret: null, totp_pending: null, totp_last_step: null, oidc_issuer: o.oidc?.issuer ?? null, oidc_subject: o.oidc?.subject ?? null,
        disabled_at: null, created_at: now, updated_at: now,
      }).execute();
      await this.#audit.append(tx, { actor, action: 'operator.create', subject: username, details: { id, role: o.role, scope, sso: o.oidc ?? null } });
    });
    return this.get(id);
  }

  async setRole(idOrName: string, role: string, scope: ScopeInput | undefined, actor: string): Promise<OperatorInfo> {
    if (!isRole(role)) throw new ZetaError('ZETA_ERR_VALIDATION', `role must be one of ${ROLES.join(', ')}`);
    const row = await this.resolve(idOrName);
    const newScope = scope === undefined ? JSON.parse(row.scope) as OperatorScope : parseScope(scope);
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('operators').set({ role, scope: JSON.stringify(newScope), updated_at: this.#clock.now().toISOString() }).where('id', '=', row.id).execute();
      // A privilege change ends the operator's sessions: the next request re-authenticates under the new rights.
      await tx.deleteFrom('sessions').where('operator_id', '=', row.id).execute();
      await this.#audit.append(tx, { actor, action: 'operator.set-role', subject: row.username, details: { from: row.role, to: role, scope: newScope } });
    });
    return this.get(row.id);
  }

  async setDisabled(idOrName: string, disabled: boolean, actor: string): Promise<OperatorInfo> {
    const row = await this.resolve(idOrName);
    const now = this.#clock.now().toISOString();
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('operators').set({ disabled_at: disabled ? now : null, updated_at: now }).where('id', '=', row.id).execute();
      if (disabled) {
        await tx.deleteFrom('sessions').where('operator_id', '=', row.id).execute();
        await tx.updateTable('api_tokens').set({ revoked_at: now }).where('operator_id', '=', row.id).where('revoked_at', 'is', null).execute();
      }
      await this.#audit.append(tx, { actor, action: disabled ? 'operator.disable' : 'operator.enable', subject: row.username, details: { id: row.id } });
    });
    return this.get(row.id);
  }

  /** Removes every second factor: the next login enrols a new one. Sessions end. */
  async resetMfa(idOrName: string, actor: string): Promise<OperatorInfo> {
    const row = await this.resolve(idOrName);
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('operators').set({ totp_secret: null, totp_pending: null, totp_last_step: null, updated_at: this.#clock.now().toISOString() }).where('id', '=', row.id).execute();
      await tx.deleteFrom('recovery_codes').where('operator_id', '=', row.id).execute();
      await tx.deleteFrom('webauthn_credentials').where('operator_id', '=', row.id).execute();
      await tx.deleteFrom('sessions').where('operator_id', '=', row.id).execute();
      await this.#audit.append(tx, { actor, action: 'operator.mfa-reset', subject: row.username, details: { id: row.id } });
    });
    return this.get(row.id);
  }

  async unlock(idOrName: string, actor: string): Promise<{ username: string; unlocked: boolean }> {
    const username = normalizeUsername(idOrName.startsWith('op-') ? (await this.resolve(idOrName)).username : idOrName);
    let unlocked = false;
    await this.#store.writeTx(async (tx) => {
      const r = await tx.deleteFrom('login_failures').where('username', '=', username).executeTakeFirst();
      unlocked = Number(r.numDeletedRows) > 0;
      await this.#audit.append(tx, { actor, action: 'operator.unlock', subject: username, details: { hadFailures: unlocked } });
    });
    return { username, unlocked };
  }

  /** Starts a TOTP enrolment: the secret waits (sealed) until a code confirms it. */
  async beginTotp(operatorId: string): Promise<string> {
    const secret = newTotpSecret();
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('operators').set({ totp_pending: this.#box().seal(secret, `totp:${operatorId}`) }).where('id', '=', operatorId).execute();
    });
    return secret;
  }

  pendingTotp(row: Row): string | undefined {
    return row.totp_pending === null ? undefined : this.#box().open(row.totp_pending, `totp:${row.id}`);
  }

  activeTotp(row: Row): string | undefined {
    return row.totp_secret === null ? undefined : this.#box().open(row.totp_secret, `totp:${row.id}`);
  }

  /**
   * Records an accepted time step; false when another request already used this or a later step
   * (the UPDATE's guard makes two concurrent uses of one code accept at most one).
   */
  async consumeTotpStep(tx: Tx, operatorId: string, step: number): Promise<boolean> {
    const r = await tx.updateTable('operators').set({ totp_last_step: step })
      .where('id', '=', operatorId).where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)])).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Completes a TOTP enrolment inside the caller's transaction; returns fresh recovery codes. */
  async activateTotp(tx: Tx, row: Row, step: number, actor: string): Promise<string[]> {
    if (row.totp_pending === null) throw new ZetaError('ZETA_ERR_MFA_FAILED', 'no TOTP enrolment in progress');
    await tx.updateTable('operators').set({ totp_secret: row.totp_pending, totp_pending: null, totp_last_step: step, updated_at: this.#clock.now().toISOString() }).where('id', '=', row.id).execute();
    // Codes come with the first second factor; adding TOTP beside a passkey keeps the existing ones.
    const existing = await tx.selectFrom('recovery_codes').select('code_hash').where('operator_id', '=', row.id).where('used_at', 'is', null).limit(1).execute();
    const codes = existing.length > 0 ? [] : await this.replaceRecoveryCodes(tx, row.id);
    await this.#audit.append(tx, { actor, action: 'operator.mfa-enrol', subject: row.username, details: { method: 'totp', recoveryCodes: codes.length } });
    return codes;
  }

  async replaceRecoveryCodes(tx: Tx, operatorId: string): Promise<string[]> {
    await tx.deleteFrom('recovery_codes').where('operator_id', '=', operatorId).execute();
    const now = this.#clock.now().toISOString();
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    for (const c of codes) await tx.insertInto('recovery_codes').values({ code_hash: hashSecret(normalizeRecoveryCode(c)), operator_id: operatorId, used_at: null, created_at: now }).execute();
    return codes;
  }

  /** Single use: the guard on used_at lets exactly one request spend a code. */
  async spendRecoveryCode(tx: Tx, operatorId: string, code: string): Promise<boolean> {
    const norm = normalizeRecoveryCode(code);
    if (norm.length !== 20) return false;
    const r = await tx.updateTable('recovery_codes').set({ used_at: this.#clock.now().toISOString() })
      .where('code_hash', '=', hashSecret(norm)).where('operator_id', '=', operatorId).where('used_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Provisioning path (`zeta operator add --totp`, tests, the demo): enrol TOTP at creation and
   * return its secret and recovery codes once.
   */
  async provisionTotp(operatorId: string, actor: string): Promise<{ secret: string; recoveryCodes: string[] }> {
    const secret = newTotpSecret();
    let recoveryCodes: string[] = [];
    await this.#store.writeTx(async (tx) => {
      const row = await tx.selectFrom('operators').selectAll().where('id', '=', operatorId).executeTakeFirst();
      if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no operator ${operatorId}`);
      await tx.updateTable('operators').set({ totp_secret: this.#box().seal(secret, `totp:${operatorId}`), totp_pending: null, totp_last_step: null }).where('id', '=', operatorId).execute();
      recoveryCodes = await this.replaceRecoveryCodes(tx, operatorId);
      await this.#audit.append(tx, { actor, action: 'operator.mfa-enrol', subject: row.username, details: { method: 'totp', provisioned: true, recoveryCodes: recoveryCodes.length } });
    });
    return { secret, recoveryCodes };
  }
}
