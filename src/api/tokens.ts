/**
 * API tokens. A token is 256 random bits shown once and stored as SHA-256. Two kinds:
 * - personal tokens: owned by an operator, limited to scopes (a subset of what the owner's role
 *   grants), always expiring (at most iamTokenMaxDays); they act with the owner's current role
 *   and scope, so disabling the owner or narrowing their role narrows the token at once;
 * - role tokens (the first version; `zeta init`'s admin token, service tokens): a role, optional
 *   scopes, optional expiry.
 * Either way the route's action is decided by the operator policy (src/policy/operator-authz.ts).
 */
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { hashSecret, newId, newSecret } from '../common/ids.js';
import { ROLES, PERMISSIONS, isRole, isPermission, type Role, type Permission } from '../iam/index.js';
import { decideOperator } from '../policy/index.js';

export { ROLES, type Role };

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  /** Owner of a personal token; null for a role token. */
  operatorId: string | null;
  /** Null: every permission of the role. */
  scopes: Permission[] | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface NewToken {
  name: string;
  role: string;
  expiresInDays?: number;
  scopes?: readonly string[];
  /** Makes a personal token of this operator (role = the owner's role). */
  operatorId?: string;
}

/** The permissions a role grants somewhere (scope aside): what a token of that role may be scoped to. */
export function rolePermissions(role: Role): Permission[] {
  return PERMISSIONS.filter((p) => decideOperator({ id: 'probe', role, sites: [], segments: [] }, p).decision === 'allow');
}

function toInfo(r: { id: string; name: string; role: string; operator_id: string | null; scopes: string | null; created_at: string; expires_at: string | null; revoked_at: string | null; last_used_at: string | null }): TokenInfo {
  return {
    id: r.id, name: r.name, role: isRole(r.role) ? r.role : 'auditor', operatorId: r.operator_id,
    scopes: r.scopes === null ? null : (JSON.parse(r.scopes) as string[]).filter(isPermission),
    createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at,
  };
}

export class ApiTokens {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #maxDays: number;

  constructor(store: Store, audit: AuditLog, clock: Clock, options: { maxPersonalDays?: number } = {}) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#maxDays = options.maxPersonalDays ?? 90;
  }

  async create(o: NewToken, actor: string): Promise<{ token: string; info: TokenInfo }> {
    if (!isRole(o.role)) throw new ZetaError('ZETA_ERR_VALIDATION', `role must be one of ${ROLES.join(', ')}`);
    if (o.name.trim() === '' || o.name.length > 128) throw new ZetaError('ZETA_ERR_VALIDATION', 'name must be 1-128 characters');
    if (o.operatorId !== undefined) {
      if (o.expiresInDays === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'a personal token needs an expiry (expiresInDays)');
      if (o.expiresInDays > this.#maxDays) throw new ZetaError('ZETA_ERR_VALIDATION', `expiresInDays is at most ${this.#maxDays} (iamTokenMaxDays)`);
    }
    let scopes: Permission[] | null = null;
    if (o.scopes !== undefined) {
      const bad = o.scopes.filter((s) => !isPermission(s));
      if (bad.length > 0 || o.scopes.length === 0) throw new ZetaError('ZETA_ERR_VALIDATION', `scopes must be a non-empty list of: ${PERMISSIONS.join(', ')}${bad.length > 0 ? ` (not: ${bad.join(', ')})` : ''}`);
      const granted = rolePermissions(o.role);
      const beyond = o.scopes.filter((s) => !granted.includes(s as Permission));
      // A token never holds more than its owner: scopes are a subset of the role's permissions.
      if (beyond.length > 0) throw new ZetaError('ZETA_ERR_FORBIDDEN', `role ${o.role} does not grant: ${beyond.join(', ')}`);
      scopes = [...new Set(o.scopes as Permission[])].sort();
    }
    const now = this.#clock.now();
    const token = newSecret('zta');
    const info: TokenInfo = {
      id: newId('tok'), name: o.name.trim(), role: o.role, operatorId: o.operatorId ?? null, scopes, createdAt: now.toISOString(),
      expiresAt: o.expiresInDays === undefined ? null : new Date(now.getTime() + o.expiresInDays * 86400_000).toISOString(),
      revokedAt: null, lastUsedAt: null,
    };
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('api_tokens').values({
        id: info.id, token_hash: hashSecret(token), name: info.name, role: info.role, created_at: info.createdAt,
        expires_at: info.expiresAt, revoked_at: null, last_used_at: null, operator_id: info.operatorId, scopes: scopes === null ? null : JSON.stringify(scopes),
      }).execute();
      await this.#audit.append(tx, { actor, action: 'token.create', subject: info.id, details: { name: info.name, role: info.role, operatorId: info.operatorId, scopes, expiresAt: info.expiresAt } });
    });
    return { token, info };
  }

  /** The token's identity, or undefined when unknown, revoked or expired (fail closed). */
  async authenticate(token: string): Promise<TokenInfo | undefined> {
    if (token.length < 10 || token.length > 200) return undefined;
    const row = await this.#store.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hashSecret(token)).executeTakeFirst();
    if (row === undefined || row.revoked_at !== null) return undefined;
    const now = this.#clock.now().toISOString();
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    return toInfo(row);
  }

  async list(filter: { operatorId?: string } = {}): Promise<TokenInfo[]> {
    let q = this.#store.db.selectFrom('api_tokens').selectAll().orderBy('created_at');
    if (filter.operatorId !== undefined) q = q.where('operator_id', '=', filter.operatorId);
    return (await q.execute()).map(toInfo);
  }

  async get(id: string): Promise<TokenInfo> {
    const r = await this.#store.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no token with id ${id}`);
    return toInfo(r);
  }

  async revoke(id: string, actor: string): Promise<void> {
    const now = this.#clock.now().toISOString();
    await this.#store.writeTx(async (tx) => {
      const r = await tx.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no active token with id ${id}`);
      await this.#audit.append(tx, { actor, action: 'token.revoke', subject: id, details: {} });
    });
  }
}
