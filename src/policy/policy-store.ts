/**
 * Policy sets, versioned in the store. Every change is validated first (nothing is applied when
 * validation fails), then committed with its audit entry (who, what, the diff) and a
 * `policy.changed` change-feed row, so every decision point reloads before its next decision.
 */
import type { Store } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { parsePolicySet, diffPolicySets, defaultPolicyText, type ParsedPolicySet, type PolicyDiff } from './policy-set.js';

export interface PolicyVersion {
  version: number;
  status: 'active' | 'shadow' | 'superseded';
  sha256: string;
  actor: string;
  comment: string | null;
  createdAt: string;
  policyCount?: number;
}

export class PolicyStore {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #cache = new Map<number, ParsedPolicySet>();

  constructor(store: Store, audit: AuditLog, clock: Clock) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
  }

  async #load(status: 'active' | 'shadow'): Promise<{ version: number; set: ParsedPolicySet } | undefined> {
    const row = await this.#store.db.selectFrom('policy_sets').select(['version', 'text']).where('status', '=', status).orderBy('version', 'desc').executeTakeFirst();
    if (row === undefined) return undefined;
    let set = this.#cache.get(row.version);
    if (set === undefined) {
      set = parsePolicySet(row.text);
      this.#cache.set(row.version, set);
    }
    return { version: row.version, set };
  }

  active(): Promise<{ version: number; set: ParsedPolicySet } | undefined> {
    return this.#load('active');
  }

  shadow(): Promise<{ version: number; set: ParsedPolicySet } | undefined> {
    return this.#load('shadow');
  }

  async history(): Promise<PolicyVersion[]> {
    const rows = await this.#store.db.selectFrom('policy_sets').select(['version', 'status', 'sha256', 'actor', 'comment', 'created_at']).orderBy('version', 'desc').limit(1000).execute();
    return rows.map((r) => ({ version: r.version, status: r.status as PolicyVersion['status'], sha256: r.sha256, actor: r.actor, comment: r.comment, createdAt: r.created_at }));
  }

  async getText(version: number): Promise<string> {
    const row = await this.#store.db.selectFrom('policy_sets').select('text').where('version', '=', version).executeTakeFirst();
    if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no policy version ${version}`);
    return row.text;
  }

  /** Validates, then makes `text` the enforced policy set. Returns the new version and the diff. */
  async apply(text: string, actor: string, comment?: string): Promise<{ version: number; diff: PolicyDiff; sha256: string; policies: number }> {
    const parsed = parsePolicySet(text);
    const current = await this.active();
    const diff = diffPolicySets(current?.set, parsed);
    const now = this.#clock.now();
    const version = await this.#store.writeTx(async (tx) => {
      const max = await tx.selectFrom('policy_sets').select((eb) => eb.fn.max('version').as('v')).executeTakeFirst();
      const v = Number(max?.v ?? 0) + 1;
      await tx.updateTable('policy_sets').set({ status: 'superseded' }).where('status', '=', 'active').execute();
      await tx.insertInto('policy_sets').values({ version: v, status: 'active', text, sha256: parsed.sha256, actor, comment: comment ?? null, created_at: now.toISOString() }).execute();
      await this.#audit.append(tx, { actor, action: 'policy.apply', subject: `policy:${v}`, details: { version: v, previous: current?.version ?? null, sha256: parsed.sha256, ...diff, ...(comment === undefined ? {} : { comment }) } });
      await emitChange(tx, now, 'policy.changed', '*', { version: v });
      return v;
    });
    this.#cache.set(version, parsed);
    return { version, diff, sha256: parsed.sha256, policies: Object.keys(parsed.policies).length };
  }

  /** Runs `text` beside the enforced set and logs disagreements (null clears the shadow set). */
  async setShadow(text: string | null, actor: string): Promise<{ version: number | null }> {
    const parsed = text === null ? undefined : parsePolicySet(text);
    const now = this.#clock.now();
    const version = await this.#store.writeTx(async (tx) => {
      await tx.updateTable('policy_sets').set({ status: 'superseded' }).where('status', '=', 'shadow').execute();
      let v: number | null = null;
      if (parsed !== undefined && text !== null) {
        const max = await tx.selectFrom('policy_sets').select((eb) => eb.fn.max('version').as('v')).executeTakeFirst();
        v = Number(max?.v ?? 0) + 1;
        await tx.insertInto('policy_sets').values({ version: v, status: 'shadow', text, sha256: parsed.sha256, actor, comment: null, created_at: now.toISOString() }).execute();
      }
      await this.#audit.append(tx, { actor, action: 'policy.shadow', subject: v === null ? null : `policy:${v}`, details: { version: v, sha256: parsed?.sha256 ?? null } });
      await emitChange(tx, now, 'policy.changed', '*', { shadow: v });
      return v;
    });
    if (parsed !== undefined && version !== null) this.#cache.set(version, parsed);
    return { version };
  }

  /** At `zeta init`: the shipped least-privilege templates become version 1. */
  async ensureDefault(actor: string): Promise<void> {
    if ((await this.active()) === undefined) await this.apply(defaultPolicyText(), actor, 'shipped least-privilege templates');
  }
}
