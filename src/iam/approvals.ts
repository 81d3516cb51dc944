/**
 * Separation of duties (NIST SP 800-53 AC-5): configured actions are not carried out when asked
 * but stored as a pending approval, which a different operator approves (then it runs, by the
 * caller's executor) or rejects. The requester can never approve their own request, whatever
 * their role; an approval is decided once (the state guard in the UPDATE).
 */
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { newId } from '../common/ids.js';

export const APPROVAL_ACTIONS = ['policyApply', 'caRotate'] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

export interface Approval {
  id: string;
  action: ApprovalAction;
  state: 'pending' | 'approved' | 'rejected' | 'failed';
  requestedBy: string;
  requestedAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  /** What the request carries (e.g. the policy text), for the approver to read. */
  payload: Record<string, unknown>;
  result: unknown;
}

/** `requestedBy` / `decidedBy` are the audit actors; `subjectId` identifies the person behind them. */
export interface Requester {
  actor: string;
  subjectId: string;
}

export class Approvals {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #required: ReadonlySet<string>;

  constructor(store: Store, audit: AuditLog, clock: Clock, required: readonly string[]) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#required = new Set(required);
  }

  required(action: ApprovalAction): boolean {
    return this.#required.has(action);
  }

  async request(action: ApprovalAction, payload: Record<string, unknown>, by: Requester): Promise<Approval> {
    const id = newId('apr');
    const now = this.#clock.now().toISOString();
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('approvals').values({
        id, action, payload: JSON.stringify({ ...payload, requesterSubject: by.subjectId }), state: 'pending', requested_by: by.actor, requested_at: now,
        decided_by: null, decided_at: null, result: null,
      }).execute();
      await this.#audit.append(tx, { actor: by.actor, action: 'approval.request', subject: id, details: { action } });
    });
    return this.get(id);
  }

  async get(id: string): Promise<Approval> {
    const r = await this.#store.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
    if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no approval ${id}`);
    const payload = JSON.parse(r.payload) as Record<string, unknown>;
    delete payload.requesterSubject;
    return {
      id: r.id, action: r.action as ApprovalAction, state: r.state as Approval['state'], requestedBy: r.requested_by, requestedAt: r.requested_at,
      decidedBy: r.decided_by, decidedAt: r.decided_at, payload, result: r.result === null ? null : JSON.parse(r.result) as unknown,
    };
  }

  async list(state?: string): Promise<Approval[]> {
    let q = this.#store.db.selectFrom('approvals').select('id').orderBy('requested_at', 'desc').limit(500);
    if (state !== undefined) q = q.where('state', '=', state);
    return Promise.all((await q.execute()).map((r) => this.get(r.id)));
  }

  /**
   * Claims a pending approval for a decision by someone other than the requester. On approve the
   * executor runs after the claim; its result (or failure) is recorded and audited.
   */
  async decide(id: string, decision: 'approve' | 'reject', by: Requester, execute: (a: Approval) => Promise<unknown>): Promise<Approval> {
    const row = await this.#store.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no approval ${id}`);
    const requester = (JSON.parse(row.payload) as { requesterSubject?: string }).requesterSubject;
    if (requester === by.subjectId || row.requested_by === by.actor) {
      await this.#audit.record({ actor: by.actor, action: `approval.${decision}`, outcome: 'refused', subject: id, details: { why: 'self-approval' } });
      throw new ZetaError('ZETA_ERR_SELF_APPROVAL', 'a request must be approved by a different operator');
    }
    const now = this.#clock.now().toISOString();
    const state = decision === 'approve' ? 'approved' : 'rejected';
    await this.#store.writeTx(async (tx) => {
      const r = await tx.updateTable('approvals').set({ state, decided_by: by.actor, decided_at: now }).where('id', '=', id).where('state', '=', 'pending').executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new ZetaError('ZETA_ERR_CONFLICT', `approval ${id} is no longer pending`);
      await this.#audit.append(tx, { actor: by.actor, action: `approval.${decision}`, subject: id, details: { action: row.action, requestedBy: row.requested_by } });
    });
    if (decision === 'approve') {
      let result: unknown;
      let failed = false;
      try {
        result = await execute(await this.get(id));
      } catch (e) {
        failed = true;
        result = { error: (e as { code?: string }).code ?? 'ZETA_ERR_INTERNAL', message: (e as Error).message };
      }
      await this.#store.writeTx(async (tx) => {
        await tx.updateTable('approvals').set({ state: failed ? 'failed' : 'approved', result: JSON.stringify(result ?? null) }).where('id', '=', id).execute();
      });
    }
    return this.get(id);
  }
}
