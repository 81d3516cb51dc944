/**
 * The streaming detector: one `process(signal)` call per record, in event-time order, the same code
 * for offline replay (`runDetect`) and live ingest (`Monitor`). It reads no clock: time is the
 * record's own timestamp.
 *
 * Memory: one fixed-size state per key (device, or host/address when the inventory does not know
 * it) and one per cohort (device type[/model]); the key and cohort maps and each cohort's learnt
 * sets (destinations, topics, segment pairs) are capped, so the whole detector is bounded.
 *
 * INVARIANT: every returned score is in [0, 1] and every alert names its rule, the observed values
 * and the baseline it was compared with.
 */
import { HalfSpaceTrees } from './hst.js';
import { RULE_IDS, RULE_INDEX, RULES, type Alert, type CohortNotice, type DampClass, type FeatureContribution, type RuleId } from './rules.js';
import type { FlowRecord, GatewayRecord, Signal, TelemetryRecord } from './signals.js';
import { DecayingCount, RobustEwma, hash32, hashInt, linearCount, setBit, soften } from './stats.js';

export interface InventoryDevice {
  readonly id: string;
  readonly type: string;
  readonly model?: string;
  readonly segment?: string;
  /** Addresses the device's flows come from (Zeek `id.orig_h`). */
  readonly hosts?: readonly string[];
}

export interface DetectorThresholds {
  /** Refused/unanswered connects in 60 s. */
  refusedPer60s: number;
  /** Short login-service connects (flows), or refused connects / denials (gateway), in 60 s. */
  authFlowsPer60s: number;
  authGatewayPer60s: number;
  /** Decayed connect count (τ = 5 min). */
  flappingConnects: number;
  /** Distinct hosts or ports in 60 s, floor (the cohort's own level is added on top). */
  fanOutPer60s: number;
  /** Connections or messages in 60 s, floor for the rate rule. */
  ratePer60s: number;
  /** Robust z (log scale) above the baseline for the rate rule. */
  rateZ: number;
  /** Bytes in 60 s to destinations the cohort does not use, floor, and multiple of the usual outbound bytes. */
  newDestBytesPer60s: number;
  newDestBytesFactor: number;
  /** Beacon: arrivals needed and the largest coefficient of variation of inter-arrival times. */
  beaconArrivals: number;
  beaconMaxCv: number;
  /** HST anomaly z against the cohort's calibration. */
  hstZ: number;
  /** Telemetry residual |z| for a spike, and CUSUM decision interval for a drift. */
  telemetryZ: number;
  telemetryCusum: number;
  /** Cohort context: damp when at least this share and this many devices show the same class. */
  dampShare: number;
  dampMinDevices: number;
  /** A new destination/topic/segment pair is the cohort's own once this many devices use it. */
  adoptDevices: number;
  /** Gateway throttling (`limit_exceeded` for message, byte or connection rate), decayed count (τ = 60 s). */
  throttledPer60s: number;
}

export const DEFAULT_THRESHOLDS: Readonly<DetectorThresholds> = Object.freeze({
  refusedPer60s: 12,
  authFlowsPer60s: 10,
  authGatewayPer60s: 6,
  flappingConnects: 6,
  fanOutPer60s: 25,
  ratePer60s: 150,
  rateZ: 8,
  newDestBytesPer60s: 2_000_000,
  newDestBytesFactor: 4,
  beaconArrivals: 4,
  beaconMaxCv: 0.08,
  hstZ: 10,
  telemetryZ: 7,
  telemetryCusum: 10,
  dampShare: 0.1,
  dampMinDevices: 3,
  adoptDevices: 3,
  throttledPer60s: 30,
});

export interface DetectorOptions {
  readonly devices?: Iterable<InventoryDevice>;
  /** Address or IPv4 CIDR → segment name. Addresses outside every entry are external. */
  readonly segments?: Readonly<Record<string, string>>;
  /** No alert or notice for the first N records (they still train the baselines). */
  readonly warmupRecords?: number;
  /** A cohort learns its destinations, topics and segment pairs until it has seen this many records … */
  readonly learnRecords?: number;
  /** … and this much event time. */
  readonly learnMs?: number;
  /** The same rule does not fire twice for one key within this time. */
  readonly cooldownMs?: number;
  readonly maxKeys?: number;
  readonly maxCohorts?: number;
  readonly thresholds?: Partial<DetectorThresholds>;
  readonly seed?: number;
}

export interface Verdict {
  readonly key: string;
  readonly score: number;
  readonly alert?: Alert;
  readonly notice?: CohortNotice;
}

export interface DetectorStats {
  records: number;
  keys: number;
  cohorts: number;
  alerts: number;
  notices: number;
  damped: number;
  evictedKeys: number;
}

// --- constants -------------------------------------------------------------------------------

const BUCKET_MS = 10_000;
const RING = 6; // 6 × 10 s = the 60 s sliding window
const HOST_WORDS = 4; // 128-bit linear counters per bucket
const CTX_WORDS = 32; // 1024-bit device bitmaps for cohort context
const CTX_BUCKET_MS = 120_000;
/** The damp classes plus 'churn' (devices that disconnected or connected): a reboot storm shows up there first. */
type ContextClass = DampClass | 'churn';
const DAMP_CLASSES: readonly ContextClass[] = ['failures', 'flapping', 'rate', 'model', 'telemetry', 'adoption', 'churn'];
const DAMP_INDEX: Readonly<Record<ContextClass, number>> = { failures: 0, flapping: 1, rate: 2, model: 3, telemetry: 4, adoption: 5, churn: 6 };
const NOTICE_COOLDOWN_MS = 60 * 60_000;
// A cohort's destinations: sensors reporting to their site gateways alone can be thousands (at
// 100,000 devices, 5,000 gateways); a cap below that evicts learnt destinations, which then come
// back as "never used" once learning ends (beacon and new-destination false alarms). ~200 B each.
const MAX_DESTS = 65_536;
const MAX_TOPICS = 1024;
const MAX_PAIRS = 256;
const MAX_METRICS_PER_KEY = 16;
const MAX_METRICS_PER_COHORT = 64;
const FAILED_STATES = new Set(['REJ', 'S0', 'RSTOS0', 'SH', 'SHR', 'RSTRH']);
const LOGIN_PORTS = new Set([21, 22, 23, 2323, 3389, 5900]);
const LOGIN_SERVICES = new Set(['ssh', 'telnet', 'ftp', 'rdp', 'vnc']);

const FLOW_FEATURES = ['connections', 'failedShare', 'distinctHosts', 'distinctPorts', 'bytesOut', 'bytesIn', 'newDestinationShare', 'crossSegment'] as const;
const GW_FEATURES = ['messages', 'denied', 'connects', 'disconnects', 'bytes', 'distinctTopics'] as const;
const LN = (x: number, cap: number): number => Math.min(1, Math.log1p(Math.max(0, x)) / Math.log1p(cap));

// --- cohort state ----------------------------------------------------------------------------

/** How many distinct devices did something (a destination, topic, segment pair). */
class Subject {
  readonly bits = new Uint32Array(HOST_WORDS);
  lastMs: number;
  adopted: boolean;
  constructor(
    readonly firstMs: number,
    learnt: boolean,
  ) {
    this.lastMs = firstMs;
    this.adopted = learnt;
  }
  devices(): number {
    return Math.round(linearCount(this.bits, 0, HOST_WORDS));
  }
}

class SubjectSet {
  readonly map = new Map<string, Subject>();
  constructor(readonly cap: number) {}
  /** Record that the device with hash `h` used `name`; returns the subject. */
  touch(name: string, h: number, tsMs: number, learning: boolean, adoptDevices: number): Subject {
    let s = this.map.get(name);
    if (s === undefined) {
      if (this.map.size >= this.cap) this.#evict();
      s = new Subject(tsMs, learning);
      this.map.set(name, s);
    }
    s.lastMs = tsMs;
    if (setBit(s.bits, 0, HOST_WORDS, h) && !s.adopted) {
      if (learning || s.devices() >= adoptDevices) s.adopted = true;
    }
    return s;
  }
  #evict(): void {
    // Drop the least recently used tenth; amortised O(1) per insertion.
    const times = [...this.map.values()].map((s) => s.lastMs).sort((a, b) => a - b);
    const cut = times[Math.floor(times.length / 10)] ?? Infinity;
    for (const [k, s] of this.map) if (s.lastMs <= cut) this.map.delete(k);
  }
}

/** Which devices of a cohort were active / showed each class, in the current and previous two-minute bucket. */
class CohortContext {
  readonly #bucket = new Float64Array([-1, -1]);
  readonly #active = new Uint32Array(2 * CTX_WORDS);
  readonly #elevated = new Uint32Array(DAMP_CLASSES.length * 2 * CTX_WORDS);

  #slot(tsMs: number): number {
    const b = Math.floor(tsMs / CTX_BUCKET_MS);
    const s = b & 1;
    const cur = this.#bucket[s] ?? -1;
    if (cur === b) return s;
    if (cur > b) return -1; // late record for a bucket already reused
    this.#bucket[s] = b;
    this.#active.fill(0, s * CTX_WORDS, (s + 1) * CTX_WORDS);
    for (let c = 0; c < DAMP_CLASSES.length; c++) {
      const o = (c * 2 + s) * CTX_WORDS;
      this.#elevated.fill(0, o, o + CTX_WORDS);
    }
    return s;
  }

  markActive(tsMs: number, h: number): void {
    const s = this.#slot(tsMs);
    if (s >= 0) setBit(this.#active, s * CTX_WORDS, CTX_WORDS, h);
  }

  markElevated(tsMs: number, cls: ContextClass, h: number): void {
    const s = this.#slot(tsMs);
    if (s >= 0) setBit(this.#elevated, (DAMP_INDEX[cls] * 2 + s) * CTX_WORDS, CTX_WORDS, h);
  }

  /** Share of the cohort's active devices (last two minutes) that showed `cls`, and their number. */
  share(tsMs: number, cls: ContextClass): { share: number; devices: number } {
    const b = Math.floor(tsMs / CTX_BUCKET_MS);
    const u = new Uint32Array(CTX_WORDS);
    const a = new Uint32Array(CTX_WORDS);
    for (let s = 0; s < 2; s++) {
      const sb = this.#bucket[s] ?? -1;
      if (sb < b - 1 || sb > b) continue;
      const eo = (DAMP_INDEX[cls] * 2 + s) * CTX_WORDS;
      for (let w = 0; w < CTX_WORDS; w++) {
        u[w] = (u[w] ?? 0) | (this.#elevated[eo + w] ?? 0);
        a[w] = (a[w] ?? 0) | (this.#active[s * CTX_WORDS + w] ?? 0) | (this.#elevated[eo + w] ?? 0);
      }
    }
    const devices = linearCount(u, 0, CTX_WORDS);
    const active = linearCount(a, 0, CTX_WORDS);
    return { share: active > 0 ? devices / active : 0, devices: Math.round(devices) };
  }
}

interface ModelState {
  windows: number;
  stride: number;
  strideEvery: number;
  lastSwapMs: number;
  readonly hst: HalfSpaceTrees;
  readonly cal: RobustEwma;
  readonly feat: RobustEwma[];
}

class Cohort {
  records = 0;
  firstMs = -1;
  lastMs = 0;
  forcedMature = false;
  keys = 0;
  readonly ctx = new CohortContext();
  readonly dests = new SubjectSet(MAX_DESTS);
  readonly topics = new SubjectSet(MAX_TOPICS);
  readonly pairs = new SubjectSet(MAX_PAIRS);
  flowModel: ModelState | undefined;
  gwModel: ModelState | undefined;
  /** Per-60 s rates of a typical device of the cohort (log scale), distinct hosts/ports per 60 s. */
  readonly conns60 = new RobustEwma(0.01, 0.25);
  readonly bytes60 = new RobustEwma(0.01, 0.5);
  readonly hosts60 = new RobustEwma(0.01, 1);
  readonly ports60 = new RobustEwma(0.01, 1);
  readonly msgs60 = new RobustEwma(0.01, 0.25);
  readonly metrics = new Map<string, { level: RobustEwma; spread: RobustEwma }>();
  lastNoticeMs = -Infinity;
  constructor(readonly name: string) {}
}

// --- key state -------------------------------------------------------------------------------

class BeaconSlot {
  dest = '';
  lastMs = 0;
  arrivals = 0;
  mean = 0;
  m2 = 0;
}

class FlowState {
  bucket = -1;
  sinceScore = 0;
  /** Per 10 s bucket: conns, fails, login, bytesOut, bytesIn, newDest, newDestBytes, cross. */
  readonly c = new Float64Array(RING * 8);
  readonly hosts = new Uint32Array(RING * HOST_WORDS);
  readonly ports = new Uint32Array(RING * HOST_WORDS);
  readonly conns60 = new RobustEwma(0.02, 0.25);
  readonly bytes60 = new RobustEwma(0.02, 0.5);
  readonly beacons: BeaconSlot[] = [new BeaconSlot(), new BeaconSlot(), new BeaconSlot(), new BeaconSlot()];
}

class GatewayState {
  bucket = -1;
  sinceScore = 0;
  /** Per 10 s bucket: messages, denied, connects, disconnects, bytes. */
  readonly c = new Float64Array(RING * 5);
  readonly topics = new Uint32Array(RING * HOST_WORDS);
  readonly msgs60 = new RobustEwma(0.02, 0.25);
  readonly connects = new DecayingCount(300_000);
  readonly throttled = new DecayingCount(60_000);
  openSession = -1;
  openAddress = '';
  otherAddress = '';
  otherAddressMs = -Infinity;
}

class MetricState {
  readonly self = new RobustEwma(0.05, 1e-6);
  readonly offset = new RobustEwma(0.005, 1e-6);
  pos = 0;
  neg = 0;
}

interface Pending {
  readonly alert: Alert;
  /** Cohort context when the alert was raised: the larger of this and the context at release counts. */
  readonly shareAtRaise: { share: number; devices: number };
  readonly releaseAtMs: number;
  readonly subject: Subject | undefined;
}

class KeyState {
  lastMs = 0;
  records = 0;
  modelScore = 0;
  modelScoreMs = 0;
  readonly lastAlert = new Float64Array(RULE_IDS.length).fill(-Infinity);
  pending: Pending | undefined;
  lastPairSeg = '';
  lastPairName = '';
  lastTopic = '';
  lastPattern = '';
  windowsClosed = 0;
  flow: FlowState | undefined;
  gw: GatewayState | undefined;
  metrics: Map<string, MetricState> | undefined;
  constructor(
    readonly key: string,
    readonly h: number,
    readonly cohort: Cohort,
    readonly segment: string | undefined,
  ) {}
}

// --- helpers ---------------------------------------------------------------------------------

function ipv4ToInt(s: string): number | undefined {
  const p = s.split('.');
  if (p.length !== 4) return undefined;
  let v = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return undefined;
    const n = Number(x);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** `::ffff:10.0.0.1` → `10.0.0.1` (Node reports IPv4-mapped addresses on dual-stack sockets). */
function normaliseAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Cohort for a key the inventory does not know: IPv4 /24, else the id's alphabetic prefix. */
export function defaultCohortOf(key: string): string {
  const m = /^(\d+\.\d+\.\d+)\.\d+$/.exec(key);
  if (m) return `net:${m[1]}.0/24`;
  const p = /^[A-Za-z]+/.exec(key);
  return p ? `id:${p[0].toLowerCase()}` : 'default';
}

/** Fold a topic into a pattern: the device's own id → `{id}`, numbers → `{n}`, long hex → `{x}`. */
export function topicPattern(topic: string, deviceId: string | undefined): string {
  const parts = topic.split('/', 12);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? '';
    if (deviceId !== undefined && p === deviceId) parts[i] = '{id}';
    else if (/^\d+$/.test(p)) parts[i] = '{n}';
    else if (p.length >= 12 && /^[0-9a-fA-F-]+$/.test(p)) parts[i] = '{x}';
  }
  return parts.join('/').slice(0, 256);
}

/**
 * Can a reboot storm (many devices of the cohort reconnecting at once) explain this alert? Not a
 * device asking for topics its policy denies, nor one the gateway keeps throttling: rebooting does
 * neither, so a fleet that has just (re)connected must not hide them.
 */
function churnExplains(a: Alert): boolean {
  if (a.rule === 'auth-failure-burst') return a.observed['lastEvent'] !== 'publish_denied' && a.observed['lastEvent'] !== 'subscribe_denied';
  if (a.rule === 'rate-spike') return a.observed['throttledPer60s'] === undefined;
  return true;
}

function round(x: number, d = 2): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

// --- the detector ----------------------------------------------------------------------------

export class Detector {
  readonly thresholds: Readonly<DetectorThresholds>;
  readonly #keys = new Map<string, KeyState>();
  readonly #cohorts = new Map<string, Cohort>();
  readonly #deviceById = new Map<string, InventoryDevice>();
  readonly #deviceByHost = new Map<string, InventoryDevice>();
  readonly #cidrs: { net: number; mask: number; segment: string }[] = [];
  readonly #exactSegments = new Map<string, string>();
  readonly #segCache = new Map<string, string | null>();
  readonly #warmup: number;
  readonly #learnRecords: number;
  readonly #learnMs: number;
  readonly #cooldownMs: number;
  readonly #maxKeys: number;
  readonly #maxCohorts: number;
  readonly #seed: number;
  readonly #x = new Float64Array(FLOW_FEATURES.length);
  readonly #xg = new Float64Array(GW_FEATURES.length);
  readonly #pendingKeys: KeyState[] = [];
  readonly #stats: DetectorStats = { records: 0, keys: 0, cohorts: 0, alerts: 0, notices: 0, damped: 0, evictedKeys: 0 };
  /** The alert or notice produced by the current record (at most one of each). */
  #outAlert: Alert | undefined;
  #outNotice: CohortNotice | undefined;

  constructor(o: DetectorOptions = {}) {
    this.thresholds = Object.freeze({ ...DEFAULT_THRESHOLDS, ...(o.thresholds ?? {}) });
    this.#warmup = o.warmupRecords ?? 0;
    this.#learnRecords = o.learnRecords ?? 1000;
    this.#learnMs = o.learnMs ?? 60 * 60_000;
    this.#cooldownMs = o.cooldownMs ?? 15 * 60_000;
    this.#maxKeys = o.maxKeys ?? 250_000;
    this.#maxCohorts = o.maxCohorts ?? 4096;
    this.#seed = o.seed ?? 0x2e7a;
    for (const d of o.devices ?? []) {
      this.#deviceById.set(d.id, d);
      for (const h of d.hosts ?? []) this.#deviceByHost.set(h, d);
    }
    for (const [k, seg] of Object.entries(o.segments ?? {})) {
      const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(k);
      const net = m ? ipv4ToInt(m[1] ?? '') : undefined;
      const bits = m ? Number(m[2]) : NaN;
      if (net !== undefined && bits >= 0 && bits <= 32) {
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        this.#cidrs.push({ net: (net & mask) >>> 0, mask, segment: seg });
      } else {
        this.#exactSegments.set(k, seg);
      }
    }
    // Longest prefix first.
    this.#cidrs.sort((a, b) => b.mask - a.mask);
  }

  get stats(): Readonly<DetectorStats> {
    return { ...this.#stats, keys: this.#keys.size, cohorts: this.#cohorts.size };
  }

  /** Score one record. Records should arrive in event-time order; small disorder is tolerated. */
  process(s: Signal): Verdict {
    this.#stats.records++;
    if (this.#stats.records === this.#warmup + 1 && this.#warmup > 0) for (const c of this.#cohorts.values()) c.forcedMature = true;
    if ((this.#stats.records & 0xffff) === 0 && this.#keys.size > this.#maxKeys) this.#evictKeys();
    this.#outAlert = undefined;
    this.#outNotice = undefined;
    let ks: KeyState;
    let score: number;
    switch (s.kind) {
      case 'flow':
        ks = this.#keyFor(this.#flowKey(s.origH));
        score = this.#flow(ks, s);
        break;
      case 'gateway': {
        const ev = s.event;
        ks = this.#keyFor(ev.deviceId ?? this.#flowKey(ev.clientAddress));
        score = this.#gateway(ks, s);
        break;
      }
      case 'telemetry':
        ks = this.#keyFor(s.device);
        score = this.#telemetry(ks, s);
        break;
    }
    if (this.#pendingKeys.length > 0) this.#releaseDue(s.tsMs, 1);
    // (read through locals: the private fields were set by the calls above)
    const alert = this.#outAlert as Alert | undefined;
    const notice = this.#outNotice as CohortNotice | undefined;
    if (alert !== undefined && alert.score > score) score = alert.score;
    score = !(score >= 0) ? 0 : score > 1 ? 1 : score;
    const v: { key: string; score: number; alert?: Alert; notice?: CohortNotice } = { key: ks.key, score };
    if (alert !== undefined) v.alert = alert;
    if (notice !== undefined) v.notice = notice;
    return v;
  }

  /**
   * Release every held alert whose hold has passed at event time `nowMs` (live ingest calls this
   * when a key may have gone quiet). Returns what was released.
   */
  flush(nowMs: number): { alerts: Alert[]; notices: CohortNotice[] } {
    const out = { alerts: [] as Alert[], notices: [] as CohortNotice[] };
    while (this.#pendingKeys.length > 0) {
      this.#outAlert = undefined;
      this.#outNotice = undefined;
      const before = this.#pendingKeys.length;
      this.#releaseDue(nowMs, 1);
      const a = this.#outAlert as Alert | undefined;
      const n = this.#outNotice as CohortNotice | undefined;
      if (a !== undefined) out.alerts.push(a);
      if (n !== undefined) out.notices.push(n);
      if (this.#pendingKeys.length === before) break;
    }
    this.#outAlert = undefined;
    this.#outNotice = undefined;
    return out;
  }

  /** Alerts still held for cohort context (they are released by later records or `flush`). */
  get pending(): number {
    return this.#pendingKeys.length;
  }

  /** Release due held alerts, at most `maxAlerts` of them onto the current record. */
  #releaseDue(nowMs: number, maxAlerts: number): void {
    let released = 0;
    for (let i = 0; i < this.#pendingKeys.length && released < maxAlerts; ) {
      const ks = this.#pendingKeys[i] as KeyState;
      const p = ks.pending;
      if (p === undefined || nowMs >= p.releaseAtMs) {
        this.#pendingKeys.splice(i, 1);
        if (p !== undefined && this.#release(ks, nowMs)) released++;
        if (this.#outAlert !== undefined && released === 0) released++;
        continue;
      }
      i++;
    }
  }

  /** The recent behaviour scores of a key for `trustScore` (latest model score, alerts raised). */
  keyScore(key: string): { score: number; atMs: number } | undefined {
    const ks = this.#keys.get(key);
    return ks === undefined ? undefined : { score: ks.modelScore, atMs: ks.modelScoreMs };
  }

  // --- keys and cohorts ----------------------------------------------------------------------

  #flowKey(addr: string): string {
    const a = normaliseAddress(addr);
    return this.#deviceByHost.get(a)?.id ?? a;
  }

  #keyFor(key: string): KeyState {
    let ks = this.#keys.get(key);
    if (ks !== undefined) return ks;
    const d = this.#deviceById.get(key);
    const cohortName = d !== undefined ? (d.model !== undefined ? `${d.type}/${d.model}` : d.type) : defaultCohortOf(key);
    let c = this.#cohorts.get(cohortName);
    if (c === undefined) {
      if (this.#cohorts.size >= this.#maxCohorts) c = this.#cohortFor('overflow');
      else c = this.#cohortFor(cohortName);
    }
    c.keys++;
    const seg = d?.segment ?? this.#segmentOf(d?.hosts?.[0] ?? key);
    ks = new KeyState(key, hash32(key), c, seg);
    this.#keys.set(key, ks);
    return ks;
  }

  #cohortFor(name: string): Cohort {
    let c = this.#cohorts.get(name);
    if (c === undefined) {
      c = new Cohort(name);
      if (this.#warmup > 0 && this.#stats.records > this.#warmup) c.forcedMature = true;
      this.#cohorts.set(name, c);
    }
    return c;
  }

  #evictKeys(): void {
    const target = Math.floor(this.#maxKeys * 0.9);
    const times = [...this.#keys.values()].map((k) => k.lastMs).sort((a, b) => a - b);
    const cut = times[this.#keys.size - target] ?? Infinity;
    for (const [k, ks] of this.#keys) {
      if (this.#keys.size <= target) break;
      if (ks.lastMs <= cut) {
        this.#keys.delete(k);
        ks.cohort.keys--;
        this.#stats.evictedKeys++;
      }
    }
  }

  #segmentOf(addr: string): string | undefined {
    const cached = this.#segCache.get(addr);
    if (cached !== undefined) return cached ?? undefined;
    let seg: string | null = this.#exactSegments.get(addr) ?? null;
    if (seg === null && this.#cidrs.length > 0) {
      const ip = ipv4ToInt(addr);
      if (ip !== undefined) {
        for (const c of this.#cidrs) {
          if (((ip & c.mask) >>> 0) === c.net) {
            seg = c.segment;
            break;
          }
        }
      }
    }
    if (this.#segCache.size >= 65_536) this.#segCache.clear();
    this.#segCache.set(addr, seg);
    return seg ?? undefined;
  }

  #mature(c: Cohort): boolean {
    return c.forcedMature || (c.records >= this.#learnRecords && c.lastMs - c.firstMs >= this.#learnMs);
  }

  #touchCohort(ks: KeyState, tsMs: number): Cohort {
    const c = ks.cohort;
    if (c.firstMs < 0) c.firstMs = tsMs;
    if (tsMs > c.lastMs) c.lastMs = tsMs;
    c.records++;
    c.ctx.markActive(tsMs, ks.h);
    ks.records++;
    if (tsMs > ks.lastMs) ks.lastMs = tsMs;
    return c;
  }

  // --- alerts, hold and cohort damping -------------------------------------------------------

  #raise(ks: KeyState, rule: RuleId, tsMs: number, score: number, summary: string, observed: Record<string, number | string>, baseline: Record<string, number | string>, features?: FeatureContribution[], subject?: Subject): void {
    if (this.#stats.records <= this.#warmup) return;
    const idx = RULE_INDEX[rule];
    if (tsMs - (ks.lastAlert[idx] ?? -Infinity) < this.#cooldownMs) return;
    const spec = RULES[rule];
    if (spec.holdMs > 0 && ks.pending !== undefined) return; // one held alert per key; this one re-fires later
    ks.lastAlert[idx] = tsMs;
    const alert: Alert = {
      level: 'device',
      id: `${ks.key}/${rule}/${tsMs}`,
      at: new Date(tsMs).toISOString(),
      atMs: tsMs,
      key: ks.key,
      cohort: ks.cohort.name,
      rule,
      family: spec.family,
      severity: spec.severity,
      score: round(Math.max(0.5, Math.min(1, score)), 4),
      summary,
      observed,
      baseline,
      ...(features !== undefined ? { features } : {}),
    };
    // A cohort too small to ever reach the damping quorum gains nothing from waiting.
    if (spec.holdMs === 0 || (spec.damp !== 'adoption' && ks.cohort.keys < this.thresholds.dampMinDevices)) {
      this.#emit(alert);
      return;
    }
    this.#pendingKeys.push(ks);
    ks.pending = { alert, releaseAtMs: tsMs + spec.holdMs, subject, shareAtRaise: spec.damp === null || spec.damp === 'adoption' ? { share: 0, devices: 0 } : this.#contextShare(ks.cohort, tsMs, spec.damp, churnExplains(alert)) };
  }

  #emit(a: Alert): void {
    if (this.#outAlert === undefined || a.score > this.#outAlert.score) this.#outAlert = a;
    this.#stats.alerts++;
  }

  #contextShare(c: Cohort, tsMs: number, cls: DampClass, churnExplains = true): { share: number; devices: number } {
    const same = c.ctx.share(tsMs, cls);
    if (cls === 'flapping' || !churnExplains || same.share >= this.thresholds.dampShare) return same;
    // A reboot storm: many devices of the cohort reconnected at once; their transients are benign.
    const churn = c.ctx.share(tsMs, 'churn');
    return churn.share > same.share ? churn : same;
  }

  /** Release a held alert: raise it (returns true), or damp it into a cohort notice. */
  #release(ks: KeyState, tsMs: number): boolean {
    const p = ks.pending;
    if (p === undefined) return false;
    ks.pending = undefined;
    const spec = RULES[p.alert.rule];
    const c = ks.cohort;
    let damp = false;
    let share = 0;
    let devices = 0;
    if (spec.damp === 'adoption') {
      devices = p.subject?.devices() ?? 0;
      damp = p.subject?.adopted === true;
      share = c.keys > 0 ? Math.min(1, devices / c.keys) : 0;
    } else if (spec.damp !== null) {
      ({ share, devices } = this.#contextShare(c, tsMs, spec.damp, churnExplains(p.alert)));
      if (p.shareAtRaise.share > share) ({ share, devices } = p.shareAtRaise);
      damp = share >= this.thresholds.dampShare && devices >= this.thresholds.dampMinDevices;
    }
    if (!damp) {
      this.#emit({ ...p.alert, cohortShare: round(share, 3) });
      return true;
    }
    this.#stats.damped++;
    if (spec.damp === null || tsMs - c.lastNoticeMs < NOTICE_COOLDOWN_MS || this.#outNotice !== undefined) return false;
    c.lastNoticeMs = tsMs;
    this.#stats.notices++;
    this.#outNotice = {
      level: 'cohort',
      id: `${c.name}/${spec.damp}/${tsMs}`,
      at: new Date(tsMs).toISOString(),
      atMs: tsMs,
      cohort: c.name,
      reason: spec.damp,
      rule: p.alert.rule,
      share: round(share, 3),
      devices,
      summary:
        spec.damp === 'adoption'
          ? `${devices} devices of cohort ${c.name} took up the same new ${p.alert.rule === 'new-topic' ? 'topic' : 'destination'} (${String(p.alert.observed['topic'] ?? p.alert.observed['destination'] ?? '')}); per-device ${p.alert.rule} alerts damped (roll-out?)`
          : `${Math.round(share * 100)} % of active ${c.name} devices (${devices}) show ${spec.damp} anomalies at once; per-device ${p.alert.rule} alerts damped (outage, roll-out or reboot storm?)`,
    };
    return false;
  }

  // --- flows ---------------------------------------------------------------------------------

  #rollFlow(ks: KeyState, f: FlowState, c: Cohort, tsMs: number): number {
    const b = Math.floor(tsMs / BUCKET_MS);
    if (f.bucket < 0) {
      f.bucket = b;
    } else if (b > f.bucket) {
      this.#closeFlowWindow(ks, f, c, f.bucket, true);
      // Sliding 60 s totals feed the rate baselines once per closed window.
      const n = Math.min(RING, b - f.bucket);
      for (let i = 1; i <= n; i++) {
        const s = (f.bucket + i) % RING;
        f.c.fill(0, s * 8, s * 8 + 8);
        f.hosts.fill(0, s * HOST_WORDS, (s + 1) * HOST_WORDS);
        f.ports.fill(0, s * HOST_WORDS, (s + 1) * HOST_WORDS);
      }
      f.bucket = b;
      f.sinceScore = 0;
    }
    return f.bucket % RING;
  }

  #flowFeatures(f: FlowState, slot: number): Float64Array {
    const x = this.#x;
    const o = slot * 8;
    const conns = f.c[o] ?? 0;
    x[0] = LN(conns, 5000);
    x[1] = conns > 0 ? (f.c[o + 1] ?? 0) / conns : 0;
    x[2] = LN(linearCount(f.hosts, slot * HOST_WORDS, HOST_WORDS), 500);
    x[3] = LN(linearCount(f.ports, slot * HOST_WORDS, HOST_WORDS), 500);
    x[4] = LN(f.c[o + 3] ?? 0, 1e10);
    x[5] = LN(f.c[o + 4] ?? 0, 1e10);
    x[6] = conns > 0 ? (f.c[o + 5] ?? 0) / conns : 0;
    x[7] = LN(f.c[o + 7] ?? 0, 1000);
    return x;
  }

  #model(c: Cohort, kind: 'flow' | 'gw'): ModelState {
    const existing = kind === 'flow' ? c.flowModel : c.gwModel;
    if (existing !== undefined) return existing;
    const dims = kind === 'flow' ? FLOW_FEATURES.length : GW_FEATURES.length;
    const m: ModelState = {
      windows: 0,
      stride: 0,
      strideEvery: 1,
      lastSwapMs: 0,
      hst: new HalfSpaceTrees({ dims, trees: 16, depth: 8, windowSize: 512, seed: this.#seed ^ hash32(c.name + kind) }),
      cal: new RobustEwma(0.005, 0.05),
      feat: Array.from({ length: dims }, () => new RobustEwma(0.005, 0.02)),
    };
    if (kind === 'flow') c.flowModel = m;
    else c.gwModel = m;
    return m;
  }

  /** Score (and, for a closed window, learn) one window's feature vector with the cohort's HST. */
  #scoreWindow(ks: KeyState, c: Cohort, kind: 'flow' | 'gw', x: Float64Array, closed: boolean, tsMs: number, activity: number): void {
    const m = this.#model(c, kind);
    const dims = m.feat.length;
    let z = 0;
    if (m.hst.windows > 0) {
      const mass = m.hst.cachedMass(x);
      z = m.cal.n > 50 ? (m.cal.level - mass) / (1.25 * m.cal.effectiveScale()) : 0;
      if (closed && z < 4) m.cal.update(mass);
      const a = soften(Math.max(0, z) / this.thresholds.hstZ);
      if (closed || a > ks.modelScore) {
        ks.modelScore = a;
        ks.modelScoreMs = tsMs;
      }
      if (z >= this.thresholds.hstZ && activity >= 5 && this.#mature(c)) {
        if (a >= 0.5) c.ctx.markElevated(tsMs, 'model', ks.h);
        const names = kind === 'flow' ? FLOW_FEATURES : GW_FEATURES;
        const features: FeatureContribution[] = [];
        for (let i = 0; i < dims; i++) {
          const fs = m.feat[i];
          if (fs === undefined) continue;
          features.push({ name: names[i] ?? `f${i}`, observed: round(x[i] ?? 0, 4), baseline: round(fs.level, 4), z: round(fs.z(x[i] ?? 0), 2) });
        }
        features.sort((p, q) => Math.abs(q.z) - Math.abs(p.z));
        const top = features.slice(0, 3);
        this.#raise(ks, 'hst', tsMs, a, `unusual ${kind === 'flow' ? 'traffic' : 'messaging'} mix for a ${c.name} device: ${top.map((t) => `${t.name} ${t.observed} vs ${t.baseline}`).join(', ')} (normalised)`, { anomalyZ: round(z), mass: round(mass, 3) }, { massLevel: round(m.cal.level, 3), massScale: round(m.cal.effectiveScale(), 3) }, top);
      } else if (z >= this.thresholds.hstZ / 2) {
        c.ctx.markElevated(tsMs, 'model', ks.h);
      }
    }
    if (closed && ++m.stride >= m.strideEvery) {
      // Learn every strideEvery-th window so one reference window spans 10-30 min of the cohort,
      // however many devices it has (a 30 s snapshot would not be a baseline).
      m.stride = 0;
      const before = m.hst.windows;
      m.hst.learn(x);
      if (m.hst.windows !== before) {
        const took = tsMs - m.lastSwapMs;
        if (m.lastSwapMs > 0 && took < 10 * 60_000 && m.strideEvery < 256) m.strideEvery *= 2;
        else if (m.lastSwapMs > 0 && took > 30 * 60_000 && m.strideEvery > 1) m.strideEvery /= 2;
        m.lastSwapMs = tsMs;
      }
      // Feature baselines only explain alerts: a sample of the windows is enough.
      if ((++m.windows & 3) === 0) for (let i = 0; i < dims; i++) m.feat[i]?.update(x[i] ?? 0);
    }
  }

  #closeFlowWindow(ks: KeyState, f: FlowState, c: Cohort, bucket: number, closed: boolean): void {
    const slot = bucket % RING;
    const x = this.#flowFeatures(f, slot);
    this.#scoreWindow(ks, c, 'flow', x, closed, (bucket + 1) * BUCKET_MS - 1, f.c[slot * 8] ?? 0);
    if (!closed) return;
    // Sliding 60 s totals → device and cohort rate baselines.
    let conns = 0;
    let bytes = 0;
    for (let s = 0; s < RING; s++) {
      conns += f.c[s * 8] ?? 0;
      bytes += f.c[s * 8 + 3] ?? 0;
    }
    const lc = Math.log1p(conns);
    const lb = Math.log1p(bytes);
    if (f.conns60.n < 30 || f.conns60.z(lc) < this.thresholds.rateZ) f.conns60.update(lc);
    if (f.bytes60.n < 30 || f.bytes60.z(lb) < this.thresholds.rateZ) f.bytes60.update(lb);
    if (c.conns60.z(lc) < this.thresholds.rateZ || c.conns60.n < 100) c.conns60.update(lc);
    if (c.bytes60.z(lb) < this.thresholds.rateZ || c.bytes60.n < 100) c.bytes60.update(lb);
    // The cohort's fan-out baseline is sampled (every 4th window per key): a baseline needs no census.
    if ((++ks.windowsClosed & 3) !== 0) return;
    const hosts = this.#union(f.hosts);
    const ports = this.#union(f.ports);
    if (c.hosts60.n < 100 || c.hosts60.z(hosts) < 6) c.hosts60.update(hosts);
    if (c.ports60.n < 100 || c.ports60.z(ports) < 6) c.ports60.update(ports);
  }

  readonly #u = new Uint32Array(HOST_WORDS);
  #union(bits: Uint32Array): number {
    const u = this.#u;
    u.fill(0);
    for (let s = 0; s < RING; s++) for (let w = 0; w < HOST_WORDS; w++) u[w] = (u[w] ?? 0) | (bits[s * HOST_WORDS + w] ?? 0);
    return linearCount(u, 0, HOST_WORDS);
  }

  #sum(arr: Float64Array, stride: number, field: number): number {
    let t = 0;
    for (let s = 0; s < RING; s++) t += arr[s * stride + field] ?? 0;
    return t;
  }

  #flow(ks: KeyState, r: FlowRecord): number {
    const c = this.#touchCohort(ks, r.tsMs);
    const f = (ks.flow ??= new FlowState());
    const slot = this.#rollFlow(ks, f, c, r.tsMs);
    const o = slot * 8;
    const t = this.thresholds;
    const learning = !this.#mature(c);
    const failed = FAILED_STATES.has(r.connState);
    const login = (LOGIN_PORTS.has(r.respP) || LOGIN_SERVICES.has(r.service)) && (r.duration < 5 || failed);
    const subj = c.dests.touch(r.respH, ks.h, r.tsMs, learning, t.adoptDevices);
    const newDest = !subj.adopted;
    f.c[o] = (f.c[o] ?? 0) + 1;
    if (failed) f.c[o + 1] = (f.c[o + 1] ?? 0) + 1;
    if (login) f.c[o + 2] = (f.c[o + 2] ?? 0) + 1;
    f.c[o + 3] = (f.c[o + 3] ?? 0) + r.origBytes;
    f.c[o + 4] = (f.c[o + 4] ?? 0) + r.respBytes;
    if (newDest) {
      f.c[o + 5] = (f.c[o + 5] ?? 0) + 1;
      f.c[o + 6] = (f.c[o + 6] ?? 0) + r.origBytes;
    }
    const hh = hash32(r.respH);
    const newHost = setBit(f.hosts, slot * HOST_WORDS, HOST_WORDS, hh);
    const newPort = setBit(f.ports, slot * HOST_WORDS, HOST_WORDS, hashInt(r.respP));
    let score = 0;

    // Rule: refused / unanswered connection burst.
    const conns60 = this.#sum(f.c, 8, 0);
    if (failed) {
      const fails60 = this.#sum(f.c, 8, 1);
      const s = fails60 >= conns60 * 0.5 ? soften(fails60 / t.refusedPer60s) : 0;
      score = Math.max(score, s * 0.9);
      if (s >= 0.25) c.ctx.markElevated(r.tsMs, 'failures', ks.h);
      if (s >= 0.5) this.#raise(ks, 'refused-connect-burst', r.tsMs, s, `${fails60} refused or unanswered connections in 60 s (${Math.round((100 * fails60) / conns60)} % of ${conns60})`, { failedPer60s: fails60, connectionsPer60s: conns60, lastState: r.connState, lastDestination: `${r.respH}:${r.respP}` }, { thresholdPer60s: t.refusedPer60s });
    }
    // Rule: login-service burst (brute force).
    if (login) {
      const login60 = this.#sum(f.c, 8, 2);
      const s = soften(login60 / t.authFlowsPer60s);
      score = Math.max(score, s);
      if (s >= 0.5) this.#raise(ks, 'auth-failure-burst', r.tsMs, s, `${login60} short login-service connections in 60 s (last ${r.respH}:${r.respP}${r.service ? ` ${r.service}` : ''})`, { loginConnectionsPer60s: login60, lastTarget: `${r.respH}:${r.respP}` }, { thresholdPer60s: t.authFlowsPer60s });
    }
    // Rule: fan-out to many hosts / ports (scanning).
    if (newHost || newPort) {
      const hosts = newHost ? this.#union(f.hosts) : 0;
      const ports = newPort ? this.#union(f.ports) : 0;
      const thrH = Math.max(t.fanOutPer60s, c.hosts60.level + 10 * 1.25 * c.hosts60.effectiveScale());
      const thrP = Math.max(t.fanOutPer60s, c.ports60.level + 10 * 1.25 * c.ports60.effectiveScale());
      const sh = soften(hosts / thrH);
      const sp = soften(ports / thrP);
      score = Math.max(score, sh, sp);
      if (sh >= 0.5) this.#raise(ks, 'fan-out-hosts', r.tsMs, sh, `connections to ~${Math.round(hosts)} distinct hosts in 60 s; ${c.name} devices usually reach ~${round(c.hosts60.level, 1)}`, { distinctHostsPer60s: Math.round(hosts), lastDestination: `${r.respH}:${r.respP}`, lastState: r.connState }, { cohortLevel: round(c.hosts60.level, 2), threshold: round(thrH, 1) });
      if (sp >= 0.5) this.#raise(ks, 'fan-out-ports', r.tsMs, sp, `connections to ~${Math.round(ports)} distinct ports in 60 s; ${c.name} devices usually use ~${round(c.ports60.level, 1)}`, { distinctPortsPer60s: Math.round(ports), lastDestination: `${r.respH}:${r.respP}` }, { cohortLevel: round(c.ports60.level, 2), threshold: round(thrP, 1) });
    }
    // Rule: toward another internal segment.
    const dstSeg = this.#segmentOf(r.respH);
    // A path the cohort already uses inside the organisation (own segment, or an adopted pair).
    let knownPath = dstSeg !== undefined && dstSeg === ks.segment;
    if (dstSeg !== undefined && ks.segment !== undefined && dstSeg !== ks.segment) {
      f.c[o + 7] = (f.c[o + 7] ?? 0) + 1;
      const pairName = ks.lastPairSeg === dstSeg ? ks.lastPairName : `${ks.segment}>${dstSeg}`;
      ks.lastPairSeg = dstSeg;
      ks.lastPairName = pairName;
      // INVARIANT: a segment pair becomes the cohort's own only when a quarter of the cohort uses it
      // (a roll-out), never because a few compromised devices did (lateral movement spreading).
      const pair = c.pairs.touch(pairName, ks.h, r.tsMs, learning, Math.max(t.adoptDevices, Math.ceil(c.keys / 4)));
      knownPath = pair.adopted;
      if (!pair.adopted && !learning) {
        score = Math.max(score, 0.9);
        this.#raise(ks, 'cross-segment', r.tsMs, 0.9, `traffic from segment ${ks.segment} to segment ${dstSeg} (${r.respH}:${r.respP}, ${r.connState || 'no state'}), which ${c.name} devices do not use`, { from: ks.segment, to: dstSeg, destination: `${r.respH}:${r.respP}` }, { knownPairDevices: pair.devices(), adoptAt: Math.max(t.adoptDevices, Math.ceil(c.keys / 4)) });
      }
    }
    // Rule: rate spike (connections) and outbound volume (all, and toward unused destinations).
    {
      const dev = f.conns60.n >= 30;
      const base = dev ? f.conns60 : c.conns60;
      const z = base.n > 0 ? base.z(Math.log1p(conns60)) : 0;
      const s = conns60 >= t.ratePer60s ? soften(Math.max(0, z) / t.rateZ) : soften(conns60 / t.ratePer60s) * 0.5;
      score = Math.max(score, s);
      if (s >= 0.3) c.ctx.markElevated(r.tsMs, 'rate', ks.h);
      if (s >= 0.5) this.#raise(ks, 'rate-spike', r.tsMs, s, `${conns60} connections in 60 s, ${dev ? 'the device' : `a ${c.name} device`} usually makes ~${round(Math.expm1(base.level), 1)}`, { connectionsPer60s: conns60, robustZ: round(z) }, { typicalPer60s: round(Math.expm1(base.level), 2), source: dev ? 'device' : 'cohort' });
    }
    if (r.origBytes > 0) {
      const bytes60 = this.#sum(f.c, 8, 3);
      const newBytes = this.#sum(f.c, 8, 6);
      const dev = f.bytes60.n >= 30;
      const base = dev ? f.bytes60 : c.bytes60;
      const typical = Math.expm1(base.level + 1.25 * base.effectiveScale());
      const thrNew = Math.max(t.newDestBytesPer60s, t.newDestBytesFactor * typical);
      const sNew = soften(newBytes / thrNew);
      const z = base.n > 0 ? base.z(Math.log1p(bytes60)) : 0;
      const sAll = bytes60 >= t.newDestBytesPer60s ? soften(Math.max(0, z) / t.rateZ) : 0;
      const s = Math.max(sNew, sAll);
      score = Math.max(score, s);
      if (s >= 0.3) c.ctx.markElevated(r.tsMs, 'rate', ks.h);
      if (s >= 0.5)
        this.#raise(ks, 'rate-spike', r.tsMs, s, sNew >= sAll ? `${Math.round(newBytes / 1e3)} kB sent in 60 s to destinations ${c.name} devices do not use (last ${r.respH}:${r.respP})` : `${Math.round(bytes60 / 1e3)} kB sent in 60 s, usually ~${Math.round(Math.expm1(base.level) / 1e3)} kB`, { bytesOutPer60s: bytes60, bytesToUnusedDestinationsPer60s: newBytes, destination: `${r.respH}:${r.respP}` }, { typicalBytesOutPer60s: Math.round(Math.expm1(base.level)), source: dev ? 'device' : 'cohort', unusedDestinationThreshold: Math.round(thrNew) });
    }
    // Rule: beacon-like periodic connections to a destination the cohort does not use.
    // Periodic traffic to a host on a segment path the cohort already uses (a new sensor reporting to
    // its own site gateway, which no other sensor happens to use) is not C2: beacons are judged for
    // external destinations and for internal paths the cohort does not use.
    score = Math.max(score, this.#beacon(ks, f, c, r, subj, learning || knownPath));

    if (++f.sinceScore >= 16 && (f.sinceScore & 15) === 0) this.#closeFlowWindow(ks, f, c, f.bucket, false);
    return Math.max(score, ks.modelScore * Math.exp(-(r.tsMs - ks.modelScoreMs) / 60_000));
  }

  #beacon(ks: KeyState, f: FlowState, c: Cohort, r: FlowRecord, subj: Subject, learning: boolean): number {
    let slot: BeaconSlot | undefined;
    let victim = f.beacons[0] as BeaconSlot;
    for (const b of f.beacons) {
      if (b.dest === r.respH) {
        slot = b;
        break;
      }
      if (b.lastMs < victim.lastMs) victim = b;
    }
    if (slot === undefined) {
      // Space-saving: the least recently used slot takes the new destination.
      victim.dest = r.respH;
      victim.lastMs = r.tsMs;
      victim.arrivals = 1;
      victim.mean = 0;
      victim.m2 = 0;
      return 0;
    }
    const ia = r.tsMs - slot.lastMs;
    if (ia < 1000) return 0; // same burst: one arrival
    slot.lastMs = r.tsMs;
    slot.arrivals++;
    const n = slot.arrivals - 1;
    if (n <= 16) {
      const d = ia - slot.mean;
      slot.mean += d / n;
      slot.m2 += d * (ia - slot.mean);
    } else {
      // EWMA beyond 16 intervals so the slot keeps following the destination.
      const d = ia - slot.mean;
      slot.mean += d / 16;
      slot.m2 = slot.m2 * (15 / 16) + (d * d * 15) / 16 / 1;
    }
    if (slot.arrivals < this.thresholds.beaconArrivals) return 0;
    const var_ = n <= 16 ? slot.m2 / Math.max(1, n - 1) : slot.m2 / 15;
    const cv = Math.sqrt(Math.max(0, var_)) / Math.max(1, slot.mean);
    if (cv > this.thresholds.beaconMaxCv * 2 || subj.adopted || learning) return 0;
    const s = cv <= this.thresholds.beaconMaxCv ? 0.75 : 0.4;
    if (s >= 0.5) this.#raise(ks, 'beacon', r.tsMs, s, `${slot.arrivals} connections to ${r.respH}:${r.respP} every ${round(slot.mean / 1000, 1)} s (cv ${round(cv, 3)}); ${subj.devices()} ${c.name} device(s) use this destination`, { destination: r.respH, port: r.respP, intervalS: round(slot.mean / 1000, 2), cv: round(cv, 4), arrivals: slot.arrivals }, { cohortDevicesUsingDestination: subj.devices(), adoptAt: this.thresholds.adoptDevices, maxCv: this.thresholds.beaconMaxCv }, undefined, subj);
    return s;
  }

  // --- gateway events ------------------------------------------------------------------------

  #gateway(ks: KeyState, r: GatewayRecord): number {
    const c = this.#touchCohort(ks, r.tsMs);
    const g = (ks.gw ??= new GatewayState());
    const ev = r.event;
    const t = this.thresholds;
    const b = Math.floor(r.tsMs / BUCKET_MS);
    if (g.bucket < 0) g.bucket = b;
    else if (b > g.bucket) {
      this.#closeGwWindow(ks, g, c, g.bucket, true);
      const n = Math.min(RING, b - g.bucket);
      for (let i = 1; i <= n; i++) {
        const s = (g.bucket + i) % RING;
        g.c.fill(0, s * 5, s * 5 + 5);
        g.topics.fill(0, s * HOST_WORDS, (s + 1) * HOST_WORDS);
      }
      g.bucket = b;
      g.sinceScore = 0;
    }
    const slot = g.bucket % RING;
    const o = slot * 5;
    let score = 0;
    const addr = normaliseAddress(ev.clientAddress);
    let denied = ev.type === 'connect_refused' && ev.reason !== 'duplicate_identity';
    switch (ev.type) {
      case 'publish_allowed':
      case 'publish_denied':
      case 'subscribe_allowed':
      case 'subscribe_denied':
        g.c[o] = (g.c[o] ?? 0) + 1;
        g.c[o + 4] = (g.c[o + 4] ?? 0) + (ev.bytes ?? 0);
        if (ev.topic !== undefined) score = Math.max(score, this.#topic(ks, g, c, r, slot));
        denied = ev.type === 'publish_denied' || ev.type === 'subscribe_denied';
        break;
      case 'connect_refused':
        if (ev.reason === 'duplicate_identity') score = Math.max(score, this.#duplicate(ks, g, r, addr, undefined));
        break;
      case 'connect': {
        g.c[o + 2] = (g.c[o + 2] ?? 0) + 1;
        c.ctx.markElevated(r.tsMs, 'churn', ks.h);
        const n = g.connects.add(r.tsMs);
        const s = soften(n / t.flappingConnects);
        score = Math.max(score, s * 0.8);
        if (s >= 0.4) c.ctx.markElevated(r.tsMs, 'flapping', ks.h);
        if (s >= 0.5) this.#raise(ks, 'connect-flapping', r.tsMs, s, `reconnecting repeatedly: decayed connect count ${round(n, 1)} (5 min time constant)`, { decayedConnects: round(n, 2) }, { threshold: t.flappingConnects });
        if (ks.key === ev.deviceId) {
          if (g.openSession >= 0 && g.openSession !== ev.sessionId && g.openAddress !== addr) score = Math.max(score, this.#duplicate(ks, g, r, addr, g.openAddress));
          g.openSession = ev.sessionId;
          g.openAddress = addr;
        }
        break;
      }
      case 'disconnect':
        g.c[o + 3] = (g.c[o + 3] ?? 0) + 1;
        c.ctx.markElevated(r.tsMs, 'churn', ks.h);
        if (g.openSession === ev.sessionId) g.openSession = -1;
        break;
      case 'limit_exceeded': {
        // The gateway's configured ceiling is the baseline: a well-behaved device never meets it,
        // so being throttled again and again is a flood whatever the cohort's learnt rates are.
        if (ev.reason !== 'message_rate' && ev.reason !== 'byte_rate' && ev.reason !== 'connection_rate') break;
        const n = g.throttled.add(r.tsMs);
        const s = soften(n / t.throttledPer60s);
        score = Math.max(score, s);
        if (s >= 0.3) c.ctx.markElevated(r.tsMs, 'rate', ks.h);
        if (s >= 0.5) this.#raise(ks, 'rate-spike', r.tsMs, s, `throttled by the gateway ${Math.round(n)} times in the last minute (${ev.reason}): sending faster than the gateway allows any device`, { throttledPer60s: round(n, 1), reason: ev.reason }, { thresholdPer60s: t.throttledPer60s, note: 'gateway rate ceiling' });
        break;
      }
      case 'attestation_failed':
        // The verifier's verdict is already the evidence: one failed quote is enough (never damped —
        // a cohort-wide mismatch is a worm or a roll-out nobody registered, both worth an operator).
        score = Math.max(score, 0.95);
        this.#raise(ks, 'attestation-mismatch', r.tsMs, 0.95, `attestation failed: ${ev.reason ?? 'mismatch'}${ev.detail ? ` (${ev.detail.slice(0, 200)})` : ''}`, { reason: ev.reason ?? '', detail: (ev.detail ?? '').slice(0, 200) }, { expected: 'measurements matching a registered reference value' });
        break;
      case 'duplicate_identity': {
        const prev = /from (\S+)/.exec(ev.detail ?? '')?.[1];
        score = Math.max(score, this.#duplicate(ks, g, r, addr, prev === undefined ? undefined : normaliseAddress(prev)));
        break;
      }
      default:
        break;
    }
    // Rule: burst of refused connects and denied requests.
    if (denied) {
      g.c[o + 1] = (g.c[o + 1] ?? 0) + 1;
      const denied60 = this.#sum(g.c, 5, 1);
      const s = soften(denied60 / t.authGatewayPer60s);
      score = Math.max(score, s);
      if (s >= 0.25) c.ctx.markElevated(r.tsMs, 'failures', ks.h);
      if (s >= 0.5) this.#raise(ks, 'auth-failure-burst', r.tsMs, s, `${denied60} refused connects or denied requests at the gateway in 60 s (last: ${ev.type}${ev.reason ? ` ${ev.reason}` : ''} from ${addr})`, { deniedPer60s: denied60, lastEvent: ev.type, lastReason: ev.reason ?? '', clientAddress: addr }, { thresholdPer60s: t.authGatewayPer60s });
    }
    // Rule: message rate spike.
    const msgs60 = this.#sum(g.c, 5, 0);
    if (msgs60 > 0) {
      const dev = g.msgs60.n >= 30;
      const base = dev ? g.msgs60 : c.msgs60;
      const z = base.n > 0 ? base.z(Math.log1p(msgs60)) : 0;
      const s = msgs60 >= t.ratePer60s ? soften(Math.max(0, z) / t.rateZ) : 0;
      score = Math.max(score, s);
      if (s >= 0.3) c.ctx.markElevated(r.tsMs, 'rate', ks.h);
      if (s >= 0.5) this.#raise(ks, 'rate-spike', r.tsMs, s, `${msgs60} messages in 60 s, ${dev ? 'the device' : `a ${c.name} device`} usually sends ~${round(Math.expm1(base.level), 1)}`, { messagesPer60s: msgs60, robustZ: round(z) }, { typicalPer60s: round(Math.expm1(base.level), 2), source: dev ? 'device' : 'cohort' });
    }
    if (++g.sinceScore >= 16 && (g.sinceScore & 15) === 0) this.#closeGwWindow(ks, g, c, g.bucket, false);
    return Math.max(score, ks.modelScore * Math.exp(-(r.tsMs - ks.modelScoreMs) / 60_000));
  }

  /** Rule: a topic pattern the cohort never used. */
  #topic(ks: KeyState, g: GatewayState, c: Cohort, r: GatewayRecord, slot: number): number {
    const ev = r.event;
    const t = this.thresholds;
    const topic = ev.topic ?? '';
    const pat = topic === ks.lastTopic ? ks.lastPattern : topicPattern(topic, ev.deviceId);
    ks.lastTopic = topic;
    ks.lastPattern = pat;
    setBit(g.topics, slot * HOST_WORDS, HOST_WORDS, hash32(pat));
    const learning = !this.#mature(c);
    const subj = c.topics.touch(pat, ks.h, r.tsMs, learning, t.adoptDevices);
    if (subj.adopted || learning) return 0;
    this.#raise(ks, 'new-topic', r.tsMs, 0.6, `${ev.type.startsWith('publish') ? 'published to' : 'subscribed to'} ${ev.topic ?? ''}, a topic pattern (${pat}) never seen for ${c.name}`, { topic: ev.topic ?? '', pattern: pat, event: ev.type }, { cohortDevicesUsingPattern: subj.devices(), adoptAt: t.adoptDevices, knownPatterns: c.topics.map.size }, undefined, subj);
    return 0.6;
  }

  /** Evidence that one identity is in use from two addresses: alert at once (never damped). */
  #duplicate(ks: KeyState, g: GatewayState, r: GatewayRecord, addr: string, other: string | undefined): number {
    const tsMs = r.tsMs;
    let seen = other;
    if (seen === undefined || seen === addr) {
      // No second address in this event: compare with the last duplicate-identity address (10 min).
      seen = tsMs - g.otherAddressMs <= 600_000 && g.otherAddress !== addr ? g.otherAddress : undefined;
    }
    g.otherAddress = addr;
    g.otherAddressMs = tsMs;
    if (seen === undefined || seen === '') return 0.4;
    this.#raise(ks, 'duplicate-identity', tsMs, 0.95, `identity ${ks.key} in use from ${seen} and ${addr} at the same time (${r.event.type}${r.event.reason ? ` ${r.event.reason}` : ''})`, { addresses: `${seen},${addr}`, event: r.event.type }, { expectedAddresses: 1 });
    return 0.95;
  }

  #closeGwWindow(ks: KeyState, g: GatewayState, c: Cohort, bucket: number, closed: boolean): void {
    const slot = bucket % RING;
    const x = this.#xg;
    const o = slot * 5;
    x[0] = LN(g.c[o] ?? 0, 5000);
    x[1] = LN(g.c[o + 1] ?? 0, 1000);
    x[2] = LN(g.c[o + 2] ?? 0, 100);
    x[3] = LN(g.c[o + 3] ?? 0, 100);
    x[4] = LN(g.c[o + 4] ?? 0, 1e9);
    x[5] = LN(linearCount(g.topics, slot * HOST_WORDS, HOST_WORDS), 500);
    this.#scoreWindow(ks, c, 'gw', x, closed, (bucket + 1) * BUCKET_MS - 1, (g.c[o] ?? 0) + (g.c[o + 1] ?? 0) + (g.c[o + 2] ?? 0));
    if (!closed) return;
    const lm = Math.log1p(this.#sum(g.c, 5, 0));
    if (g.msgs60.n < 30 || g.msgs60.z(lm) < this.thresholds.rateZ) g.msgs60.update(lm);
    if (c.msgs60.n < 100 || c.msgs60.z(lm) < this.thresholds.rateZ) c.msgs60.update(lm);
  }

  // --- telemetry -----------------------------------------------------------------------------

  #telemetry(ks: KeyState, r: TelemetryRecord): number {
    const c = this.#touchCohort(ks, r.tsMs);
    const t = this.thresholds;
    let cm = c.metrics.get(r.metric);
    if (cm === undefined) {
      if (c.metrics.size >= MAX_METRICS_PER_COHORT) return ks.modelScore;
      cm = { level: new RobustEwma(0.02, 1e-6), spread: new RobustEwma(0.01, 1e-6) };
      c.metrics.set(r.metric, cm);
    }
    const metrics = (ks.metrics ??= new Map());
    let ms = metrics.get(r.metric);
    if (ms === undefined) {
      if (metrics.size >= MAX_METRICS_PER_KEY) return ks.modelScore;
      ms = new MetricState();
      metrics.set(r.metric, ms);
    }
    const x = r.value;
    const level = cm.level.n > 0 ? cm.level.level : x;
    const resid = x - level;
    // INVARIANT: a device with < 20 samples is judged against the cohort's spread, not its own.
    const young = ms.offset.n < 20;
    const scale = young ? Math.max(cm.spread.level, cm.spread.minScale, Math.abs(level) * 0.01) : 1.25 * ms.offset.effectiveScale();
    const rz = cm.level.n < 20 ? 0 : young ? resid / (1.25 * scale) : (resid - ms.offset.level) / scale;
    const selfZ = ms.self.z(x);
    // The cohort level is the common mode: each device contributes its value minus its usual offset,
    // so devices sitting at different levels do not make the level jitter.
    cm.level.update(young ? x : x - ms.offset.level);
    cm.spread.update(Math.abs(resid));
    if (Math.abs(rz) < 3 || young) ms.offset.update(resid);
    ms.self.update(x);
    let score = soften(Math.abs(rz) / t.telemetryZ);
    if (Math.abs(rz) >= 3) c.ctx.markElevated(r.tsMs, 'telemetry', ks.h);
    // While the cohort learns, each device's usual offset is still settling: residuals are scored
    // but raise nothing, and the CUSUM starts from zero once the cohort is mature.
    const learning = !this.#mature(c);
    if (learning) {
      ms.pos = 0;
      ms.neg = 0;
    } else if (!young && cm.level.n >= 20) {
      const rc = Math.max(-4, Math.min(4, rz));
      // CUSUM with reference k = 1 σ: shifts of ≥ 2 σ are found in a few samples, noise stays near 0.
      ms.pos = Math.max(0, ms.pos + rc - 1);
      ms.neg = Math.max(0, ms.neg - rc - 1);
      const cus = Math.max(ms.pos, ms.neg);
      score = Math.max(score, soften(cus / t.telemetryCusum));
      if (cus >= t.telemetryCusum / 2) c.ctx.markElevated(r.tsMs, 'telemetry', ks.h);
      if (cus >= t.telemetryCusum) {
        const dir = ms.pos >= ms.neg ? 'up' : 'down';
        this.#raise(ks, 'telemetry-drift', r.tsMs, soften(cus / t.telemetryCusum), `${r.metric} drifting ${dir} away from the ${c.name} cohort: ${round(x, 3)} where the device usually sits ${round(ms.offset.level, 3)} from the cohort level ${round(level, 3)} (CUSUM ${round(cus, 1)})`, { metric: r.metric, value: round(x, 4), residualZ: round(rz), cusum: round(cus, 2) }, { cohortLevel: round(level, 4), usualOffset: round(ms.offset.level, 4), offsetScale: round(scale, 4), cusumThreshold: t.telemetryCusum });
        ms.pos = 0;
        ms.neg = 0;
      }
    }
    if (Math.abs(rz) >= t.telemetryZ && !learning) {
      this.#raise(ks, 'telemetry-zscore', r.tsMs, score, `${r.metric} = ${round(x, 3)}: robust z ${round(rz, 1)} against ${young ? `the ${c.name} cohort (new device)` : 'the device\'s usual offset from its cohort'} (own z ${round(selfZ, 1)})`, { metric: r.metric, value: round(x, 4), robustZ: round(rz, 2), ownZ: round(selfZ, 2) }, { cohortLevel: round(level, 4), usualOffset: young ? 0 : round(ms.offset.level, 4), scale: round(scale, 4), deviceLevel: round(ms.self.level, 4) });
    }
    if (score > ks.modelScore * Math.exp(-(r.tsMs - ks.modelScoreMs) / 60_000)) {
      ks.modelScore = score;
      ks.modelScoreMs = r.tsMs;
    }
    return score;
  }
}
