/**
 * The policy decision point: the enforced (and shadow) policy set, compiled; the fleet as Cedar
 * entities; and a synchronous `decide` the gateway calls on every packet. Kept current from the
 * change feed: a device's state change is applied synchronously in the feed listener (before any
 * enforcement point re-checks on the same change), attributes are refreshed from the inventory,
 * and a `policy.changed` reloads the sets. Denies, a sample of allows and every shadow
 * disagreement go to a bounded decision log.
 */
import { EventEmitter } from 'node:events';
import type { ChangeFeed, Change } from '../store/index.js';
import type { Inventory, Device } from '../inventory/index.js';
import { isAuthorized, EntityStore, type CedarRequest, type CedarValueJson, type EntityJson, type Decision as CedarDecision } from './engine/index.js';
import type { PolicyStore } from './policy-store.js';
import type { ParsedPolicySet } from './policy-set.js';
import { topicInfo, topicInfoJson } from './topic-info.js';

export type MqttAction = 'connect' | 'publish' | 'subscribe' | 'receive';

export interface MqttRequest {
  /** Device id (or App name with principalType 'App'). */
  principal: string;
  principalType?: 'Device' | 'App';
  action: MqttAction;
  /** Topic or filter; absent for connect. */
  topic?: string;
  clientAddress?: string;
  protocolVersion?: number;
  qos?: number;
  retain?: boolean;
  /** Decision time in seconds since the epoch; the PDP sets it from its clock when absent. */
  now?: number;
}

export interface PdpDecision {
  decision: 'allow' | 'deny';
  /** Determining policy ids. */
  reasons: string[];
  errors: string[];
  policyVersion: number | null;
}

export interface DecisionLogEntry {
  at: string;
  request: MqttRequest;
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: string[];
  policyVersion: number | null;
  shadow?: { decision: 'allow' | 'deny'; reasons: string[]; version: number };
}

export function deviceEntity(d: Device): EntityJson {
  const posture = d.posture as { attestation?: { status?: unknown; at?: unknown } };
  const attestedMs = typeof posture.attestation?.at === 'string' ? Date.parse(posture.attestation.at) : NaN;
  return {
    uid: { type: 'Device', id: d.id },
    attrs: {
      type: d.type, segment: d.segment ?? '', site: d.site ?? '', vendor: d.vendor ?? '', model: d.model ?? '', firmware: d.firmware ?? '',
      state: d.state,
      // Until monitoring computes it, a device has the neutral score; policies may require more.
      trustScore: d.trustScore === null ? 100 : Math.round(d.trustScore),
      attestation: typeof posture.attestation?.status === 'string' ? posture.attestation.status : 'none',
      attestedAt: Number.isFinite(attestedMs) ? Math.floor(attestedMs / 1000) : 0,
      tags: d.tags,
    },
    parents: d.segment === null ? [] : [{ type: 'Segment', id: d.segment }],
  };
}

export function toCedarRequest(r: MqttRequest): CedarRequest {
  const context: Record<string, CedarValueJson> = {
    clientAddress: r.clientAddress ?? '',
    protocolVersion: r.protocolVersion ?? 4,
    ...(r.qos === undefined ? {} : { qos: r.qos }),
    ...(r.retain === undefined ? {} : { retain: r.retain }),
    ...(r.now === undefined ? {} : { now: Math.floor(r.now) }),
    ...(r.topic === undefined ? {} : { topic: topicInfoJson(topicInfo(r.topic)) }),
  };
  return {
    principal: { type: r.principalType ?? 'Device', id: r.principal },
    action: { type: 'Action', id: r.action },
    resource: r.action === 'connect' ? { type: 'Broker', id: 'zeta' } : { type: 'Topic', id: r.topic ?? '' },
    context,
  };
}

export class PolicyDecisionPoint extends EventEmitter {
  readonly #policies: PolicyStore;
  readonly #inventory: Inventory;
  readonly #clock: { now(): Date };
  #active: { version: number; set: ParsedPolicySet } | undefined;
  #shadow: { version: number; set: ParsedPolicySet } | undefined;
  readonly entities = new EntityStore([]);
  /** JSON mirror of the device entities, so a change can be patched synchronously. */
  readonly #devices = new Map<string, EntityJson>();
  readonly log: DecisionLogEntry[] = [];
  #allowSample = 0;
  readonly stats = { decisions: 0, denies: 0, errors: 0, shadowDisagreements: 0 };

  constructor(o: { policies: PolicyStore; inventory: Inventory; clock: { now(): Date } }) {
    super();
    this.#policies = o.policies;
    this.#inventory = o.inventory;
    this.#clock = o.clock;
  }

  get activeVersion(): number | null {
    return this.#active?.version ?? null;
  }

  /** Loads the policy sets and every device. */
  async load(): Promise<void> {
    await this.reloadPolicies();
    for (let offset = 0; ; offset += 10_000) {
      const page = await this.#inventory.list({ limit: 10_000, offset });
      if (page.devices.length > 0) this.#upsert(page.devices.map(deviceEntity));
      if (page.devices.length < 10_000) break;
    }
  }

  async reloadPolicies(): Promise<void> {
    this.#active = await this.#policies.active();
    this.#shadow = await this.#policies.shadow();
  }

  /** Follow the change feed; returns the unsubscribe function. */
  follow(feed: ChangeFeed): () => void {
    const h = (c: Change): void => this.#onChange(c);
    feed.on('change', h);
    return () => { feed.off('change', h); };
  }

  #onChange(c: Change): void {
    if (c.kind === 'policy.changed') {
      void this.reloadPolicies().then(() => this.emit('reloaded')).catch((e: unknown) => this.emit('error', e));
      return;
    }
    if (!c.kind.startsWith('device.') || c.subject === '*') {
      if (c.kind === 'device.imported') void this.load().catch((e: unknown) => this.emit('error', e));
      return;
    }
    // Synchronous part: the state and segment the change carries take effect for the very next decision.
    const existing = this.#devices.get(c.subject);
    if (existing !== undefined) {
      const patch: Record<string, CedarValueJson> = {};
      if (typeof c.data.to === 'string') patch.state = c.data.to;
      if (typeof c.data.segment === 'string') patch.segment = c.data.segment;
      if (Object.keys(patch).length > 0) {
        const attrs = { ...(existing.attrs ?? {}), ...patch };
        const seg = typeof attrs.segment === 'string' ? attrs.segment : '';
        this.#upsert([{ uid: existing.uid, attrs, parents: seg === '' ? [] : [{ type: 'Segment', id: seg }] }]);
      }
    }
    void this.#inventory.get(c.subject)
      .then((d) => { this.#upsert([deviceEntity(d)]); })
      .catch(() => {
        this.#devices.delete(c.subject);
        this.entities.remove({ type: 'Device', id: c.subject });
      });
  }

  #upsert(list: EntityJson[]): void {
    for (const e of list) this.#devices.set((e.uid as { id: string }).id, e);
    this.entities.upsert(...list);
  }

  /** The device entities as JSON (for what-if and the analyzer). */
  deviceEntities(): EntityJson[] {
    return [...this.#devices.values()];
  }

  /** The decision. Total: any failure is a deny with the error named. */
  decide(r: MqttRequest): PdpDecision {
    this.stats.decisions++;
    const active = this.#active;
    if (active === undefined) {
      this.stats.denies++;
      const d: PdpDecision = { decision: 'deny', reasons: [], errors: ['no policy set is loaded (fail closed)'], policyVersion: null };
      this.#log(r, d);
      return d;
    }
    let out: CedarDecision;
    try {
      out = isAuthorized(toCedarRequest(this.#withNow(r)), active.set.compiled, this.entities);
    } catch (e) {
      out = { decision: 'deny', determining: [], errors: [{ policyId: '', message: `evaluation failed: ${(e as Error).message}` }] };
    }
    const d: PdpDecision = { decision: out.decision, reasons: out.determining, errors: out.errors.map((e) => `${e.policyId}: ${e.message}`), policyVersion: active.version };
    if (d.decision === 'deny') this.stats.denies++;
    if (d.errors.length > 0) this.stats.errors++;
    const shadow = this.#shadow;
    if (shadow !== undefined) {
      const s = isAuthorized(toCedarRequest(this.#withNow(r)), shadow.set.compiled, this.entities);
      if (s.decision !== d.decision) {
        this.stats.shadowDisagreements++;
        this.#push({ at: this.#clock.now().toISOString(), request: r, ...d, shadow: { decision: s.decision, reasons: s.determining, version: shadow.version } });
        this.emit('shadow-disagreement', r, d, s);
        return d;
      }
    }
    this.#log(r, d);
    return d;
  }

  #withNow(r: MqttRequest): MqttRequest {
    return r.now === undefined ? { ...r, now: Math.floor(this.#clock.now().getTime() / 1000) } : r;
  }

  #log(r: MqttRequest, d: PdpDecision): void {
    // Every deny; one allow in 100.
    if (d.decision === 'allow' && (this.#allowSample++ % 100) !== 0) return;
    this.#push({ at: this.#clock.now().toISOString(), request: r, ...d });
  }

  #push(e: DecisionLogEntry): void {
    this.log.push(e);
    if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
  }

  /** Evaluate a request against any parsed set (what-if), without logging. */
  static evaluate(set: ParsedPolicySet, entities: EntityStore, r: MqttRequest): CedarDecision {
    return isAuthorized(toCedarRequest(r), set.compiled, entities);
  }
}
