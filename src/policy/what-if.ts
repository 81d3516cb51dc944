/**
 * What-if: evaluate the whole fleet against a proposed policy set without applying it, and report
 * which devices gain or lose which access. Each device is probed with the requests that matter for
 * an IoT device: connect; publish to each kind of topic in its own namespace; read its own and its
 * segment's namespace; reach into another device's namespace; and the whole tree (`#`).
 */
import { EntityStore, isAuthorized, type EntityJson } from './engine/index.js';
import type { ParsedPolicySet } from './policy-set.js';
import { toCedarRequest, type MqttRequest } from './pdp.js';

export const PROBE_KINDS = ['status', 'stream', 'telemetry', 'event', 'cmd', 'setpoint'] as const;

export function probesFor(device: { id: string; segment: string }, other: string | undefined): MqttRequest[] {
  const p: MqttRequest[] = [{ principal: device.id, action: 'connect' }];
  for (const k of PROBE_KINDS) p.push({ principal: device.id, action: 'publish', topic: `devices/${device.id}/${k}` });
  p.push({ principal: device.id, action: 'subscribe', topic: `devices/${device.id}/#` });
  if (device.segment !== '') {
    p.push({ principal: device.id, action: 'subscribe', topic: `segments/${device.segment}/#` });
    p.push({ principal: device.id, action: 'publish', topic: `segments/${device.segment}/data` });
  }
  if (other !== undefined) {
    p.push({ principal: device.id, action: 'publish', topic: `devices/${other}/cmd` });
    p.push({ principal: device.id, action: 'subscribe', topic: `devices/${other}/#` });
  }
  p.push({ principal: device.id, action: 'subscribe', topic: '#' });
  p.push({ principal: device.id, action: 'publish', topic: 'broadcast' });
  return p;
}

export interface AccessChange {
  device: string;
  action: string;
  topic: string | null;
  policies: string[];
}

export interface WhatIfReport {
  devices: number;
  requests: number;
  gained: AccessChange[];
  lost: AccessChange[];
  /** Counts by "action topic-pattern" for a quick read. */
  summary: { change: 'gain' | 'loss'; action: string; pattern: string; devices: number }[];
}

function pattern(topic: string | undefined, device: string, other: string | undefined, segment: string): string {
  if (topic === undefined) return '(broker)';
  let t = topic.replace(`devices/${device}/`, 'devices/<self>/');
  if (other !== undefined) t = t.replace(`devices/${other}/`, 'devices/<other>/');
  if (segment !== '') t = t.replace(`segments/${segment}/`, 'segments/<own>/');
  return t;
}

export function whatIf(current: ParsedPolicySet | undefined, proposed: ParsedPolicySet, devices: EntityJson[], options: { maxListed?: number } = {}): WhatIfReport {
  const store = new EntityStore(devices);
  const gained: AccessChange[] = [];
  const lost: AccessChange[] = [];
  const counts = new Map<string, number>();
  let requests = 0;
  const max = options.maxListed ?? 10_000;
  devices.forEach((e, i) => {
    const id = (e.uid as { id: string }).id;
    const segment = typeof e.attrs?.segment === 'string' ? e.attrs.segment : '';
    const other = devices.length > 1 ? (devices[(i + 1) % devices.length]!.uid as { id: string }).id : undefined;
    for (const r of probesFor({ id, segment }, other)) {
      requests++;
      const req = toCedarRequest(r);
      const before = current === undefined ? 'deny' : isAuthorized(req, current.compiled, store).decision;
      const after = isAuthorized(req, proposed.compiled, store);
      if (before === after.decision) continue;
      const change = after.decision === 'allow' ? 'gain' : 'loss';
      const entry = { device: id, action: r.action, topic: r.topic ?? null, policies: after.determining };
      if (change === 'gain' && gained.length < max) gained.push(entry);
      if (change === 'loss' && lost.length < max) lost.push(entry);
      const key = `${change}\u0000${r.action}\u0000${pattern(r.topic, id, other, segment)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });
  const summary = [...counts].map(([k, n]) => {
    const [change, action, pat] = k.split('\u0000') as ['gain' | 'loss', string, string];
    return { change, action, pattern: pat, devices: n };
  }).sort((a, b) => b.devices - a.devices);
  return { devices: devices.length, requests, gained, lost, summary };
}
