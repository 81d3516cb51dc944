/**
 * Scale mode: a simulated fleet (src/monitor/sim.ts: diurnal behaviour per device type, labelled
 * attacks, labelled benign changes) fed straight into the detector, the same `Detector.process`
 * that `zeta detect` and the live Monitor run. Writes the events in the formats `zeta detect`
 * reads, the labels beside them, the alerts, and a per-attack summary.
 */
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { ZetaError } from '../common/errors.js';
import { Detector, simulateFleet, type Alert, type CohortNotice, type Episode, type FlowRecord, type Signal } from '../monitor/index.js';
import { EpisodeIndex, HistogramAuc, evaluate, type Evaluation } from './evaluate.js';

export interface ScaleSimOptions {
  readonly devices?: number;
  readonly days?: number;
  readonly seed?: number;
  /** Attack episodes per attack kind. */
  readonly attacksPerKind?: number;
  readonly benign?: boolean;
  /** No episode before this much simulated time (the cohorts learn). */
  readonly quietHours?: number;
  /** Write events, labels, alerts and summary here (created). Without it nothing is written. */
  readonly outDir?: string;
  /** Write every event (large: ~6,000 per device-day); labels, alerts and summary are always written with outDir. */
  readonly writeEvents?: boolean;
  /** Progress events every this many simulated minutes. */
  readonly progressEveryMin?: number;
}

/** Bounds that keep a typo from filling the disk or the heap. */
export const SCALE_LIMITS = Object.freeze({ maxDevices: 1_000_000, maxDays: 30, maxAttacksPerKind: 1000 });

export interface ScaleSummary {
  readonly mode: 'scale';
  readonly devices: number;
  readonly deviceDays: number;
  readonly events: number;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly attackEpisodes: number;
  readonly benignChanges: readonly string[];
  readonly cohortNotices: number;
  readonly rocAuc: number;
  /** Detection only: events over the CPU time `Detector.process` used (one core). */
  readonly detectEventsPerCpuSecond: number;
  readonly evaluation: Evaluation;
  readonly files: Readonly<Record<string, string>>;
}

export type ScaleProgress =
  | { readonly type: 'start'; readonly devices: number; readonly attackEpisodes: number; readonly startMs: number; readonly endMs: number }
  | { readonly type: 'progress'; readonly doneMs: number; readonly totalMs: number; readonly events: number; readonly alerts: number }
  | { readonly type: 'alert'; readonly alert: Alert; readonly episode: { readonly index: number; readonly kind: string } | null }
  | { readonly type: 'notice'; readonly notice: CohortNotice }
  | { readonly type: 'done'; readonly summary: ScaleSummary };

/** The Zeek conn.log JSON form of a flow (what `zeta detect --format zeek-conn` reads). */
export function zeekJsonLine(f: FlowRecord): string {
  return JSON.stringify({
    ts: f.tsMs / 1000, uid: f.uid, 'id.orig_h': f.origH, 'id.orig_p': f.origP, 'id.resp_h': f.respH, 'id.resp_p': f.respP, proto: f.proto,
    ...(f.service === '' ? {} : { service: f.service }), duration: f.duration, orig_bytes: f.origBytes, resp_bytes: f.respBytes, conn_state: f.connState,
    ...(f.history === '' ? {} : { history: f.history }), orig_pkts: f.origPkts, resp_pkts: f.respPkts,
  });
}

export function signalLine(s: Signal): string {
  switch (s.kind) {
    case 'flow':
      return zeekJsonLine(s);
    case 'telemetry':
      return JSON.stringify({ ts: new Date(s.tsMs).toISOString(), device: s.device, metric: s.metric, value: Math.round(s.value * 1e4) / 1e4 });
    case 'gateway':
      return JSON.stringify(s.event);
  }
}

export function episodeLine(e: Episode): string {
  return JSON.stringify({ episode: e.index, kind: e.kind, label: e.label, keys: e.keys, ...(e.cohort === undefined ? {} : { cohort: e.cohort }), start: new Date(e.startMs).toISOString(), end: new Date(e.endMs).toISOString(), detectableFrom: new Date(e.detectableFromMs).toISOString() });
}

function check(name: string, v: number, min: number, max: number, integer: boolean): void {
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) throw new ZetaError('ZETA_ERR_VALIDATION', `${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`);
}

class Sink {
  readonly #ws: WriteStream;
  #buf: string[] = [];
  constructor(readonly path: string) {
    this.#ws = createWriteStream(path);
  }
  push(line: string): void {
    this.#buf.push(line);
  }
  async flush(): Promise<void> {
    if (this.#buf.length === 0) return;
    const ok = this.#ws.write(this.#buf.join('\n') + '\n');
    this.#buf = [];
    if (!ok) await once(this.#ws, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.#ws.end();
    await once(this.#ws, 'close');
  }
}

export async function* runScaleSim(o: ScaleSimOptions = {}): AsyncGenerator<ScaleProgress> {
  const devices = o.devices ?? 1000;
  const days = o.days ?? 1;
  const attacksPerKind = o.attacksPerKind ?? 2;
  const quietHours = o.quietHours ?? 2;
  check('devices', devices, 10, SCALE_LIMITS.maxDevices, true);
  check('days', days, 0.05, SCALE_LIMITS.maxDays, false);
  check('attacks per kind', attacksPerKind, 0, SCALE_LIMITS.maxAttacksPerKind, true);
  check('quiet hours', quietHours, 0, days * 24, false);
  const fleet = simulateFleet({ devices, days, seed: o.seed ?? 7, attacksPerKind, benign: o.benign ?? true, quietMs: quietHours * 3600_000 });
  const detector = new Detector({ devices: fleet.inventory, segments: fleet.segments, seed: o.seed ?? 7, learnMs: Math.min(3600_000, quietHours * 3600_000) });
  const index = new EpisodeIndex(fleet.episodes);
  const auc = new HistogramAuc();
  const files: Record<string, string> = {};
  const sinks: Partial<Record<'flow' | 'telemetry' | 'gateway' | 'labels' | 'alerts', Sink>> = {};
  if (o.outDir !== undefined) {
    mkdirSync(o.outDir, { recursive: true });
    const open = (k: keyof typeof sinks, name: string): void => {
      const s = new Sink(join(o.outDir as string, name));
      sinks[k] = s;
      files[k] = s.path;
    };
    if (o.writeEvents !== false) {
      open('flow', 'flows.zeek.jsonl');
      open('telemetry', 'telemetry.jsonl');
      open('gateway', 'gateway.jsonl');
    }
    open('labels', 'labels.jsonl');
    open('alerts', 'alerts.jsonl');
    for (const e of fleet.episodes) sinks.labels?.push(episodeLine(e));
    files.summary = join(o.outDir, 'summary.json');
    files.inventory = join(o.outDir, 'inventory.json');
  }
  yield { type: 'start', devices: fleet.devices.length, attackEpisodes: fleet.episodes.filter((e) => e.label === 'attack').length, startMs: fleet.startMs, endMs: fleet.endMs };

  const alerts: Alert[] = [];
  let notices = 0;
  let events = 0;
  let cpuUs = 0;
  let chunkNo = 0;
  const every = Math.max(1, o.progressEveryMin ?? 10);
  const verdicts: ReturnType<Detector['process']>[] = [];
  try {
    for (const chunk of fleet.chunks()) {
      const c0 = process.cpuUsage();
      verdicts.length = chunk.length;
      for (let i = 0; i < chunk.length; i++) verdicts[i] = detector.process((chunk[i] as (typeof chunk)[number]).signal);
      const cu = process.cpuUsage(c0);
      cpuUs += cu.user + cu.system;
      events += chunk.length;
      const out: ScaleProgress[] = [];
      for (let i = 0; i < chunk.length; i++) {
        const v = verdicts[i] as ReturnType<Detector['process']>;
        const s = (chunk[i] as (typeof chunk)[number]).signal;
        auc.add(v.score, index.attackAt(v.key, s.tsMs) !== undefined);
        if (s.kind === 'flow') sinks.flow?.push(signalLine(s));
        else if (s.kind === 'telemetry') sinks.telemetry?.push(signalLine(s));
        else sinks.gateway?.push(signalLine(s));
        if (v.alert !== undefined) {
          alerts.push(v.alert);
          sinks.alerts?.push(JSON.stringify(v.alert));
          const ep = index.episodesOf(v.alert.key).find((e) => v.alert !== undefined && v.alert.atMs >= e.startMs && v.alert.atMs <= e.endMs + 5 * 60_000);
          out.push({ type: 'alert', alert: v.alert, episode: ep === undefined ? null : { index: ep.index, kind: ep.kind } });
        }
        if (v.notice !== undefined) {
          notices++;
          sinks.alerts?.push(JSON.stringify(v.notice));
          out.push({ type: 'notice', notice: v.notice });
        }
      }
      for (const s of Object.values(sinks)) await s.flush();
      yield* out;
      if (++chunkNo % every === 0) yield { type: 'progress', doneMs: chunkNo * 60_000, totalMs: fleet.endMs - fleet.startMs, events, alerts: alerts.length };
    }
    yield { type: 'progress', doneMs: fleet.endMs - fleet.startMs, totalMs: fleet.endMs - fleet.startMs, events, alerts: alerts.length };
  } finally {
    for (const s of Object.values(sinks)) await s.close();
  }
  const summary: ScaleSummary = {
    mode: 'scale',
    devices: fleet.devices.length,
    deviceDays: Math.round(fleet.deviceDays * 10) / 10,
    events,
    startedAt: new Date(fleet.startMs).toISOString(),
    endedAt: new Date(fleet.endMs).toISOString(),
    attackEpisodes: fleet.episodes.filter((e) => e.label === 'attack').length,
    benignChanges: fleet.episodes.filter((e) => e.label === 'benign').map((e) => e.kind),
    cohortNotices: notices,
    rocAuc: Math.round(auc.auc() * 10_000) / 10_000,
    detectEventsPerCpuSecond: cpuUs > 0 ? Math.round(events / (cpuUs / 1e6)) : 0,
    evaluation: evaluate(fleet.episodes, alerts, fleet.deviceDays),
    files,
  };
  if (o.outDir !== undefined) {
    writeFileSync(join(o.outDir, 'inventory.json'), JSON.stringify({ devices: fleet.inventory, segments: fleet.segments }) + '\n');
    writeFileSync(join(o.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  yield { type: 'done', summary };
}
