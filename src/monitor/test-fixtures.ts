/** Small, readable fixtures shared by the monitor tests. */
import { Detector, type DetectorOptions, type InventoryDevice, type Verdict } from './detector.js';
import type { Alert, CohortNotice } from './rules.js';
import type { FlowRecord, GatewayRecord, Signal, TelemetryRecord } from './signals.js';

export const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

export const CAMS: InventoryDevice[] = Array.from({ length: 12 }, (_, i) => ({ id: `cam-${i}`, type: 'camera', segment: 'cams', hosts: [`10.1.0.${i + 1}`] }));
export const SEGMENTS = { '10.1.0.0/16': 'cams', '10.2.0.0/16': 'ot', '10.0.0.0/24': 'infra' };

export function detector(o: DetectorOptions = {}): Detector {
  return new Detector({ devices: CAMS, segments: SEGMENTS, learnRecords: 100, learnMs: 5 * 60_000, ...o });
}

export function flow(tsMs: number, origH: string, respH: string, respP: number, o: Partial<FlowRecord> = {}): FlowRecord {
  return { kind: 'flow', tsMs, uid: 'C1', origH, origP: 40000, respH, respP, proto: 'tcp', service: '', duration: 0.5, origBytes: 800, respBytes: 1200, connState: 'SF', history: 'ShADadFf', origPkts: 6, respPkts: 5, ...o };
}

export function tel(tsMs: number, device: string, metric: string, value: number): TelemetryRecord {
  return { kind: 'telemetry', tsMs, device, metric, value };
}

export function gw(tsMs: number, type: string, o: { deviceId?: string; clientAddress?: string; topic?: string; reason?: string; detail?: string; sessionId?: number; bytes?: number } = {}): GatewayRecord {
  const { clientAddress = '10.1.0.1', sessionId = 1, ...rest } = o;
  return { kind: 'gateway', tsMs, event: { type, at: new Date(tsMs).toISOString(), sessionId, clientAddress, ...rest } };
}

/**
 * Ordinary camera behaviour for `minutes` from `fromMs`: every 10 s each camera uploads to its
 * cloud, publishes its status and reports cpu ≈ 30 (± device offset and noise).
 */
export function normal(fromMs: number, minutes: number, devices: readonly InventoryDevice[] = CAMS): Signal[] {
  const out: Signal[] = [];
  let seed = 1;
  const noise = (): number => {
    seed = (seed * 16807) % 2147483647;
    return (seed / 2147483647 - 0.5) * 2;
  };
  for (let t = fromMs; t < fromMs + minutes * 60_000; t += 10_000) {
    devices.forEach((d, i) => {
      const ip = d.hosts?.[0] ?? '10.1.0.250';
      const at = t + i * 300;
      out.push(flow(at, ip, '52.0.0.1', 443, { service: 'ssl', origBytes: 20_000 + Math.round(noise() * 2000) }));
      out.push(gw(at + 50, 'publish_allowed', { deviceId: d.id, clientAddress: ip, topic: `devices/${d.id}/status`, bytes: 60, sessionId: i + 1 }));
      out.push(tel(at + 100, d.id, 'cpu', 30 + (i % 4) + noise()));
    });
  }
  return out;
}

export interface Run {
  verdicts: Verdict[];
  alerts: Alert[];
  notices: CohortNotice[];
}

export function run(d: Detector, signals: readonly Signal[]): Run {
  const sorted = [...signals].sort((a, b) => a.tsMs - b.tsMs);
  const r: Run = { verdicts: [], alerts: [], notices: [] };
  for (const s of sorted) {
    const v = d.process(s);
    r.verdicts.push(v);
    if (v.alert) r.alerts.push(v.alert);
    if (v.notice) r.notices.push(v.notice);
  }
  return r;
}
