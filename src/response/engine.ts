/**
 * The response engine: alert (or trust drop, or attestation failure) → playbooks → one graduated
 * action per device → guard → applied, or pending for an operator. Every action is audited with
 * its reason and what it replaced, so it can be undone (except revoke).
 *
 * INVARIANT: automatic responses only escalate: a step applies only if its action is more severe
 * than what the device already has (its state and the read-only tag), so repeated alerts never
 * flap a device, and an operator's resume is not immediately reverted by the same evidence
 * (the next *new* alert may escalate again).
 * INVARIANT: one decision at a time (a promise chain): the blast-radius count and the action it
 * allows are never interleaved with another alert's.
 */
import { EventEmitter } from 'node:events';
import type { Store, ResponseActionRow } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Inventory, Device } from '../inventory/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError, isZetaError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { AlertRecord, AlertStore } from './alert-store.js';
import {
  ACTIONS, DEFAULT_PLAYBOOK, READ_ONLY_TAG, matchStep, needsApproval, parsePlaybook,
  type ActionName, type Playbook, type ResponseInput, type Step,
} from './playbook.js';

export const ACTION_STATUSES = ['applied', 'pending', 'rejected', 'undone', 'failed'] as const;
export type ActionStatus = (typeof ACTION_STATUSES)[number];

export interface ResponseAction {
  id: string;
  at: string;
  deviceId: string;
  segment: string | null;
  action: ActionName;
  status: ActionStatus;
  automatic: boolean;
  playbook: string;
  playbookVersion: number;
  step: string;
  alertId: string | null;
  reason: string;
  previous: { state: string; tags: string[] };
  actor: string;
  decidedBy: string | null;
  decidedAt: string | null;
  undoable: boolean;
}

/** One line of a plan: what a step would do to a device, and whether it would wait. */
export interface PlannedAction {
  playbook: string;
  playbookVersion: number;
  step: string;
  action: ActionName;
  deviceId: string;
  /** apply: would change the device now; pending: would wait for approval; none: nothing to change. */
  decision: 'apply' | 'pending' | 'none';
  why: string[];
  from: { state: string; tags: string[] };
  to: { state: string; tags: string[] };
  /** Present when applied or held (not in dry-run). */
  actionId?: string;
}

export interface ResponseEngineEvents {
  /** A persisted alert, before the playbooks act on it. */
  alert: [AlertRecord];
  action: [ResponseAction];
  error: [unknown];
}

export function rowToAction(r: ResponseActionRow): ResponseAction {
  const action = r.action as ActionName;
  return {
    id: r.id, at: r.ts, deviceId: r.device_id, segment: r.segment, action, status: r.status as ActionStatus, automatic: r.automatic === 1,
    playbook: r.playbook, playbookVersion: r.playbook_version, step: r.step, alertId: r.alert_id, reason: r.reason,
    previous: JSON.parse(r.previous) as { state: string; tags: string[] }, actor: r.actor, decidedBy: r.decided_by, decidedAt: r.decided_at,
    undoable: ACTIONS[action].undoable,
  };
}

/** The response level a device is at now (ACTIONS rank). */
export function levelOf(d: Pick<Device, 'state' | 'tags'>): number {
  switch (d.state) {
    case 'revoked': case 'decommissioned': return ACTIONS.revoke.rank;
    case 'suspended': return ACTIONS.suspend.rank;
    case 'quarantined': return ACTIONS.quarantine.rank;
    default: return d.tags.includes(READ_ONLY_TAG) ? ACTIONS.restrict.rank : 0;
  }
}

/** What the device looks like after an action (for plans and the undo check). */
function after(action: ActionName, d: { state: string; tags: string[] }): { state: string; tags: string[] } {
  switch (action) {
    case 'alert': return d;
    case 'restrict': return { state: d.state, tags: d.tags.includes(READ_ONLY_TAG) ? d.tags : [...d.tags, READ_ONLY_TAG] };
    case 'quarantine': return { state: 'quarantined', tags: d.tags };
    case 'suspend': return { state: 'suspended', tags: d.tags };
    case 'revoke': return { state: 'revoked', tags: d.tags };
  }
}

export interface ResponseEngineOptions {
  /** Inputs waiting for the engine beyond this are dropped and counted (never unbounded). */
  maxQueued?: number;
}

export class ResponseEngine extends EventEmitter<ResponseEngineEvents> {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #inventory: Inventory;
  readonly #clock: Clock;
  readonly alerts: AlertStore;
  readonly #maxQueued: number;
  #chain: Promise<unknown> = Promise.resolve();
  #queued = 0;
  dropped = 0;

  constructor(o: { store: Store; audit: AuditLog; inventory: Inventory; clock: Clock; alerts: AlertStore } & ResponseEngineOptions) {
    super();
    this.#store = o.store;
    this.#audit = o.audit;
    this.#inventory = o.inventory;
    this.#clock = o.clock;
    this.alerts = o.alerts;
    this.#maxQueued = o.maxQueued ?? 10_000;
  }

  /** Runs fn after every earlier decision (see the INVARIANT above). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn, fn);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /** Resolves once every queued decision is done (tests, shutdown). */
  async idle(): Promise<void> {
    await this.#serial(async () => undefined);
  }

  // ---- playbooks ----

  /** Installs the shipped playbook as version 1 when no playbook exists yet. */
  async ensureDefaultPlaybook(actor = 'system'): Promise<void> {
    const any = await this.#store.db.selectFrom('playbooks').select('name').limit(1).executeTakeFirst();
    if (any === undefined) await this.putPlaybook(DEFAULT_PLAYBOOK, actor, 'shipped default');
  }

  /** The version in force of every playbook (highest version per name). */
  async playbooks(): Promise<{ name: string; version: number; playbook: Playbook; actor: string; createdAt: string }[]> {
    const rows = await this.#store.db.selectFrom('playbooks').selectAll().orderBy('name').orderBy('version', 'desc').execute();
    // Before the first `zeta serve` stored it (a --data directory never served), the shipped
    // playbook is in force as version 0: the fleet is never without a response.
    if (rows.length === 0) return [{ name: DEFAULT_PLAYBOOK.name, version: 0, playbook: DEFAULT_PLAYBOOK, actor: 'shipped', createdAt: new Date(0).toISOString() }];
    const seen = new Set<string>();
    const out = [];
    for (const r of rows) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      out.push({ name: r.name, version: r.version, playbook: parsePlaybook(JSON.parse(r.body)), actor: r.actor, createdAt: r.created_at });
    }
    return out;
  }

  async playbookHistory(name: string): Promise<{ version: number; actor: string; createdAt: string }[]> {
    const rows = await this.#store.db.selectFrom('playbooks').select(['version', 'actor', 'created_at']).where('name', '=', name).orderBy('version', 'desc').execute();
    return rows.map((r) => ({ version: r.version, actor: r.actor, createdAt: r.created_at }));
  }

  /** Validates and stores a new version; nothing is stored if it is invalid. */
  async putPlaybook(input: unknown, actor: string, comment?: string): Promise<{ name: string; version: number; playbook: Playbook }> {
    const p = parsePlaybook(input);
    const now = this.#clock.now();
    return this.#store.writeTx(async (tx) => {
      const none = (await tx.selectFrom('playbooks').select('name').limit(1).executeTakeFirst()) === undefined;
      if (none && p.name !== DEFAULT_PLAYBOOK.name) {
        // The shipped playbook was in force as version 0; storing another must not silently drop it.
        await tx.insertInto('playbooks').values({ name: DEFAULT_PLAYBOOK.name, version: 1, body: JSON.stringify(DEFAULT_PLAYBOOK), actor: 'shipped', created_at: now.toISOString() }).execute();
      }
      const last = await tx.selectFrom('playbooks').select((eb) => eb.fn.max('version').as('v')).where('name', '=', p.name).executeTakeFirst();
      const version = Number(last?.v ?? 0) + 1;
      await tx.insertInto('playbooks').values({ name: p.name, version, body: JSON.stringify(p), actor, created_at: now.toISOString() }).execute();
      await this.#audit.append(tx, { actor, action: 'playbook.put', subject: p.name, details: { version, steps: p.steps.map((s) => `${s.id}:${s.action}`), guard: p.guard, ...(comment === undefined ? {} : { comment }) } });
      await emitChange(tx, now, 'playbook.changed', p.name, { version });
      return { name: p.name, version, playbook: p };
    });
  }

  // ---- inputs ----

  /**
   * Persists an alert and runs the playbooks on it. Queued behind earlier decisions; beyond
   * maxQueued the input is dropped (counted) rather than held in memory without bound.
   */
  submitAlert(input: Parameters<AlertStore['raise']>[0]): Promise<{ alert: AlertRecord; plan: PlannedAction[] } | undefined> {
    if (this.#queued >= this.#maxQueued) {
      this.dropped++;
      return Promise.resolve(undefined);
    }
    this.#queued++;
    return this.#serial(async () => {
      try {
        const alert = await this.alerts.raise(input);
        this.emit('alert', alert);
        const plan = await this.#evaluate(alert, { dryRun: false, actor: 'response:auto', automatic: true });
        return { alert, plan };
      } finally {
        this.#queued--;
      }
    });
  }

  /** A trust score fell (posture change): judged like an alert with rule `trust-drop`, not persisted. */
  submitTrust(deviceId: string): Promise<PlannedAction[]> {
    if (this.#queued >= this.#maxQueued) {
      this.dropped++;
      return Promise.resolve([]);
    }
    this.#queued++;
    return this.#serial(async () => {
      try {
        const pseudo: AlertRecord = {
          id: '', at: this.#clock.now().toISOString(), deviceId, key: deviceId, rule: 'trust-drop', severity: 'low', score: 0,
          summary: 'trust score changed', explanation: {}, state: 'open', updatedBy: null, updatedAt: null, note: null,
        };
        return await this.#evaluate(pseudo, { dryRun: false, actor: 'response:auto', automatic: true, onlyTrustSteps: true });
      } finally {
        this.#queued--;
      }
    });
  }

  /**
   * An operator runs the playbooks (or one step) on an alert. Operator-initiated actions are not
   * automatic: the blast-radius guard does not hold them, but a step marked `approval: required`
   * still only creates a pending action unless it is the explicitly named step.
   */
  respond(alertId: string, o: { playbook?: string; step?: string; dryRun?: boolean }, actor: string): Promise<PlannedAction[]> {
    return this.#serial(async () => {
      const alert = await this.alerts.get(alertId);
      if (alert.deviceId === null) throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `alert ${alertId} (key ${alert.key}) names no known device`);
      return this.#evaluate(alert, { dryRun: o.dryRun === true, actor, automatic: false, ...(o.playbook === undefined ? {} : { playbook: o.playbook }), ...(o.step === undefined ? {} : { step: o.step }) });
    });
  }

  /** Dry-run of every playbook on an alert: exactly what would change, nothing written. */
  dryRun(alertId: string, o: { playbook?: string } = {}): Promise<PlannedAction[]> {
    return this.#serial(async () => {
      const alert = await this.alerts.get(alertId);
      return this.#evaluate(alert, { dryRun: true, actor: 'response:auto', automatic: true, ...(o.playbook === undefined ? {} : { playbook: o.playbook }) });
    });
  }

  async #evaluate(alert: AlertRecord, o: { dryRun: boolean; actor: string; automatic: boolean; playbook?: string; step?: string; onlyTrustSteps?: boolean }): Promise<PlannedAction[]> {
    if (alert.deviceId === null) return [];
    let device: Device;
    try {
      device = await this.#inventory.get(alert.deviceId);
    } catch {
      return [];
    }
    if (device.state === 'decommissioned') return [];
    const books = (await this.playbooks()).filter((b) => (o.playbook === undefined ? b.playbook.enabled : b.name === o.playbook));
    if (o.playbook !== undefined && books.length === 0) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no playbook named ${o.playbook}`);
    const posture = device.posture as { attestation?: { status?: unknown } };
    const nowMs = this.#clock.now().getTime();
    const counts = new Map<number, number>();
    const input: ResponseInput = {
      rule: alert.rule, severity: alert.severity, trustScore: device.trustScore, deviceType: device.type, segment: device.segment,
      attestationFailed: alert.rule === 'attestation-failed' || posture.attestation?.status === 'failed',
      repeatCount: () => 0,
    };
    // Repeat counts need the store; computed for the windows the steps use, before matching.
    for (const b of books) for (const s of b.playbook.steps) {
      const w = s.when.repeat?.withinMinutes;
      if (w !== undefined && !counts.has(w)) counts.set(w, await this.alerts.countFor(device.id, new Date(nowMs - w * 60_000)));
    }
    input.repeatCount = (w) => counts.get(w) ?? 0;

    const plan: PlannedAction[] = [];
    for (const b of books) {
      let chosen: { step: Step; why: string[] } | undefined;
      for (const step of b.playbook.steps) {
        if (o.step !== undefined && step.id !== o.step) continue;
        if (o.onlyTrustSteps === true && (step.when.trustBelow === undefined || step.when.rules !== undefined || step.when.repeat !== undefined || step.when.severityAtLeast !== undefined)) continue;
        // A named step is the operator's choice: it applies as long as it escalates.
        const why = o.step !== undefined ? ['chosen by the operator'] : matchStep(step, input);
        if (why === undefined) continue;
        if (chosen === undefined || ACTIONS[step.action].rank > ACTIONS[chosen.step.action].rank) chosen = { step, why };
      }
      if (o.step !== undefined && chosen === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `playbook ${b.name} has no step ${o.step}`);
      if (chosen === undefined) continue;
      const from = { state: device.state, tags: device.tags };
      const base = { playbook: b.name, playbookVersion: b.version, step: chosen.step.id, action: chosen.step.action, deviceId: device.id, from, to: after(chosen.step.action, from) };
      if (chosen.step.action === 'alert' || ACTIONS[chosen.step.action].rank <= levelOf(device)) {
        plan.push({ ...base, decision: 'none', why: [...chosen.why, chosen.step.action === 'alert' ? 'notify only' : `device is already at ${device.state}${device.tags.includes(READ_ONLY_TAG) ? ' (read-only)' : ''}`], to: from });
        continue;
      }
      const pendingAlready = await this.#store.db.selectFrom('response_actions').select(['id', 'action']).where('device_id', '=', device.id).where('status', '=', 'pending').execute();
      if (pendingAlready.some((p) => ACTIONS[p.action as ActionName].rank >= ACTIONS[chosen.step.action].rank)) {
        plan.push({ ...base, decision: 'none', why: [...chosen.why, `an action of at least this severity already waits for approval (${pendingAlready.map((p) => p.id).join(', ')})`], to: from });
        continue;
      }
      const hold: string[] = [];
      if (needsApproval(chosen.step) && o.step === undefined) hold.push(`step ${chosen.step.id} requires approval${ACTIONS[chosen.step.action].undoable ? '' : ' (not undoable)'}`);
      if (o.automatic) hold.push(...await this.#guard(b.playbook, device));
      const decision = hold.length > 0 ? 'pending' : 'apply';
      const planned: PlannedAction = { ...base, decision, why: [...chosen.why, ...hold] };
      if (!o.dryRun) {
        const reason = `playbook ${b.name} v${b.version} step ${chosen.step.id}: ${[...chosen.why, ...hold].join('; ')}${alert.id === '' ? '' : ` (alert ${alert.id} ${alert.rule})`}`;
        const rec = await this.#record(device, chosen.step.action, decision === 'apply' ? 'applied' : 'pending', { automatic: o.automatic, playbook: b.name, version: b.version, step: chosen.step.id, alertId: alert.id === '' ? null : alert.id, reason, actor: o.actor });
        planned.actionId = rec.id;
        if (rec.status === 'failed') planned.why.push('the change failed; see the action and the audit log');
        // The device changed: later playbooks judge its new level.
        device = await this.#inventory.get(device.id);
      }
      plan.push(planned);
    }
    return plan;
  }

  /** The blast-radius guard: the reasons this automatic change must wait, or none. */
  async #guard(p: Playbook, device: Device): Promise<string[]> {
    const g = p.guard;
    const since = new Date(this.#clock.now().getTime() - g.windowMinutes * 60_000).toISOString();
    const recent = await this.#store.db.selectFrom('response_actions').select(['device_id', 'segment'])
      .where('automatic', '=', 1).where('ts', '>=', since).where('status', 'in', ['applied', 'undone']).execute();
    const devices = new Set(recent.map((r) => r.device_id));
    // Escalating a device already changed in the window widens nothing.
    if (devices.has(device.id)) return [];
    const out: string[] = [];
    if (devices.size + 1 > g.maxDevices) out.push(`blast-radius guard: ${devices.size} devices already changed automatically in ${g.windowMinutes} min (at most ${g.maxDevices})`);
    if (device.segment !== null) {
      const size = Number((await this.#store.db.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('segment', '=', device.segment).where('state', '!=', 'decommissioned').executeTakeFirst())?.n ?? 0);
      if (size >= g.segmentMinDevices) {
        const inSeg = new Set(recent.filter((r) => r.segment === device.segment).map((r) => r.device_id)).size;
        const share = ((inSeg + 1) / size) * 100;
        if (share > g.maxSegmentPercent) out.push(`blast-radius guard: this would change ${inSeg + 1} of ${size} devices (${share.toFixed(1)} %) of segment ${device.segment} in ${g.windowMinutes} min (at most ${g.maxSegmentPercent} %)`);
      }
    }
    return out;
  }

  /** Applies (or holds) one action and records it with its audit entry and change-feed row. */
  async #record(device: Device, action: ActionName, status: 'applied' | 'pending', m: { automatic: boolean; playbook: string; version: number; step: string; alertId: string | null; reason: string; actor: string }): Promise<ResponseAction> {
    const id = newId('rsp');
    let final: ActionStatus = status;
    let error: string | undefined;
    if (status === 'applied') {
      try {
        await this.#apply(device, action, `${m.actor}`, `${id}: ${m.reason}`);
      } catch (e) {
        final = 'failed';
        error = isZetaError(e) ? `${e.code}: ${e.message}` : String(e);
      }
    }
    const now = this.#clock.now();
    const row: ResponseActionRow = {
      id, ts: now.toISOString(), device_id: device.id, segment: device.segment, action, status: final, automatic: m.automatic ? 1 : 0,
      playbook: m.playbook, playbook_version: m.version, step: m.step, alert_id: m.alertId, reason: m.reason.slice(0, 2000),
      previous: JSON.stringify({ state: device.state, tags: device.tags }), actor: m.actor, decided_by: null, decided_at: null,
    };
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('response_actions').values(row).execute();
      await this.#audit.append(tx, {
        actor: m.actor, action: `response.${final}`, outcome: final === 'failed' ? 'error' : 'ok', subject: device.id,
        details: { id, action, playbook: m.playbook, version: m.version, step: m.step, alert: m.alertId, reason: row.reason, previous: { state: device.state, tags: device.tags }, automatic: m.automatic, ...(error === undefined ? {} : { error }) },
      });
      await emitChange(tx, now, `response.${final}`, device.id, { id, action, step: m.step, playbook: m.playbook, alert: m.alertId, segment: device.segment });
    });
    const rec = rowToAction(row);
    this.emit('action', rec);
    return rec;
  }

  /** The change itself, through the inventory (its own audit entry names this action id as actor context). */
  async #apply(device: Device, action: ActionName, actor: string, reason: string): Promise<void> {
    const inv = this.#inventory;
    switch (action) {
      case 'alert': return;
      case 'restrict':
        if (!device.tags.includes(READ_ONLY_TAG)) await inv.update(device.id, { tags: [...device.tags, READ_ONLY_TAG] }, actor);
        return;
      case 'quarantine': await inv.quarantine(device.id, actor, reason.slice(0, 256)); return;
      case 'suspend': await inv.suspend(device.id, actor, reason.slice(0, 256)); return;
      case 'revoke': await inv.revoke(device.id, 'keyCompromise', actor); return;
    }
  }

  // ---- operator decisions ----

  async getAction(id: string): Promise<ResponseAction> {
    const r = await this.#store.db.selectFrom('response_actions').selectAll().where('id', '=', id).executeTakeFirst();
    if (r === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no response action with id ${id}`);
    return rowToAction(r);
  }

  async listActions(f: { status?: ActionStatus; device?: string; limit?: number } = {}): Promise<ResponseAction[]> {
    let q = this.#store.db.selectFrom('response_actions').selectAll();
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.device !== undefined) q = q.where('device_id', '=', f.device);
    const rows = await q.orderBy('ts', 'desc').orderBy('id').limit(Math.min(f.limit ?? 200, 5000)).execute();
    return rows.map(rowToAction);
  }

  /** Releases a pending action: applied now, by the approving operator (not automatic). */
  approve(id: string, actor: string): Promise<ResponseAction> {
    return this.#serial(async () => {
      const a = await this.getAction(id);
      if (a.status !== 'pending') throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `response action ${id} is ${a.status}; only a pending action can be approved`);
      const device = await this.#inventory.get(a.deviceId);
      let status: ActionStatus = 'applied';
      let error: string | undefined;
      if (ACTIONS[a.action].rank > levelOf(device)) {
        try {
          await this.#apply(device, a.action, actor, `${id} approved: ${a.reason}`);
        } catch (e) {
          status = 'failed';
          error = isZetaError(e) ? `${e.code}: ${e.message}` : String(e);
        }
      }
      return this.#decide(a, status, actor, { previous: { state: device.state, tags: device.tags }, ...(error === undefined ? {} : { error }) }, 'approved');
    });
  }

  reject(id: string, actor: string, note?: string): Promise<ResponseAction> {
    return this.#serial(async () => {
      const a = await this.getAction(id);
      if (a.status !== 'pending') throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `response action ${id} is ${a.status}; only a pending action can be rejected`);
      return this.#decide(a, 'rejected', actor, note === undefined ? {} : { note }, 'rejected');
    });
  }

  /**
   * Restores what the action replaced. Refused for revoke (a revoked certificate stays revoked:
   * re-enroll with a new token) and when the device has changed since (someone else decided; undo
   * must not clobber that).
   */
  undo(id: string, actor: string): Promise<ResponseAction> {
    return this.#serial(async () => {
      const a = await this.getAction(id);
      if (a.status !== 'applied') throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `response action ${id} is ${a.status}; only an applied action can be undone`);
      if (!ACTIONS[a.action].undoable) throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `${a.action} cannot be undone: the certificate stays revoked; issue a new enrollment token and re-enroll the device`);
      const d = await this.#inventory.get(a.deviceId);
      const prev = a.previous;
      const inv = this.#inventory;
      switch (a.action) {
        case 'alert': break;
        case 'restrict':
          if (!d.tags.includes(READ_ONLY_TAG)) throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `device ${d.id} is no longer read-only; nothing to undo`);
          await inv.update(d.id, { tags: d.tags.filter((t) => t !== READ_ONLY_TAG) }, actor);
          break;
        case 'quarantine': case 'suspend': {
          const expected = a.action === 'quarantine' ? 'quarantined' : 'suspended';
          if (d.state !== expected) throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `device ${d.id} is ${d.state}, not ${expected}: it changed since this action; decide by hand`);
          if (prev.state === 'active' || prev.state === 'registered') await inv.resume(d.id, actor);
          else if (prev.state === 'suspended') await inv.suspend(d.id, actor, `undo ${id}`);
          else if (prev.state === 'quarantined') await inv.quarantine(d.id, actor, `undo ${id}`);
          else throw new ZetaError('ZETA_ERR_RESPONSE_STATE', `cannot restore state ${prev.state}`);
          break;
        }
        case 'revoke': break;
      }
      return this.#decide(a, 'undone', actor, { restored: prev }, 'undone');
    });
  }

  async #decide(a: ResponseAction, status: ActionStatus, actor: string, details: Record<string, unknown>, verb: string): Promise<ResponseAction> {
    const now = this.#clock.now();
    const next: ResponseAction = { ...a, status, decidedBy: actor, decidedAt: now.toISOString() };
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('response_actions').set({ status, decided_by: actor, decided_at: next.decidedAt,
        // An approved action becomes the operator's (not automatic) and records what it replaced at approval time.
        ...(verb === 'approved' ? { automatic: 0, previous: JSON.stringify(details.previous) } : {}) }).where('id', '=', a.id).execute();
      await this.#audit.append(tx, { actor, action: `response.${verb}`, outcome: status === 'failed' ? 'error' : 'ok', subject: a.deviceId, details: { id: a.id, action: a.action, step: a.step, ...details } });
      await emitChange(tx, now, `response.${verb}`, a.deviceId, { id: a.id, action: a.action, status });
    });
    const out = verb === 'approved' ? { ...next, automatic: false, previous: details.previous as ResponseAction['previous'] } : next;
    this.emit('action', out);
    return out;
  }
}

