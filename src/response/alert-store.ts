/**
 * Persisted alerts. Every alert the monitor raises (and every attestation failure) becomes one row
 * with its explanation (rule, observed and baseline values, features) and a workflow state
 * open → acknowledged → resolved. Retention is bounded by count and age: an attacker who floods the
 * detectors fills a fixed-size table, never the disk.
 */
import { sql } from 'kysely';
import type { Store, AlertRow } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { SEVERITIES, type Severity } from './playbook.js';

export const ALERT_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/** What an input to the response side looks like (a monitor Alert fits). */
export interface AlertInput {
  key: string;
  rule: string;
  severity: Severity;
  score: number;
  summary: string;
  at?: string;
  observed?: Readonly<Record<string, unknown>>;
  baseline?: Readonly<Record<string, unknown>>;
  features?: readonly unknown[];
  [more: string]: unknown;
}

export interface AlertRecord {
  id: string;
  at: string;
  deviceId: string | null;
  key: string;
  rule: string;
  severity: Severity;
  score: number;
  summary: string;
  explanation: Record<string, unknown>;
  state: AlertState;
  updatedBy: string | null;
  updatedAt: string | null;
  note: string | null;
}

export interface AlertFilter {
  state?: AlertState;
  device?: string;
  severity?: Severity;
  since?: string;
  limit?: number;
}

/** The explanation keeps these bounded: an alert is evidence, not a log dump. */
const MAX_EXPLANATION_CHARS = 16_384;

export function rowToAlert(r: AlertRow): AlertRecord {
  return {
    id: r.id, at: r.ts, deviceId: r.device_id, key: r.key, rule: r.rule, severity: r.severity as Severity, score: Number(r.score),
    summary: r.summary, explanation: JSON.parse(r.explanation) as Record<string, unknown>, state: r.state as AlertState,
    updatedBy: r.updated_by, updatedAt: r.updated_at, note: r.note,
  };
}

export interface AlertStoreOptions {
  /** At most this many alerts are kept (oldest pruned first). */
  maxAlerts: number;
  /** Alerts older than this are pruned. */
  retentionDays: number;
}

export class AlertStore {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #opts: AlertStoreOptions;
  #sincePrune = 0;

  constructor(store: Store, audit: AuditLog, clock: Clock, opts: AlertStoreOptions) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#opts = opts;
  }

  /** The device an alert key names: a device id, or an address assigned to one (flows are keyed by address). */
  async resolveDevice(key: string): Promise<string | null> {
    const d = await this.#store.db.selectFrom('devices').select('id').where('id', '=', key).executeTakeFirst();
    if (d !== undefined) return d.id;
    const a = await this.#store.db.selectFrom('device_addresses').select('device_id').where('address', '=', key).executeTakeFirst();
    return a?.device_id ?? null;
  }

  /** Persists an alert and emits `alert.raised`. The monitor's own audit entry covers the detection. */
  async raise(input: AlertInput): Promise<AlertRecord> {
    if (!(SEVERITIES as readonly string[]).includes(input.severity)) throw new ZetaError('ZETA_ERR_VALIDATION', `alert severity ${String(input.severity)} is not one of ${SEVERITIES.join(', ')}`);
    const now = this.#clock.now();
    const deviceId = await this.resolveDevice(input.key);
    let explanation = JSON.stringify(input);
    if (explanation.length > MAX_EXPLANATION_CHARS) {
      explanation = JSON.stringify({ rule: input.rule, summary: input.summary, observed: input.observed ?? {}, baseline: input.baseline ?? {}, truncated: true });
    }
    const row: AlertRow = {
      id: newId('alr'), ts: now.toISOString(), device_id: deviceId, key: input.key.slice(0, 256), rule: input.rule.slice(0, 64),
      severity: input.severity, score: Number.isFinite(input.score) ? input.score : 0, summary: input.summary.slice(0, 1000),
      explanation, state: 'open', updated_by: null, updated_at: null, note: null,
    };
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('alerts').values(row).execute();
      await emitChange(tx, now, 'alert.raised', deviceId ?? row.key, { id: row.id, rule: row.rule, severity: row.severity, score: row.score, key: row.key });
    });
    if (++this.#sincePrune >= 100) {
      this.#sincePrune = 0;
      await this.prune().catch(() => undefined);
    }
    return rowToAlert(row);
  }

  async get(id: string): Promise<AlertRecord> {
    const r = await this.#store.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no alert with id ${id}`);
    return rowToAlert(r);
  }

  async list(f: AlertFilter = {}): Promise<AlertRecord[]> {
    let q = this.#store.db.selectFrom('alerts').selectAll();
    if (f.state !== undefined) q = q.where('state', '=', f.state);
    if (f.device !== undefined) q = q.where((eb) => eb.or([eb('device_id', '=', f.device!), eb('key', '=', f.device!)]));
    if (f.severity !== undefined) q = q.where('severity', '=', f.severity);
    if (f.since !== undefined) q = q.where('ts', '>=', f.since);
    const rows = await q.orderBy('ts', 'desc').orderBy('id').limit(Math.min(f.limit ?? 200, 5000)).execute();
    return rows.map(rowToAlert);
  }

  /** Alerts for a device since a time (the playbooks' repeat condition). */
  async countFor(deviceId: string, since: Date): Promise<number> {
    const r = await this.#store.db.selectFrom('alerts').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('device_id', '=', deviceId).where('ts', '>=', since.toISOString()).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** open → acknowledged (or → resolved); audited, on the change feed as `alert.updated`. */
  async setState(id: string, to: AlertState, actor: string, note?: string): Promise<AlertRecord> {
    const now = this.#clock.now();
    return this.#store.writeTx(async (tx) => {
      const r = await tx.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
      if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no alert with id ${id}`);
      const order: Record<string, number> = { open: 0, acknowledged: 1, resolved: 2 };
      if ((order[to] ?? 0) <= (order[r.state] ?? 0)) throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `alert ${id} is ${r.state}; it cannot become ${to}`);
      const next: AlertRow = { ...r, state: to, updated_by: actor, updated_at: now.toISOString(), note: note ?? r.note };
      await tx.updateTable('alerts').set({ state: to, updated_by: actor, updated_at: next.updated_at, note: next.note }).where('id', '=', id).execute();
      await this.#audit.append(tx, { actor, action: `alert.${to === 'acknowledged' ? 'ack' : 'resolve'}`, subject: r.device_id ?? r.key, details: { alert: id, from: r.state, to, ...(note === undefined ? {} : { note }) } });
      await emitChange(tx, now, 'alert.updated', r.device_id ?? r.key, { id, from: r.state, to });
      return rowToAlert(next);
    });
  }

  /** Bounded retention: drop alerts older than retentionDays, then the oldest beyond maxAlerts. */
  async prune(): Promise<number> {
    const cutoff = new Date(this.#clock.now().getTime() - this.#opts.retentionDays * 86_400_000).toISOString();
    let removed = 0;
    await this.#store.writeTx(async (tx) => {
      const old = await tx.deleteFrom('alerts').where('ts', '<', cutoff).executeTakeFirst();
      removed += Number(old.numDeletedRows);
      const n = await tx.selectFrom('alerts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
      const excess = Number(n?.n ?? 0) - this.#opts.maxAlerts;
      if (excess > 0) {
        const r = await sql`delete from alerts where id in (select id from alerts order by ts asc, id asc limit ${excess})`.execute(tx);
        removed += Number(r.numAffectedRows ?? excess);
      }
    });
    return removed;
  }
}
