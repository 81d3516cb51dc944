// Policy decision latency: Zeta's compiled Cedar evaluator vs cedar-wasm `statefulIsAuthorized`
// (preparsed policy set, only the entities each request needs), on one realistic IoT policy set
// and fleet, over a stream of distinct requests. No decision cache on either side.
//   node --import tsx bench/policy.ts [devices] [requests]
import { pathToFileURL } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { policySetTextToJson } from '../src/policy/cedar-json.js';
import { compilePolicySet, EntityStore, isAuthorized, type CedarRequest, type EntityJson } from '../src/policy/engine/index.js';
import { setFlagsFromString } from 'node:v8';
import { mulberry32 } from '../src/common/random.js';

// ADR 0002: V8 11.3 can abort when deoptimizing around inlined JS-to-Wasm calls (cedar-wasm).
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export const DEVICE_TYPES = ['sensor', 'camera', 'plc', 'gateway', 'hvac', 'meter'] as const;
export const TOPIC_KINDS = ['telemetry', 'command', 'config', 'alert', 'firmware', 'video'] as const;
export const ACTIONS = ['connect', 'publish', 'subscribe', 'receive'] as const;
const STATES = ['active', 'active', 'active', 'active', 'active', 'active', 'suspended', 'quarantined', 'retired'] as const;
const ZONES = ['ot', 'it', 'dmz'] as const;

/** ~50 policies a Zeta operator could plausibly run over an MQTT fleet. */
export function iotPolicyText(sites: number): string {
  const p: string[] = [];
  // Baseline guards: lifecycle state, trust score, quarantine segment.
  p.push('forbid(principal is Device, action, resource) unless { principal.state == "active" };');
  p.push('forbid(principal is Device, action, resource) when { principal.trustScore < 30 };');
  p.push('forbid(principal in Segment::"quarantine", action, resource);');
  p.push(`permit(principal is Device, action == Action::"connect", resource == Broker::"main")
    when { context.clientIp.isInRange(ip("10.0.0.0/8")) && principal.trustScore >= 50 };`);
  p.push(`permit(principal is Device, action == Action::"connect", resource == Broker::"main")
    when { principal.type == "gateway" && context.clientIp.isInRange(ip("192.168.0.0/16")) };`);
  for (const t of DEVICE_TYPES) {
    p.push(`permit(principal is Device, action == Action::"publish", resource is Topic)
      when { principal.type == "${t}" && resource.kind == "telemetry" && resource.device == principal && context.qos <= 1 };`);
    p.push(`permit(principal is Device, action in [Action::"subscribe", Action::"receive"], resource is Topic)
      when { principal.type == "${t}" && resource.kind == "command" && resource.device == principal };`);
  }
  const minTrust: Record<string, number> = { sensor: 40, camera: 60, plc: 75, gateway: 80, hvac: 45, meter: 50 };
  for (const [t, n] of Object.entries(minTrust)) {
    p.push(`forbid(principal is Device, action == Action::"publish", resource) when { principal.type == "${t}" && principal.trustScore < ${n} };`);
  }
  p.push(`permit(principal is Device, action == Action::"receive", resource is Topic)
    when { resource.kind == "alert" && resource.site == principal.site };`);
  p.push(`permit(principal is Device, action == Action::"publish", resource is Topic)
    when { resource.kind == "alert" && ["gateway", "plc"].contains(principal.type) };`);
  for (let s = 0; s < sites; s++) {
    p.push(`permit(principal is Device, action in [Action::"subscribe", Action::"receive"], resource in TopicSpace::"s${s}/telemetry")
      when { principal.type == "gateway" && principal in Site::"s${s}" };`);
    p.push(`forbid(principal in Site::"s${s}", action in Action::"messaging", resource)
      when { context has lockdown && context.lockdown.contains("s${s}") };`);
  }
  p.push(`permit(principal is Device, action in [Action::"subscribe", Action::"receive"], resource is Topic)
    when { resource.kind == "firmware" && resource.deviceType == principal.type && principal.fwVersion.lessThan(decimal("3.0")) && principal.trustScore >= 70 };`);
  p.push(`forbid(principal is Device, action == Action::"publish", resource is Topic)
    when { resource.kind == "command" && ["sensor", "meter"].contains(principal.type) };`);
  p.push(`forbid(principal, action == Action::"publish", resource is Topic) when { resource.kind == "config" }
    unless { context.now.toTime() >= duration("2h") && context.now.toTime() < duration("4h") };`);
  p.push(`permit(principal is Device, action == Action::"publish", resource is Topic)
    when { resource.kind == "config" && principal.type == "plc" && resource.device == principal };`);
  p.push(`forbid(principal is Device, action == Action::"publish", resource is Topic)
    when { principal.zone == "ot" && resource.classification == "it" };`);
  p.push(`forbid(principal is Device, action == Action::"publish", resource is Topic)
    when { context.retain } unless { principal.tags.contains("may-retain") };`);
  p.push(`permit(principal is Device, action == Action::"publish", resource is Topic)
    when { principal.type == "camera" && resource.name like "*/video/*" && resource.device == principal && context.qos == 0 };`);
  p.push(`forbid(principal is Device, action, resource is Topic) when { resource has owner && resource.owner != principal.owner };`);
  p.push(`forbid(principal is Device, action == Action::"subscribe", resource is Topic) when { resource.kind == "video" } unless { principal.type == "gateway" };`);
  return p.join('\n');
}

/** Deterministic PRNG, so runs and the differential test are reproducible. */
export const rng = mulberry32;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const uid = (type: string, id: string): { type: string; id: string } => ({ type, id });

export interface Fleet {
  sites: number;
  devices: EntityJson[];
  topics: EntityJson[];
  topicsByDevice: Map<string, EntityJson[]>;
  /** Everything: sites, segments, topic spaces, devices, topics, broker, actions. */
  all: EntityJson[];
  byKey: Map<string, EntityJson>;
}

export function generateFleet(deviceCount: number, seed = 1): Fleet {
  const r = rng(seed);
  const sites = Math.max(1, Math.min(10, Math.ceil(deviceCount / 1000)));
  const out: EntityJson[] = [];
  const devices: EntityJson[] = [];
  const topics: EntityJson[] = [];
  const topicsByDevice = new Map<string, EntityJson[]>();
  for (let s = 0; s < sites; s++) {
    out.push({ uid: uid('Site', `s${s}`), attrs: { region: pick(r, ['eu', 'us', 'apac']) }, parents: [] });
    for (let k = 0; k < 4; k++) {
      out.push({ uid: uid('Segment', `s${s}-seg${k}`), attrs: { zone: ZONES[k % 3] as string }, parents: [uid('Site', `s${s}`)] });
    }
    for (const kind of TOPIC_KINDS) out.push({ uid: uid('TopicSpace', `s${s}/${kind}`), attrs: {}, parents: [uid('Site', `s${s}`)] });
  }
  out.push({ uid: uid('Segment', 'quarantine'), attrs: { zone: 'dmz' }, parents: [] });
  out.push({ uid: uid('Broker', 'main'), attrs: {}, parents: [] });
  out.push({ uid: uid('Action', 'messaging'), attrs: {}, parents: [] });
  for (const a of ACTIONS) out.push({ uid: uid('Action', a), attrs: {}, parents: a === 'connect' ? [] : [uid('Action', 'messaging')] });
  for (let i = 0; i < deviceCount; i++) {
    const s = Math.floor(r() * sites);
    const k = Math.floor(r() * 4);
    const type = pick(r, DEVICE_TYPES);
    const id = `d${i}`;
    const quarantined = r() < 0.02;
    const d: EntityJson = {
      uid: uid('Device', id),
      attrs: {
        type,
        site: `s${s}`,
        segment: `s${s}-seg${k}`,
        zone: ZONES[k % 3] as string,
        state: pick(r, STATES),
        trustScore: Math.floor(r() * 101),
        fwVersion: { __extn: { fn: 'decimal', arg: `${1 + Math.floor(r() * 4)}.${Math.floor(r() * 10)}` } },
        tags: r() < 0.3 ? ['may-retain', 'prod'] : ['prod'],
        owner: { __entity: uid('Tenant', `t${i % 7}`) },
      },
      parents: quarantined ? [uid('Segment', 'quarantine')] : [uid('Segment', `s${s}-seg${k}`)],
    };
    devices.push(d);
    const own: EntityJson[] = [];
    topicsByDevice.set(id, own);
    for (const kind of r() < 0.5 ? TOPIC_KINDS : (['telemetry', 'command', 'alert'] as const)) {
      const name = `s${s}/${kind}/${type}/${id}`;
      const topic: EntityJson = {
        uid: uid('Topic', name),
        attrs: {
          name,
          kind,
          site: `s${s}`,
          device: { __entity: uid('Device', id) },
          deviceType: type,
          classification: r() < 0.1 ? 'it' : 'ot',
          ...(r() < 0.05 ? { owner: { __entity: uid('Tenant', `t${(i + 1) % 7}`) } } : {}),
        },
        parents: [uid('TopicSpace', `s${s}/${kind}`)],
      };
      topics.push(topic);
      own.push(topic);
    }
  }
  const all = [...out, ...devices, ...topics];
  const byKey = new Map(all.map((e) => [keyOf(e.uid as { type: string; id: string }), e]));
  return { sites, devices, topics, topicsByDevice, all, byKey };
}

const keyOf = (u: { type: string; id: string }): string => `${u.type}::${u.id}`;

/** A random request; `connect` goes to the broker, the rest to a topic (often the device's own). */
export function randomRequest(r: () => number, fleet: Fleet): CedarRequest {
  const d = pick(r, fleet.devices);
  const action = pick(r, ACTIONS);
  const devUid = d.uid as { type: string; id: string };
  let resource: { type: string; id: string };
  if (action === 'connect') resource = uid('Broker', 'main');
  else if (r() < 0.6) {
    const own = fleet.topicsByDevice.get(devUid.id) ?? fleet.topics;
    resource = pick(r, own).uid as { type: string; id: string };
  } else resource = pick(r, fleet.topics).uid as { type: string; id: string };
  const hh = String(Math.floor(r() * 24)).padStart(2, '0');
  const mm = String(Math.floor(r() * 60)).padStart(2, '0');
  const ss = String(Math.floor(r() * 60)).padStart(2, '0');
  const ipPool = ['10', '192.168', '172.16'];
  const prefix = pick(r, ipPool);
  const octets = prefix.split('.').length;
  const ipRest = Array.from({ length: 4 - octets }, () => Math.floor(r() * 256)).join('.');
  return {
    principal: devUid,
    action: uid('Action', action),
    resource,
    context: {
      clientIp: { __extn: { fn: 'ip', arg: `${prefix}.${ipRest}` } },
      qos: Math.floor(r() * 3),
      retain: r() < 0.2,
      now: { __extn: { fn: 'datetime', arg: `2025-03-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}T${hh}:${mm}:${ss}Z` } },
      ...(r() < 0.1 ? { lockdown: [`s${Math.floor(r() * fleet.sites)}`] } : {}),
    },
  };
}

/** The slice of the fleet a request can reach: principal, resource, their ancestors, the actions. */
export function entitiesFor(req: CedarRequest, fleet: Fleet): EntityJson[] {
  const out = new Map<string, EntityJson>();
  const add = (u: { type: string; id: string }): void => {
    const k = keyOf(u);
    const e = fleet.byKey.get(k);
    if (e === undefined || out.has(k)) return;
    out.set(k, e);
    for (const p of e.parents ?? []) add(p as { type: string; id: string });
  };
  add(req.principal as { type: string; id: string });
  add(req.resource as { type: string; id: string });
  add(req.action as { type: string; id: string });
  return [...out.values()];
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function main(): void {
  const deviceCount = Number(process.argv[2] ?? 10_000);
  const requestCount = Number(process.argv[3] ?? 20_000);
  const fleet = generateFleet(deviceCount, 42);
  const text = iotPolicyText(fleet.sites);
  const policies = compilePolicySet(policySetTextToJson(text));
  const store = new EntityStore(fleet.all);
  const pre = cedar.preparsePolicySet('iot', { staticPolicies: text });
  if (pre.type !== 'success') throw new Error(`cedar-wasm preparse failed: ${JSON.stringify(pre)}`);

  const r = rng(7);
  const seen = new Set<string>();
  const reqs: CedarRequest[] = [];
  while (reqs.length < requestCount) {
    const q = randomRequest(r, fleet);
    const k = JSON.stringify(q);
    if (seen.has(k)) continue; // a stream with no repeats
    seen.add(k);
    reqs.push(q);
  }
  const slices = reqs.map((q) => entitiesFor(q, fleet));

  // Warm both sides (JIT, wasm tier-up) on a prefix, then measure every request once.
  for (let i = 0; i < Math.min(2000, reqs.length); i++) {
    isAuthorized(reqs[i] as CedarRequest, policies, store);
    const q = reqs[i] as CedarRequest;
    cedar.statefulIsAuthorized({ ...q, context: q.context as never, preparsedPolicySetId: 'iot', entities: slices[i] as never });
  }
  // Two passes over the same stream, so neither side pays for the other's cache and GC churn.
  const ours: number[] = [];
  const theirs: number[] = [];
  const decisions = reqs.map((q) => {
    const t0 = process.hrtime.bigint();
    const a = isAuthorized(q, policies, store);
    ours.push(Number(process.hrtime.bigint() - t0) / 1000);
    return a;
  });
  let agree = 0;
  let allows = 0;
  for (let i = 0; i < reqs.length; i++) {
    const q = reqs[i] as CedarRequest;
    const a = decisions[i] as (typeof decisions)[number];
    const t1 = process.hrtime.bigint();
    const b = cedar.statefulIsAuthorized({ ...q, context: q.context as never, preparsedPolicySetId: 'iot', entities: slices[i] as never });
    theirs.push(Number(process.hrtime.bigint() - t1) / 1000);
    if (b.type !== 'success') continue;
    const same =
      a.decision === b.response.decision &&
      JSON.stringify([...a.determining].sort()) === JSON.stringify([...b.response.diagnostics.reason].sort()) &&
      JSON.stringify(a.errors.map((e) => e.policyId).sort()) === JSON.stringify(b.response.diagnostics.errors.map((e) => e.policyId).sort());
    if (same) agree++;
    if (a.decision === 'allow') allows++;
  }
  ours.sort((x, y) => x - y);
  theirs.sort((x, y) => x - y);
  const res = {
    bench: 'policy-decision',
    policies: policies.ids.length,
    entities: store.size,
    devices: deviceCount,
    requests: reqs.length,
    allowRate: +(allows / reqs.length).toFixed(3),
    zetaP50Us: +percentile(ours, 0.5).toFixed(2),
    zetaP99Us: +percentile(ours, 0.99).toFixed(2),
    cedarWasmP50Us: +percentile(theirs, 0.5).toFixed(2),
    cedarWasmP99Us: +percentile(theirs, 0.99).toFixed(2),
    p50Ratio: +(percentile(theirs, 0.5) / percentile(ours, 0.5)).toFixed(1),
    agreement: +(agree / reqs.length).toFixed(6),
  };
  console.log(`policies ${res.policies}, entities ${res.entities} (${deviceCount} devices), ${res.requests} distinct requests, allow rate ${res.allowRate}`);
  console.log(`zeta engine      p50 ${res.zetaP50Us} µs   p99 ${res.zetaP99Us} µs`);
  console.log(`cedar-wasm       p50 ${res.cedarWasmP50Us} µs   p99 ${res.cedarWasmP99Us} µs   (statefulIsAuthorized, preparsed, entity slice)`);
  console.log(`p50 ratio        ${res.p50Ratio}× (goal ≥ 100×)`);
  console.log(`agreement        ${(res.agreement * 100).toFixed(4)} % (must be 100 %)`);
  console.log(JSON.stringify(res));
  if (res.agreement !== 1) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
