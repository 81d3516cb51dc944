/**
 * Scoring a simulated run against its labels: which attack episodes an alert found and how fast,
 * which alerts were false (no attack episode on that key in that window), and the ROC AUC of the
 * per-record score. Shared by `zeta sim` and bench/sim.ts so the two print the same figures.
 */
import { ATTACK_KINDS, type Alert, type AttackKind, type Episode } from '../monitor/index.js';

/** An alert up to this long after an episode ends still counts for it (held alerts, slow evidence). */
export const MATCH_GRACE_MS = 5 * 60_000;
/** The goal's "detected within" bound. */
export const DETECT_WITHIN_MS = 60_000;

export interface KindFigures {
  readonly episodes: number;
  readonly detected: number;
  readonly within60s: number;
  /** Seconds from the moment the episode became detectable; null when none was detected. */
  readonly meanTtdS: number | null;
  readonly medianTtdS: number | null;
  /** Rules that found this kind, with counts. */
  readonly rules: Readonly<Record<string, number>>;
}

export interface Evaluation {
  readonly perKind: Readonly<Record<AttackKind, KindFigures>>;
  readonly episodes: number;
  readonly detected: number;
  readonly within60s: number;
  readonly alerts: number;
  readonly falseAlerts: number;
  readonly falseAlertsPer1000DeviceDays: number;
  readonly falseAlertsByRule: Readonly<Record<string, number>>;
  /** Which benign change (if any) was going on when each false alert was raised. */
  readonly falseAlertsDuringBenign: Readonly<Record<string, number>>;
}

/** Index attack episodes by key, for per-record labelling (is this record's key under attack now?). */
export class EpisodeIndex {
  readonly #byKey = new Map<string, Episode[]>();
  constructor(episodes: readonly Episode[]) {
    for (const e of episodes) {
      if (e.label !== 'attack') continue;
      for (const k of e.keys) {
        const l = this.#byKey.get(k);
        if (l === undefined) this.#byKey.set(k, [e]);
        else l.push(e);
      }
    }
  }
  /** The attack episode on `key` at `tsMs`, if any. */
  attackAt(key: string, tsMs: number): Episode | undefined {
    const l = this.#byKey.get(key);
    if (l === undefined) return undefined;
    for (const e of l) if (tsMs >= e.startMs && tsMs < e.endMs) return e;
    return undefined;
  }
  episodesOf(key: string): readonly Episode[] {
    return this.#byKey.get(key) ?? [];
  }
}

/**
 * ROC AUC of a score by histogram (10,000 bins; ties within a bin count half): constant memory
 * however many records, exact to the bin width.
 */
export class HistogramAuc {
  static readonly BINS = 10_000;
  readonly #pos = new Float64Array(HistogramAuc.BINS + 1);
  readonly #neg = new Float64Array(HistogramAuc.BINS + 1);
  add(score: number, positive: boolean): void {
    const b = Math.min(HistogramAuc.BINS, Math.max(0, Math.round(score * HistogramAuc.BINS)));
    const h = positive ? this.#pos : this.#neg;
    h[b] = (h[b] ?? 0) + 1;
  }
  auc(): number {
    let p = 0;
    let n = 0;
    let a = 0;
    for (let i = 0; i <= HistogramAuc.BINS; i++) {
      const pi = this.#pos[i] ?? 0;
      const ni = this.#neg[i] ?? 0;
      a += pi * (n + 0.5 * ni);
      p += pi;
      n += ni;
    }
    return p > 0 && n > 0 ? a / (p * n) : NaN;
  }
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

export function evaluate(episodes: readonly Episode[], alerts: readonly Alert[], deviceDays: number): Evaluation {
  const index = new EpisodeIndex(episodes);
  const matched = new Set<Alert>();
  const ttd = new Map<number, number>();
  const ruleOf = new Map<number, Map<string, number>>();
  for (const a of alerts) {
    for (const e of index.episodesOf(a.key)) {
      if (a.atMs < e.startMs || a.atMs > e.endMs + MATCH_GRACE_MS) continue;
      matched.add(a);
      const d = Math.max(0, a.atMs - e.detectableFromMs);
      if (!ttd.has(e.index) || (ttd.get(e.index) ?? Infinity) > d) ttd.set(e.index, d);
      const rules = ruleOf.get(e.index) ?? new Map<string, number>();
      rules.set(a.rule, (rules.get(a.rule) ?? 0) + 1);
      ruleOf.set(e.index, rules);
    }
  }
  const perKind = {} as Record<AttackKind, KindFigures>;
  let all = 0;
  let detected = 0;
  let within = 0;
  for (const kind of ATTACK_KINDS) {
    const eps = episodes.filter((e) => e.label === 'attack' && e.kind === kind);
    const d = eps.map((e) => ttd.get(e.index)).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    const w = d.filter((x) => x <= DETECT_WITHIN_MS).length;
    const rules: Record<string, number> = {};
    for (const e of eps) for (const [r, n] of ruleOf.get(e.index) ?? []) rules[r] = (rules[r] ?? 0) + n;
    perKind[kind] = {
      episodes: eps.length,
      detected: d.length,
      within60s: w,
      meanTtdS: d.length > 0 ? r1(d.reduce((s, x) => s + x, 0) / d.length / 1000) : null,
      medianTtdS: d.length > 0 ? r1((d[Math.floor(d.length / 2)] ?? 0) / 1000) : null,
      rules,
    };
    all += eps.length;
    detected += d.length;
    within += w;
  }
  const benign = episodes.filter((e) => e.label === 'benign');
  const falseAlerts = alerts.filter((a) => !matched.has(a));
  const byRule: Record<string, number> = {};
  const byBenign: Record<string, number> = {};
  for (const a of falseAlerts) {
    byRule[a.rule] = (byRule[a.rule] ?? 0) + 1;
    let during = 'none';
    for (const e of benign) {
      if (a.atMs < e.startMs || a.atMs > e.endMs + 30 * 60_000) continue;
      if (e.kind === 'late-join' ? e.keys.includes(a.key) : e.cohort === undefined || a.cohort === e.cohort) {
        during = e.kind;
        break;
      }
    }
    byBenign[during] = (byBenign[during] ?? 0) + 1;
  }
  return {
    perKind,
    episodes: all,
    detected,
    within60s: within,
    alerts: alerts.length,
    falseAlerts: falseAlerts.length,
    falseAlertsPer1000DeviceDays: deviceDays > 0 ? Math.round((falseAlerts.length / (deviceDays / 1000)) * 100) / 100 : 0,
    falseAlertsByRule: byRule,
    falseAlertsDuringBenign: byBenign,
  };
}

/** The per-kind table as text (the CLI and the bench print the same). */
export function formatEvaluation(ev: Evaluation): string {
  const pct = (n: number, d: number): string => (d > 0 ? `${((100 * n) / d).toFixed(1)} %` : '-');
  const lines = ['attack        episodes  detected    ≤ 60 s   mean TTD  median TTD  rules'];
  for (const kind of ATTACK_KINDS) {
    const k = ev.perKind[kind];
    const rules = Object.entries(k.rules).sort((a, b) => b[1] - a[1]).map(([r]) => r).slice(0, 3).join(', ');
    lines.push(`${kind.padEnd(13)} ${String(k.episodes).padStart(8)}  ${pct(k.detected, k.episodes).padStart(8)}  ${pct(k.within60s, k.episodes).padStart(8)}  ${(k.meanTtdS === null ? '-' : `${k.meanTtdS} s`).padStart(9)}  ${(k.medianTtdS === null ? '-' : `${k.medianTtdS} s`).padStart(10)}  ${rules}`);
  }
  lines.push(`all           ${String(ev.episodes).padStart(8)}  ${pct(ev.detected, ev.episodes).padStart(8)}  ${pct(ev.within60s, ev.episodes).padStart(8)}`);
  lines.push(`false alerts: ${ev.falseAlerts} (${ev.falseAlertsPer1000DeviceDays} per 1,000 device-days)${ev.falseAlerts > 0 ? ` by rule ${JSON.stringify(ev.falseAlertsByRule)}, during benign change ${JSON.stringify(ev.falseAlertsDuringBenign)}` : ''}`);
  return lines.join('\n');
}
