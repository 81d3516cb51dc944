/**
 * Fleet simulator for tests and bench/detect.ts: diurnal behaviour per device type, labelled attack
 * episodes and labelled benign changes, emitted as the same signals the parsers produce (flows,
 * telemetry, gateway events), in event-time order, in one-minute chunks (memory stays flat however
 * long the simulated period). Deterministic for a given seed.
 */
import type { InventoryDevice } from './detector.js';
import { mulberry32 } from './hst.js';
import type { FlowRecord, GatewayRecord, Signal, TelemetryRecord } from './signals.js';

export const DEVICE_TYPES = ['camera', 'thermostat', 'lock', 'plc', 'sensor', 'gateway'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];
export const ATTACK_KINDS = ['scan', 'bruteforce', 'ddos', 'exfil', 'lateral', 'c2', 'clone', 'firmware', 'drift'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];
export const BENIGN_KINDS = ['rollout', 'outage', 'late-join', 'reboot-storm'] as const;
export type BenignKind = (typeof BENIGN_KINDS)[number];

export interface SimDevice {
  readonly id: string;
  readonly type: DeviceType;
  readonly model: string;
  readonly ip: string;
  readonly segment: string;
  readonly joinMs: number;
  /** Per-device offset of its main telemetry metric (rooms differ). */
  readonly offset: number;
  readonly amp: number;
}

export interface Episode {
  readonly index: number;
  readonly kind: AttackKind | BenignKind;
  readonly label: 'attack' | 'benign';
  /** Detector keys (device ids or addresses) that the episode is about. */
  readonly keys: readonly string[];
  readonly cohort?: string;
  readonly startMs: number;
  readonly endMs: number;
  /** When the anomaly becomes distinguishable (for slow drift: when it exceeds 3 σ of the noise). */
  readonly detectableFromMs: number;
}

export interface SimOptions {
  readonly devices?: number;
  readonly days?: number;
  readonly seed?: number;
  readonly startMs?: number;
  /** Attack episodes per attack kind (0: none). */
  readonly attacksPerKind?: number;
  readonly benign?: boolean;
  /** No episode starts before this much time has passed (the detector learns). */
  readonly quietMs?: number;
}

export interface SimEvent {
  readonly signal: Signal;
  /** Index of the attack episode this record belongs to, or -1. */
  readonly attack: number;
}

export interface Fleet {
  readonly devices: readonly SimDevice[];
  readonly inventory: readonly InventoryDevice[];
  readonly segments: Readonly<Record<string, string>>;
  readonly episodes: readonly Episode[];
  readonly startMs: number;
  readonly endMs: number;
  /** Device-days actually simulated (late joiners count from their join). */
  readonly deviceDays: number;
  /** Signals in one-minute chunks, each sorted by time. */
  chunks(): Generator<SimEvent[]>;
}

interface Profile {
  readonly share: number;
  readonly segment: string;
  readonly net: number;
  readonly cloud: string;
  readonly flowEveryMs: number;
  readonly flowBytes: number;
  readonly port: number;
  readonly metric: string;
  readonly level: number;
  readonly noise: number;
  readonly telEveryMs: number;
  readonly pubEveryMs: number;
  readonly topic: string;
}

const PROFILES: Readonly<Record<DeviceType, Profile>> = {
  camera: { share: 0.25, segment: 'cameras', net: 10, cloud: '52.10.0.', flowEveryMs: 30_000, flowBytes: 300_000, port: 443, metric: 'cpu', level: 30, noise: 2, telEveryMs: 60_000, pubEveryMs: 60_000, topic: 'status' },
  thermostat: { share: 0.2, segment: 'hvac', net: 20, cloud: '52.20.0.', flowEveryMs: 120_000, flowBytes: 2_000, port: 443, metric: 'temperature', level: 21, noise: 0.1, telEveryMs: 60_000, pubEveryMs: 60_000, topic: 'temp' },
  lock: { share: 0.15, segment: 'access', net: 30, cloud: '52.30.0.', flowEveryMs: 300_000, flowBytes: 1_000, port: 443, metric: 'battery', level: 80, noise: 0.3, telEveryMs: 300_000, pubEveryMs: 300_000, topic: 'state' },
  plc: { share: 0.1, segment: 'ot', net: 40, cloud: '10.40.255.', flowEveryMs: 10_000, flowBytes: 400, port: 502, metric: 'cycle_ms', level: 10, noise: 0.3, telEveryMs: 30_000, pubEveryMs: 30_000, topic: 'cycle' },
  sensor: { share: 0.25, segment: 'sensors', net: 50, cloud: '10.60.0.', flowEveryMs: 60_000, flowBytes: 500, port: 8883, metric: 'humidity', level: 45, noise: 0.5, telEveryMs: 60_000, pubEveryMs: 60_000, topic: 'humidity' },
  gateway: { share: 0.05, segment: 'gateways', net: 60, cloud: '52.60.0.', flowEveryMs: 10_000, flowBytes: 50_000, port: 443, metric: 'cpu', level: 20, noise: 3, telEveryMs: 60_000, pubEveryMs: 30_000, topic: 'status' },
};

const DAY = 86_400_000;
const MIN = 60_000;
const CHUNK = MIN;

/** The segment map the simulator's fleet lives in (CIDR → segment). */
export const SIM_SEGMENTS: Readonly<Record<string, string>> = Object.freeze({
  '10.0.0.0/24': 'infra',
  ...Object.fromEntries(DEVICE_TYPES.map((t) => [`10.${PROFILES[t].net}.0.0/16`, PROFILES[t].segment])),
});

interface DevState {
  nextFlow: number;
  nextTel: number;
  nextPub: number;
  nextDns: number;
  session: number;
  cloud: string;
  newTopic: boolean;
  cpuBump: number;
  switchAt: number;
  rebootAt: number;
}

export function simulateFleet(o: SimOptions = {}): Fleet {
  const n = o.devices ?? 200;
  const days = o.days ?? 1;
  const seed = o.seed ?? 7;
  const startMs = o.startMs ?? Date.UTC(2026, 2, 2, 0, 0, 0);
  const endMs = startMs + Math.round(days * DAY);
  const quietMs = o.quietMs ?? 2 * 3600_000;
  const rnd = mulberry32(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;

  // --- the fleet ---
  const devices: SimDevice[] = [];
  const counters: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    let u = (i + 0.5) / n;
    let type: DeviceType = 'gateway';
    for (const t of DEVICE_TYPES) {
      if (u < PROFILES[t].share) {
        type = t;
        break;
      }
      u -= PROFILES[t].share;
    }
    const p = PROFILES[type];
    const k = (counters[type] = (counters[type] ?? 0) + 1);
    const late = o.benign !== false && rnd() < 0.05;
    devices.push({
      id: `${type}-${String(k).padStart(4, '0')}`,
      type,
      model: 'm1',
      ip: `10.${p.net}.${Math.floor(k / 250)}.${(k % 250) + 1}`,
      segment: p.segment,
      joinMs: late ? startMs + quietMs + Math.floor(rnd() * (endMs - startMs - quietMs)) : startMs,
      offset: gauss() * p.noise * 8,
      amp: 1 + gauss() * 0.1,
    });
  }
  const byType = (t: DeviceType): SimDevice[] => devices.filter((d) => d.type === t && d.joinMs === startMs);
  const inventory: InventoryDevice[] = devices.map((d) => ({ id: d.id, type: d.type, segment: d.segment, hosts: [d.ip] }));
  const gateways = byType('gateway');

  // --- episodes ---
  const episodes: Episode[] = [];
  const span = endMs - startMs - quietMs;
  const at = (): number => startMs + quietMs + Math.floor(rnd() * Math.max(1, span - 3600_000));
  const attackers = new Set<string>();
  const pickAttacker = (types: readonly DeviceType[]): SimDevice => {
    for (let tries = 0; tries < 50; tries++) {
      const d = pick(byType(pick(types)));
      if (d !== undefined && !attackers.has(d.id)) {
        attackers.add(d.id);
        return d;
      }
    }
    return pick(byType(pick(types)));
  };
  const attackDevice = new Map<number, SimDevice>();
  const extra = new Map<number, string>();
  for (let r = 0; r < (o.attacksPerKind ?? 0); r++) {
    for (const kind of ATTACK_KINDS) {
      const s = at();
      const dur = { scan: 5, bruteforce: 5, ddos: 3, exfil: 5, lateral: 10, c2: 30, clone: 10, firmware: 15, drift: 90 }[kind] * MIN;
      const index = episodes.length;
      let keys: string[];
      let detectable = s;
      if (kind === 'bruteforce' && r % 2 === 1) {
        const addr = `203.0.113.${(r % 250) + 1}`;
        extra.set(index, addr);
        keys = [addr];
      } else {
        const d = pickAttacker(kind === 'drift' ? ['thermostat', 'sensor'] : kind === 'clone' ? ['camera', 'thermostat', 'lock', 'sensor'] : ['camera', 'thermostat', 'lock', 'sensor', 'plc']);
        attackDevice.set(index, d);
        keys = [d.id];
        // Drift of 3 σ (noise) per 30 min: distinguishable after 30 min.
        if (kind === 'drift') detectable = s + 30 * MIN;
      }
      episodes.push({ index, kind, label: 'attack', keys, startMs: s, endMs: s + dur, detectableFromMs: detectable });
    }
  }
  const benign = new Map<BenignKind, Episode>();
  if (o.benign !== false && span > 4 * 3600_000) {
    const mk = (kind: BenignKind, s: number, dur: number, cohort?: string, keys: string[] = []): void => {
      const e: Episode = { index: episodes.length, kind, label: 'benign', keys, startMs: s, endMs: s + dur, detectableFromMs: s, ...(cohort !== undefined ? { cohort } : {}) };
      episodes.push(e);
      benign.set(kind, e);
    };
    mk('rollout', startMs + quietMs + Math.floor(span * 0.2), 20 * MIN, 'camera');
    mk('outage', startMs + quietMs + Math.floor(span * 0.45), 20 * MIN, 'thermostat');
    mk('reboot-storm', startMs + quietMs + Math.floor(span * 0.7), 2 * MIN);
    const late = devices.filter((d) => d.joinMs > startMs);
    if (late.length > 0) {
      const first = Math.min(...late.map((d) => d.joinMs));
      mk('late-join', first, endMs - first, undefined, late.map((d) => d.id));
    }
  }
  const rollout = benign.get('rollout');
  const outage = benign.get('outage');
  const storm = benign.get('reboot-storm');

  let deviceDays = 0;
  for (const d of devices) deviceDays += (endMs - d.joinMs) / DAY;

  // --- signal generation ---
  let uid = 0;
  const flow = (ts: number, origH: string, respH: string, respP: number, o2: Partial<FlowRecord> = {}): FlowRecord => ({
    kind: 'flow',
    tsMs: Math.round(ts),
    uid: `C${(uid++).toString(36)}`,
    origH,
    origP: 32768 + Math.floor(rnd() * 28000),
    respH,
    respP,
    proto: 'tcp',
    service: respP === 443 ? 'ssl' : '',
    duration: 0.5,
    origBytes: 500,
    respBytes: 500,
    connState: 'SF',
    history: 'ShADadFf',
    origPkts: 6,
    respPkts: 5,
    ...o2,
  });
  const tel = (ts: number, device: string, metric: string, value: number): TelemetryRecord => ({ kind: 'telemetry', tsMs: Math.round(ts), device, metric, value });
  let sid = 1;
  const gw = (ts: number, type: string, clientAddress: string, sessionId: number, extra2: Partial<GatewayRecord['event']> = {}): GatewayRecord => {
    const t = Math.round(ts);
    return { kind: 'gateway', tsMs: t, event: { type, at: new Date(t).toISOString(), sessionId, clientAddress, ...extra2 } };
  };
  const diurnal = (ts: number): number => Math.sin((2 * Math.PI * (((ts - startMs) % DAY) / DAY)) - Math.PI / 2);

  function* chunks(): Generator<SimEvent[]> {
    const st = new Map<string, DevState>();
    for (const d of devices) {
      const p = PROFILES[d.type];
      const cloudIx = 1 + (Math.abs(Math.round(d.offset * 1000)) % 3);
      st.set(d.id, {
        nextFlow: d.joinMs + rnd() * p.flowEveryMs,
        nextTel: d.joinMs + rnd() * p.telEveryMs,
        nextPub: d.joinMs + rnd() * p.pubEveryMs,
        nextDns: d.joinMs + rnd() * 10 * MIN,
        session: 0,
        cloud: d.type === 'sensor' ? (gateways[Math.floor(rnd() * gateways.length)]?.ip ?? '10.60.0.1') : `${p.cloud}${cloudIx}`,
        newTopic: false,
        cpuBump: 0,
        switchAt: rollout !== undefined && d.type === 'camera' && d.joinMs < rollout.startMs ? rollout.startMs + rnd() * (rollout.endMs - rollout.startMs) : Infinity,
        rebootAt: storm !== undefined && rnd() < 0.3 ? storm.startMs + rnd() * (storm.endMs - storm.startMs) : Infinity,
      });
    }
    for (let c0 = startMs; c0 < endMs; c0 += CHUNK) {
      const c1 = c0 + CHUNK;
      const out: SimEvent[] = [];
      const push = (signal: Signal, attack = -1): void => {
        out.push({ signal, attack });
      };
      for (const d of devices) {
        if (d.joinMs >= c1) continue;
        const s = st.get(d.id) as DevState;
        const p = PROFILES[d.type];
        if (s.session === 0 && d.joinMs < c1) {
          s.session = sid++;
          push(gw(Math.max(d.joinMs, c0), 'connect', d.ip, s.session, { deviceId: d.id }));
        }
        // Benign: firmware roll-out to a never-seen server, new topic afterwards.
        if (s.switchAt >= c0 && s.switchAt < c1) {
          s.cloud = '52.99.0.1';
          s.newTopic = true;
          s.cpuBump = 3;
          push(flow(s.switchAt, d.ip, '52.99.0.1', 443, { duration: 40, origBytes: 20_000, respBytes: 20_000_000, origPkts: 900, respPkts: 14_000 }));
          push(gw(s.switchAt + 45_000, 'disconnect', d.ip, s.session, { deviceId: d.id }));
          s.session = sid++;
          push(gw(s.switchAt + 75_000, 'connect', d.ip, s.session, { deviceId: d.id }));
          // The operator registered the new image's reference values before the roll-out.
          push(gw(s.switchAt + 76_000, 'attestation_verified', d.ip, s.session, { deviceId: d.id, reason: 'ok', detail: 'firmware 2.0.0' }));
        }
        // Benign: reboot storm.
        if (s.rebootAt >= c0 && s.rebootAt < c1) {
          const t = s.rebootAt;
          push(gw(t, 'disconnect', d.ip, s.session, { deviceId: d.id, reason: 'keepalive_timeout' }));
          s.session = sid++;
          push(gw(t + 40_000, 'connect', d.ip, s.session, { deviceId: d.id }));
          push(flow(t + 35_000, d.ip, '10.0.0.53', 53, { proto: 'udp', service: 'dns', duration: 0.01, origBytes: 40, respBytes: 120, connState: 'SF' }));
          push(flow(t + 36_000, d.ip, '10.0.0.123', 123, { proto: 'udp', service: 'ntp', duration: 0.01, origBytes: 48, respBytes: 48 }));
          push(flow(t + 38_000, d.ip, s.cloud, p.port, { origBytes: p.flowBytes / 2, respBytes: 4000 }));
          s.cpuBump = 25;
          s.nextTel = t + 45_000;
        }
        const inOutage = outage !== undefined && d.type === 'thermostat';
        while (s.nextFlow < c1) {
          const t = s.nextFlow;
          const failing = inOutage && t >= (outage as Episode).startMs && t < (outage as Episode).endMs;
          const day = 1 + 0.5 * diurnal(t);
          if (failing) {
            push(flow(t, d.ip, s.cloud, p.port, { duration: 0, origBytes: 0, respBytes: 0, connState: 'S0', history: 'S', origPkts: 3, respPkts: 0, service: '' }));
            s.nextFlow = t + 15_000 * (1 + 0.2 * rnd());
          } else {
            const bytes = Math.round(p.flowBytes * day * Math.exp(0.3 * gauss()));
            push(flow(t, d.ip, s.cloud, p.port, { duration: 0.2 + rnd() * 2, origBytes: bytes, respBytes: Math.round(300 + rnd() * 2000), origPkts: Math.ceil(bytes / 1400) + 3 }));
            s.nextFlow = t + p.flowEveryMs * (1 + 0.04 * gauss()) * (d.type === 'lock' ? 1.2 - 0.4 * rnd() * day : 1);
            if (rnd() < 0.002) push(flow(t + 500, d.ip, s.cloud, p.port, { connState: 'REJ', history: 'Sr', duration: 0, origBytes: 0, respBytes: 0 }));
          }
        }
        while (s.nextDns < c1) {
          const t = s.nextDns;
          push(flow(t, d.ip, '10.0.0.53', 53, { proto: 'udp', service: 'dns', duration: 0.01, origBytes: 40, respBytes: 120 }));
          if (rnd() < 0.1) push(flow(t + 200, d.ip, '10.0.0.123', 123, { proto: 'udp', service: 'ntp', duration: 0.01, origBytes: 48, respBytes: 48 }));
          s.nextDns = t + 10 * MIN * (0.5 + rnd());
        }
        while (s.nextTel < c1) {
          const t = s.nextTel;
          const v = p.level + d.offset + 3 * p.noise * d.amp * diurnal(t) + p.noise * gauss() + (p.metric === 'cpu' ? s.cpuBump : 0);
          push(tel(t, d.id, p.metric, v));
          if (s.cpuBump > 3) s.cpuBump = s.switchAt < t ? 3 : 0;
          if (d.type === 'camera' || d.type === 'gateway') push(tel(t + 5, d.id, 'temperature', 45 + 5 * diurnal(t) + gauss()));
          s.nextTel = t + p.telEveryMs * (1 + 0.01 * gauss());
        }
        while (s.nextPub < c1) {
          const t = s.nextPub;
          push(gw(t, 'publish_allowed', d.ip, s.session, { deviceId: d.id, topic: `devices/${d.id}/${p.topic}`, bytes: 40 + Math.floor(rnd() * 80) }));
          if (s.newTopic && rnd() < 0.2) push(gw(t + 10, 'publish_allowed', d.ip, s.session, { deviceId: d.id, topic: `devices/${d.id}/diag`, bytes: 300 }));
          if (d.type === 'lock' && rnd() < 0.3 * (1 + diurnal(t))) push(gw(t + 1000, 'publish_allowed', d.ip, s.session, { deviceId: d.id, topic: `devices/${d.id}/event`, bytes: 64 }));
          s.nextPub = t + p.pubEveryMs * (1 + 0.02 * gauss());
        }
        if (rnd() < 1 / (24 * 60) / 2) {
          // Ordinary reconnect about twice a day.
          const t = c0 + rnd() * CHUNK;
          push(gw(t, 'disconnect', d.ip, s.session, { deviceId: d.id, reason: 'client_disconnect' }));
          s.session = sid++;
          push(gw(t + 2000, 'connect', d.ip, s.session, { deviceId: d.id }));
        }
      }
      // Attacks active in this chunk.
      for (const e of episodes) {
        if (e.label !== 'attack' || e.endMs <= c0 || e.startMs >= c1) continue;
        const a0 = Math.max(c0, e.startMs);
        const a1 = Math.min(c1, e.endMs);
        const d = attackDevice.get(e.index);
        const ip = d?.ip ?? '';
        switch (e.kind as AttackKind) {
          case 'scan':
            for (let t = a0; t < a1; t += 100) {
              const dst = rnd() < 0.5 ? `10.${pick([10, 20, 30, 50])}.${Math.floor(rnd() * 4)}.${1 + Math.floor(rnd() * 250)}` : `${1 + Math.floor(rnd() * 220)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
              push(flow(t, ip, dst, rnd() < 0.8 ? 23 : 2323, { service: '', duration: 0, origBytes: 0, respBytes: 0, connState: rnd() < 0.9 ? 'S0' : 'REJ', history: 'S', origPkts: 1, respPkts: 0 }), e.index);
            }
            break;
          case 'bruteforce': {
            const addr = extra.get(e.index);
            if (addr !== undefined) {
              for (let t = a0; t < a1; t += 1000 + rnd() * 500) push(gw(t, 'connect_refused', addr, 0, { reason: 'not_authorized', detail: 'bad username or password' }), e.index);
            } else {
              const victim = `10.${PROFILES[d?.type ?? 'camera'].net}.0.${200 + (e.index % 40)}`;
              for (let t = a0; t < a1; t += 500 + rnd() * 500) push(flow(t, ip, victim, 22, { service: 'ssh', duration: 0.3 + rnd(), origBytes: 1200, respBytes: 1800, connState: rnd() < 0.7 ? 'SF' : 'RSTO' }), e.index);
            }
            break;
          }
          case 'ddos':
            for (let t = a0; t < a1; t += 25) push(flow(t, ip, '198.18.7.7', 80, { proto: 'udp', service: '', duration: 0, origBytes: 1400, respBytes: 0, connState: 'S0', history: 'D', origPkts: 1, respPkts: 0 }), e.index);
            break;
          case 'exfil':
            for (let t = a0 + rnd() * 1000; t < a1; t += 5000) push(flow(t, ip, `185.220.${e.index % 250}.9`, 443, { duration: 4, origBytes: 2_000_000 + Math.floor(rnd() * 3_000_000), respBytes: 4000 }), e.index);
            break;
          case 'lateral': {
            // Toward the OT segment, or from OT toward the access-control segment.
            const net = d?.type === 'plc' ? 30 : 40;
            for (let t = a0 + rnd() * 2000; t < a1; t += 20_000) push(flow(t, ip, `10.${net}.${Math.floor(rnd() * 2)}.${1 + Math.floor(rnd() * 200)}`, pick([502, 22, 445]), rnd() < 0.5 ? { connState: 'REJ', history: 'Sr', duration: 0, origBytes: 0, respBytes: 0 } : {}), e.index);
            break;
          }
          case 'c2': {
            const first = e.startMs + (e.index % 7) * 100;
            for (let t = first + Math.ceil((a0 - first) / 10_000) * 10_000; t < a1; t += 10_000) push(flow(t + rnd() * 100, ip, `198.51.100.${(e.index % 250) + 1}`, 443, { duration: 0.3, origBytes: 300 + Math.floor(rnd() * 100), respBytes: 200 }), e.index);
            break;
          }
          case 'clone': {
            if (d === undefined) break;
            const s = st.get(d.id) as DevState;
            const evil = `203.0.113.${200 + (e.index % 50)}`;
            for (let t = a0 + 5000; t < a1; t += 60_000) {
              const evilSession = sid++;
              push(gw(t, 'duplicate_identity', evil, evilSession, { deviceId: d.id, reason: 'replaced', detail: `existing session ${s.session} from ${d.ip}` }), e.index);
              push(gw(t + 1, 'connect', evil, evilSession, { deviceId: d.id }), e.index);
              push(gw(t + 20_000, 'duplicate_identity', d.ip, sid, { deviceId: d.id, reason: 'replaced', detail: `existing session ${evilSession} from ${evil}` }), e.index);
              s.session = sid++;
              push(gw(t + 20_001, 'connect', d.ip, s.session, { deviceId: d.id }), e.index);
            }
            break;
          }
          case 'firmware': {
            // Tampered image: the device reboots into it, and every quote it sends from then on
            // (at connect, then every 5 min) matches no reference value.
            if (d === undefined) break;
            const s = st.get(d.id) as DevState;
            if (a0 === e.startMs) {
              push(gw(a0, 'disconnect', d.ip, s.session, { deviceId: d.id, reason: 'client_disconnect' }), e.index);
              s.session = sid++;
              push(gw(a0 + 20_000, 'connect', d.ip, s.session, { deviceId: d.id }), e.index);
            }
            for (let t = e.startMs + 25_000; t < a1; t += 5 * MIN) {
              if (t >= a0) push(gw(t, 'attestation_failed', d.ip, s.session, { deviceId: d.id, reason: 'pcr_mismatch', detail: 'PCR 0 (sha256) matches no reference value for firmware 1.4.2' }), e.index);
            }
            break;
          }
          case 'drift':
            // Applied below to the victim's telemetry.
            break;
        }
      }
      // Drift: rewrite the victim's main metric in this chunk.
      for (const e of episodes) {
        if (e.kind !== 'drift' || e.endMs <= c0 || e.startMs >= c1) continue;
        const d = attackDevice.get(e.index);
        if (d === undefined) continue;
        const p = PROFILES[d.type];
        for (let i = 0; i < out.length; i++) {
          const ev = out[i] as SimEvent;
          const sg = ev.signal;
          if (sg.kind === 'telemetry' && sg.device === d.id && sg.metric === p.metric && sg.tsMs >= e.startMs && sg.tsMs < e.endMs) {
            out[i] = { signal: { ...sg, value: sg.value + (3 * p.noise * (sg.tsMs - e.startMs)) / (30 * MIN) }, attack: e.index };
          }
        }
      }
      out.sort((a, b) => a.signal.tsMs - b.signal.tsMs);
      yield out;
    }
  }

  return { devices, inventory, segments: SIM_SEGMENTS, episodes, startMs, endMs, deviceDays, chunks };
}

/** Render flow records as a Zeek conn.log in TSV form, with the standard header. */
export function zeekTsvHeader(openedMs: number): string {
  const d = new Date(openedMs).toISOString().replace('T', '-').slice(0, 19).replace(/:/g, '-');
  return [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    '#path\tconn',
    `#open\t${d}`,
    '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents',
    '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]',
  ].join('\n') + '\n';
}

export function zeekTsvLine(f: FlowRecord): string {
  const u = (v: string): string => (v === '' ? '-' : v);
  return [
    (f.tsMs / 1000).toFixed(6), f.uid, f.origH, f.origP, f.respH, f.respP, f.proto, u(f.service), f.duration.toFixed(6), f.origBytes, f.respBytes,
    f.connState, '-', '-', 0, u(f.history), f.origPkts, f.origBytes + 40 * f.origPkts, f.respPkts, f.respBytes + 40 * f.respPkts, '-',
  ].join('\t');
}
