/**
 * The segments service: segments, services, flows and device addresses in the store.
 *
 * INVARIANT: every change is one Store.writeTx holding the change, its audit entry and one
 * `segments.changed` change-feed row; a change is reported successful only once all three commit.
 * Validation runs inside the transaction against what exists there, so a flow can never name a
 * segment or service that a concurrent writer just removed.
 */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { ID_PATTERN } from '../common/ids.js';
import type { Store, Tx, Db } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { FlowsTable, SegmentsTable, ServicesTable } from '../store/schema.js';
import {
  deviceAddressesInputSchema,
  type DeviceEndpoint, type Flow, type PortRange, type Protocol, type Segment, type SegmentKind, type SegmentsSnapshot, type Service, type ServiceRole, type Direction,
} from './model.js';
import { buildFlow, buildSegment, buildService, flowKey, parseAddresses, validationError, type CatalogView } from './validate.js';
import { mudMappingSchema, parseMud, type MudIntent, type MudMapping } from './mud.js';

export const SEGMENTS_CHANGED = 'segments.changed';

function rowToSegment(r: Selectable<SegmentsTable>): Segment {
  return { name: r.name, kind: r.kind as SegmentKind, description: r.description, builtin: r.builtin === 1, createdAt: r.created_at };
}

function rowToService(r: Selectable<ServicesTable>): Service {
  return {
    name: r.name,
    description: r.description,
    addresses: JSON.parse(r.addresses) as string[],
    dnsName: r.dns_name,
    protocol: r.protocol as Protocol,
    ports: JSON.parse(r.ports) as PortRange[],
    role: r.role as ServiceRole | null,
    createdAt: r.created_at,
  };
}

function rowToFlow(r: Selectable<FlowsTable>): Flow {
  return {
    id: r.id,
    from: r.from_segment,
    to: r.to_service !== null ? { kind: 'service', name: r.to_service } : { kind: 'segment', name: r.to_segment ?? '' },
    protocol: r.protocol as Protocol | null,
    ports: JSON.parse(r.ports) as PortRange[],
    mqttTopicPrefix: r.mqtt_topic_prefix,
    direction: r.direction as Direction,
    fromDeviceType: r.from_device_type,
    toDeviceType: r.to_device_type,
    description: r.description,
    source: r.source,
    createdAt: r.created_at,
  };
}

function flowToRow(f: Flow): Selectable<FlowsTable> {
  return {
    id: f.id,
    from_segment: f.from,
    to_segment: f.to.kind === 'segment' ? f.to.name : null,
    to_service: f.to.kind === 'service' ? f.to.name : null,
    protocol: f.protocol,
    ports: JSON.stringify(f.ports),
    mqtt_topic_prefix: f.mqttTopicPrefix,
    direction: f.direction,
    from_device_type: f.fromDeviceType,
    to_device_type: f.toDeviceType,
    description: f.description,
    source: f.source,
    created_at: f.createdAt,
  };
}

function serviceToRow(s: Service): Selectable<ServicesTable> {
  return {
    name: s.name, description: s.description, addresses: JSON.stringify(s.addresses), dns_name: s.dnsName,
    protocol: s.protocol, ports: JSON.stringify(s.ports), role: s.role, created_at: s.createdAt,
  };
}

function newFlowId(): string {
  return `fl-${randomBytes(6).toString('hex')}`;
}

async function loadCatalog(db: Db | Tx): Promise<CatalogView & { flows: Flow[] }> {
  const [segs, svcs, flows] = await Promise.all([
    db.selectFrom('segments').selectAll().orderBy('name').execute(),
    db.selectFrom('services').selectAll().orderBy('name').execute(),
    db.selectFrom('flows').selectAll().orderBy('created_at').orderBy('id').execute(),
  ]);
  return {
    segments: new Map(segs.map((r) => [r.name, rowToSegment(r)])),
    services: new Map(svcs.map((r) => [r.name, rowToService(r)])),
    flows: flows.map(rowToFlow),
  };
}

export interface MudImportResult {
  mudUrl: string;
  flows: Flow[];
  services: Service[];
  /** Flows of the file that an existing flow already allows (re-import is idempotent). */
  alreadyPresent: { flow: string; existing: string }[];
  unmapped: MudIntent['unmapped'];
  covered: MudIntent['covered'];
}

export class Segments {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;

  constructor(store: Store, audit: AuditLog, clock: Clock) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
  }

  // ---- reads ----

  async listSegments(): Promise<Segment[]> {
    return [...(await loadCatalog(this.#store.db)).segments.values()];
  }

  async listServices(): Promise<Service[]> {
    return [...(await loadCatalog(this.#store.db)).services.values()];
  }

  async listFlows(filter: { segment?: string } = {}): Promise<Flow[]> {
    const flows = (await loadCatalog(this.#store.db)).flows;
    const s = filter.segment;
    return s === undefined ? flows : flows.filter((f) => f.from === s || (f.to.kind === 'segment' && f.to.name === s));
  }

  async getDeviceAddresses(deviceId: string): Promise<string[]> {
    const rows = await this.#store.db.selectFrom('device_addresses').select('address').where('device_id', '=', deviceId).orderBy('address').execute();
    return rows.map((r) => r.address);
  }

  /**
   * Everything the compilers need, read in one transaction so netd never renders a ruleset from a
   * half-applied change (a flow whose service row it did not see).
   */
  async snapshot(): Promise<SegmentsSnapshot> {
    // Repeatable read: one consistent view on PostgreSQL too (SQLite transactions are serializable).
    return this.#store.db.transaction().setIsolationLevel('repeatable read').execute(async (tx) => {
      const cat = await loadCatalog(tx);
      const addrs = await tx.selectFrom('device_addresses').select(['device_id', 'address']).orderBy('device_id').orderBy('address').execute();
      const byDevice = new Map<string, string[]>();
      for (const a of addrs) {
        const list = byDevice.get(a.device_id);
        if (list === undefined) byDevice.set(a.device_id, [a.address]);
        else list.push(a.address);
      }
      const devices: DeviceEndpoint[] = [];
      const ids = [...byDevice.keys()];
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await tx.selectFrom('devices').select(['id', 'type', 'segment', 'state']).where('id', 'in', ids.slice(i, i + 500)).execute();
        for (const r of rows) devices.push({ id: r.id, type: r.type, segment: r.segment, state: r.state, addresses: byDevice.get(r.id) ?? [] });
      }
      devices.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { segments: [...cat.segments.values()], services: [...cat.services.values()], flows: cat.flows, devices };
    });
  }

  // ---- writes ----

  async addSegment(input: unknown, actor: string): Promise<Segment> {
    const now = this.#clock.now();
    const seg = buildSegment(input, now.toISOString());
    return this.#write(now, async (tx) => {
      const exists = await tx.selectFrom('segments').select('name').where('name', '=', seg.name).executeTakeFirst();
      if (exists !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `segment ${seg.name} already exists`);
      await tx.insertInto('segments').values({ name: seg.name, kind: seg.kind, description: seg.description, builtin: 0, created_at: seg.createdAt }).execute();
      return { result: seg, action: 'segment.add', subject: `segment:${seg.name}`, details: { kind: seg.kind } };
    }, actor);
  }

  /** Refused while flows or devices still refer to the segment: removing it would silently cut them off. */
  async removeSegment(name: string, actor: string): Promise<void> {
    const now = this.#clock.now();
    await this.#write(now, async (tx) => {
      const row = await tx.selectFrom('segments').selectAll().where('name', '=', name).executeTakeFirst();
      if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `segment ${name} does not exist`);
      if (row.builtin === 1) throw new ZetaError('ZETA_ERR_CONFLICT', `segment ${name} is built in and cannot be removed`);
      const flows = await tx.selectFrom('flows').select('id').where((eb) => eb.or([eb('from_segment', '=', name), eb('to_segment', '=', name)])).execute();
      if (flows.length > 0) {
        throw new ZetaError('ZETA_ERR_CONFLICT', `segment ${name} is used by ${flows.length} flow(s) (${flows.slice(0, 5).map((f) => f.id).join(', ')}); remove them first`, { fields: { flows: flows.map((f) => f.id) } });
      }
      const devices = await tx.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n')).where('segment', '=', name).executeTakeFirst();
      if (Number(devices?.n ?? 0) > 0) throw new ZetaError('ZETA_ERR_CONFLICT', `segment ${name} still holds ${Number(devices?.n)} device(s); move them first`);
      await tx.deleteFrom('segments').where('name', '=', name).execute();
      return { result: undefined, action: 'segment.remove', subject: `segment:${name}`, details: {} };
    }, actor);
  }

  async addService(input: unknown, actor: string): Promise<Service> {
    const now = this.#clock.now();
    const svc = buildService(input, now.toISOString());
    return this.#write(now, async (tx) => {
      await this.#insertService(tx, svc);
      return { result: svc, action: 'service.add', subject: `service:${svc.name}`, details: { addresses: svc.addresses, protocol: svc.protocol, ports: svc.ports, role: svc.role, dnsName: svc.dnsName } };
    }, actor);
  }

  /**
   * Sets a service's addresses (e.g. once a DNS-named service from a MUD file is resolved by the
   * operator). Everything else about the service stays.
   */
  async setServiceAddresses(name: string, addresses: unknown, actor: string): Promise<Service> {
    const parsed = deviceAddressesInputSchema.max(256).safeParse(addresses);
    if (!parsed.success) throw validationError(['addresses: an array of at most 256 addresses or CIDR prefixes'], `service ${name} not changed`);
    const problems: string[] = [];
    const list = parseAddresses(parsed.data, 'addresses', problems).map((a) => a.text);
    if (problems.length > 0) throw validationError(problems, `service ${name} not changed`);
    const now = this.#clock.now();
    return this.#write(now, async (tx) => {
      const row = await tx.selectFrom('services').selectAll().where('name', '=', name).executeTakeFirst();
      if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `service ${name} does not exist`);
      if (list.length === 0 && row.dns_name === null) throw validationError(['addresses: a service without a dnsName needs at least one address'], `service ${name} not changed`);
      await tx.updateTable('services').set({ addresses: JSON.stringify(list) }).where('name', '=', name).execute();
      return { result: { ...rowToService(row), addresses: list }, action: 'service.addresses', subject: `service:${name}`, details: { addresses: list } };
    }, actor);
  }

  async removeService(name: string, actor: string): Promise<void> {
    const now = this.#clock.now();
    await this.#write(now, async (tx) => {
      const row = await tx.selectFrom('services').select('name').where('name', '=', name).executeTakeFirst();
      if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `service ${name} does not exist`);
      const flows = await tx.selectFrom('flows').select('id').where('to_service', '=', name).execute();
      if (flows.length > 0) {
        throw new ZetaError('ZETA_ERR_CONFLICT', `service ${name} is used by ${flows.length} flow(s) (${flows.slice(0, 5).map((f) => f.id).join(', ')}); remove them first`, { fields: { flows: flows.map((f) => f.id) } });
      }
      await tx.deleteFrom('services').where('name', '=', name).execute();
      return { result: undefined, action: 'service.remove', subject: `service:${name}`, details: {} };
    }, actor);
  }

  async addFlow(input: unknown, actor: string): Promise<Flow> {
    const now = this.#clock.now();
    return this.#write(now, async (tx) => {
      const cat = await loadCatalog(tx);
      const requested = (input as { id?: unknown } | null)?.id;
      const flow = buildFlow(input, cat, typeof requested === 'string' ? requested : newFlowId(), now.toISOString(), 'manual');
      await this.#insertFlow(tx, flow, cat.flows);
      return { result: flow, action: 'flow.add', subject: `flow:${flow.id}`, details: flowDetails(flow) };
    }, actor);
  }

  async removeFlow(id: string, actor: string): Promise<void> {
    if (!ID_PATTERN.test(id)) throw new ZetaError('ZETA_ERR_NOT_FOUND', 'flow not found');
    const now = this.#clock.now();
    await this.#write(now, async (tx) => {
      const row = await tx.selectFrom('flows').selectAll().where('id', '=', id).executeTakeFirst();
      if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `flow ${id} does not exist`);
      await tx.deleteFrom('flows').where('id', '=', id).execute();
      return { result: undefined, action: 'flow.remove', subject: `flow:${id}`, details: flowDetails(rowToFlow(row)) };
    }, actor);
  }

  /**
   * Replaces a device's IPv4/IPv6 addresses (what netd puts into the segment sets). An address may
   * belong to one device only: two devices sharing one would share a segment's access.
   */
  async setDeviceAddresses(deviceId: string, addresses: unknown, actor: string): Promise<string[]> {
    const parsed = deviceAddressesInputSchema.safeParse(addresses);
    if (!parsed.success) throw validationError(['addresses: an array of at most 16 IPv4/IPv6 addresses'], `addresses of ${deviceId} not changed`);
    const problems: string[] = [];
    const list = parseAddresses(parsed.data, 'addresses', problems);
    if (problems.length > 0) throw validationError(problems, `addresses of ${deviceId} not changed`);
    const now = this.#clock.now();
    return this.#write(now, async (tx) => {
      const dev = await tx.selectFrom('devices').select('id').where('id', '=', deviceId).executeTakeFirst();
      if (dev === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `device ${deviceId} does not exist`);
      if (list.length > 0) {
        const taken = await tx.selectFrom('device_addresses').select(['address', 'device_id'])
          .where('address', 'in', list.map((a) => a.text)).where('device_id', '!=', deviceId).execute();
        if (taken.length > 0) {
          throw new ZetaError('ZETA_ERR_CONFLICT', `address(es) already assigned: ${taken.map((t) => `${t.address} (device ${t.device_id})`).join(', ')}`);
        }
      }
      await tx.deleteFrom('device_addresses').where('device_id', '=', deviceId).execute();
      if (list.length > 0) {
        await tx.insertInto('device_addresses').values(list.map((a) => ({ address: a.text, device_id: deviceId, family: a.family, created_at: now.toISOString() }))).execute();
      }
      const texts = list.map((a) => a.text);
      return { result: texts, action: 'device.addresses', subject: deviceId, details: { addresses: texts } };
    }, actor);
  }

  /**
   * Imports a MUD file's flows for one device type (mud.ts). All or nothing: a malformed file, a
   * mapping naming a missing segment or service, or any flow failing validation applies nothing.
   * Entries that cannot be expressed are returned (and audited) in `unmapped`. The mapping is
   * checked against `mudMappingSchema` (it arrives from an API body or a CLI file).
   */
  async importMud(file: string | Uint8Array, mappingInput: unknown, actor: string): Promise<MudImportResult> {
    const m = mudMappingSchema.safeParse(mappingInput);
    if (!m.success) {
      throw validationError(m.error.issues.map((i) => `mapping.${i.path.map(String).join('.')}: ${i.message}`), 'MUD mapping not accepted');
    }
    const mapping: MudMapping = m.data;
    const intent = parseMud(file, mapping);
    const now = this.#clock.now();
    const source = `mud:${intent.mudUrl}`.slice(0, 1024);
    return this.#write(now, async (tx) => {
      const cat = await loadCatalog(tx);
      if (!cat.segments.has(mapping.segment)) throw validationError([`segment: segment "${mapping.segment}" does not exist`], 'MUD mapping not accepted');
      const services: Service[] = [];
      const segments = cat.segments;
      const svcMap = new Map(cat.services);
      for (const input of intent.services) {
        const svc = buildService(input, now.toISOString());
        const existing = svcMap.get(svc.name);
        if (existing !== undefined) {
          // Re-import, or a service the operator already made for this DNS name / network.
          const same = (svc.dnsName !== null && existing.dnsName === svc.dnsName) || (svc.dnsName === null && JSON.stringify(existing.addresses) === JSON.stringify(svc.addresses));
          if (!same) throw new ZetaError('ZETA_ERR_CONFLICT', `service ${svc.name} exists with other addresses or DNS name; map it with dnsServices or rename it`);
          continue;
        }
        await this.#insertService(tx, svc);
        svcMap.set(svc.name, svc);
        services.push(svc);
      }
      const view: CatalogView = { segments, services: svcMap };
      const flows: Flow[] = [];
      const alreadyPresent: { flow: string; existing: string }[] = [];
      const known = new Map(cat.flows.map((f) => [flowKey(f), f.id]));
      for (const [i, input] of intent.flows.entries()) {
        let flow: Flow;
        try {
          flow = buildFlow(input, view, newFlowId(), now.toISOString(), source);
        } catch (e) {
          if (e instanceof ZetaError) throw new ZetaError(e.code, `MUD flow ${i + 1} (${String(input.description)}): ${e.message}`, { fields: e.fields ?? {} });
          throw e;
        }
        const existing = known.get(flowKey(flow));
        if (existing !== undefined) {
          alreadyPresent.push({ flow: String(input.description), existing });
          continue;
        }
        await this.#insertFlow(tx, flow, []);
        known.set(flowKey(flow), flow.id);
        flows.push(flow);
      }
      const result: MudImportResult = { mudUrl: intent.mudUrl, flows, services, alreadyPresent, unmapped: intent.unmapped, covered: intent.covered };
      return {
        result,
        action: 'segments.mud-import',
        subject: `segment:${mapping.segment}`,
        details: {
          mudUrl: intent.mudUrl,
          deviceType: mapping.deviceType ?? null,
          flowIds: flows.slice(0, 100).map((f) => f.id),
          flowCount: flows.length,
          servicesCreated: services.map((s) => s.name).slice(0, 50),
          alreadyPresent: alreadyPresent.length,
          unmapped: intent.unmapped.slice(0, 20).map((u) => `${u.acl}/${u.ace}: ${u.reason}`.slice(0, 200)),
          unmappedCount: intent.unmapped.length,
          coveredCount: intent.covered.length,
        },
      };
    }, actor);
  }

  // ---- internals ----

  async #insertService(tx: Tx, svc: Service): Promise<void> {
    const exists = await tx.selectFrom('services').select('name').where('name', '=', svc.name).executeTakeFirst();
    if (exists !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `service ${svc.name} already exists`);
    await tx.insertInto('services').values(serviceToRow(svc)).execute();
  }

  async #insertFlow(tx: Tx, flow: Flow, existing: readonly Flow[]): Promise<void> {
    const idTaken = await tx.selectFrom('flows').select('id').where('id', '=', flow.id).executeTakeFirst();
    if (idTaken !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `flow ${flow.id} already exists`);
    const key = flowKey(flow);
    const same = existing.find((f) => flowKey(f) === key);
    if (same !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `flow ${same.id} already allows exactly this`);
    await tx.insertInto('flows').values(flowToRow(flow)).execute();
  }

  /** One transaction: the change, its audit entry, one change-feed row. */
  async #write<T>(now: Date, fn: (tx: Tx) => Promise<{ result: T; action: string; subject: string; details: Record<string, unknown> }>, actor = 'system'): Promise<T> {
    return this.#store.writeTx(async (tx) => {
      const r = await fn(tx);
      await this.#audit.append(tx, { actor, action: r.action, subject: r.subject, details: r.details });
      await emitChange(tx, now, SEGMENTS_CHANGED, r.subject, { action: r.action });
      return r.result;
    });
  }
}

function flowDetails(f: Flow): Record<string, unknown> {
  return {
    from: f.from, to: `${f.to.kind}:${f.to.name}`, protocol: f.protocol, ports: f.ports, mqttTopicPrefix: f.mqttTopicPrefix,
    direction: f.direction, fromDeviceType: f.fromDeviceType, toDeviceType: f.toDeviceType, source: f.source,
  };
}
