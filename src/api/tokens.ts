/**
 * API tokens (the first version of API access; operator IAM comes later). A token is 256 random
 * bits shown once and stored as SHA-256. Each carries one role; the route table decides.
 */
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { hashSecret, newId, newSecret } from '../common/ids.js';

export const ROLES = ['admin', 'operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export class ApiTokens {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;

  constructor(store: Store, audit: AuditLog, clock: Clock) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
  }

  async create(o: { name: string; role: string; expiresInDays?: number }, actor: string): Promise<{ token: string; info: TokenInfo }> {
    if (!(ROLES as readonly string[]).includes(o.role)) throw new ZetaError('ZETA_ERR_VALIDATION', `role must be one of ${ROLES.join(', ')}`);
    if (o.name.trim() === '' || o.name.length > 128) throw new ZetaError('ZETA_ERR_VALIDATION', 'name must be 1-128 characters');
    const now = this.#clock.now();
    const token = newSecret('zta');
    const info: TokenInfo = {
      id: newId('tok'), name: o.name.trim(), role: o.role as Role, createdAt: now.toISOString(),
      expiresAt: o.expiresInDays === undefined ? null : new Date(now.getTime() + o.expiresInDays * 86400_000).toISOString(),
      revokedAt: null, lastUsedAt: null,
    };
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('api_tokens').values({
        id: info.id, token_hash: hashSecret(token), name: info.name, role: info.role, created_at: info.createdAt,
        expires_at: info.expiresAt, revoked_at: null, last_used_at: null,
      }).execute();
      await this.#audit.append(tx, { actor, action: 'token.create', subject: info.id, details: { name: info.name, role: info.role, expiresAt: info.expiresAt } });
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
    return { id: row.id, name: row.name, role: row.role as Role, createdAt: row.created_at, expiresAt: row.expires_at, revokedAt: null, lastUsedAt: row.last_used_at };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.#store.db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, role: r.role as Role, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at }));
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
