/**
 * Validation of segment, service and flow input: pure functions over the input and a view of what
 * exists. Every problem is collected and reported in one ZETA_ERR_VALIDATION (fields.problems), so
 * an operator fixes a file in one pass; nothing is applied when any problem is found.
 */
import type { z } from 'zod';
import { ZetaError } from '../common/errors.js';
import { parsePrefix, type IpFamily } from './addresses.js';
import {
  QUARANTINE_SEGMENT, flowInputSchema, normalizePorts, parsePortSpec, parseTopicPrefix, segmentInputSchema, serviceInputSchema,
  type Flow, type PortRange, type Segment, type Service, type portSpec,
} from './model.js';

export interface CatalogView {
  segments: ReadonlyMap<string, Segment>;
  services: ReadonlyMap<string, Service>;
}

export function validationError(problems: string[], what: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', `${what}: ${problems.join('; ')}`, { fields: { problems } });
}

function zodProblems(err: { issues: { path: PropertyKey[]; message: string }[] }): string[] {
  return err.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
}

function parsePorts(specs: readonly z.infer<typeof portSpec>[], field: string, problems: string[]): PortRange[] {
  const out: PortRange[] = [];
  for (const [i, spec] of specs.entries()) {
    const r = parsePortSpec(spec);
    if (typeof r === 'string') problems.push(`${field}.${i}: ${r}`);
    else out.push(r);
  }
  return normalizePorts(out);
}

/** Canonical, de-duplicated addresses; problems for the ones that do not parse. */
export function parseAddresses(inputs: readonly string[], field: string, problems: string[]): { text: string; family: IpFamily }[] {
  const seen = new Set<string>();
  const out: { text: string; family: IpFamily }[] = [];
  for (const [i, a] of inputs.entries()) {
    const p = parsePrefix(a);
    if ('error' in p) {
      problems.push(`${field}.${i}: ${p.error}`);
      continue;
    }
    if (seen.has(p.text)) continue;
    seen.add(p.text);
    out.push({ text: p.text, family: p.family });
  }
  return out;
}

export function buildSegment(input: unknown, now: string): Segment {
  const r = segmentInputSchema.safeParse(input);
  if (!r.success) throw validationError(zodProblems(r.error), 'segment not accepted');
  return { name: r.data.name, kind: r.data.kind, description: r.data.description ?? null, builtin: false, createdAt: now };
}

export function buildService(input: unknown, now: string): Service {
  const r = serviceInputSchema.safeParse(input);
  if (!r.success) throw validationError(zodProblems(r.error), 'service not accepted');
  const d = r.data;
  const problems: string[] = [];
  const addresses = parseAddresses(d.addresses, 'addresses', problems).map((a) => a.text);
  const ports = parsePorts(d.ports, 'ports', problems);
  if (d.ports.length > 0 && d.protocol !== 'tcp' && d.protocol !== 'udp') problems.push(`ports: only tcp and udp services have ports (protocol is ${d.protocol})`);
  if (d.addresses.length === 0 && (d.dnsName ?? null) === null) problems.push('addresses: a service needs at least one address or CIDR, or a dnsName');
  if (problems.length > 0) throw validationError(problems, `service ${d.name} not accepted`);
  return {
    name: d.name,
    description: d.description ?? null,
    addresses,
    dnsName: d.dnsName?.toLowerCase() ?? null,
    protocol: d.protocol,
    ports,
    role: d.role ?? null,
    createdAt: now,
  };
}

/**
 * A flow, checked against what exists: both ends named and present, ports only with tcp/udp, an
 * MQTT flow without a network match, and the quarantine rules (model.ts INVARIANTs).
 */
export function buildFlow(input: unknown, catalog: CatalogView, id: string, now: string, source: string): Flow {
  const r = flowInputSchema.safeParse(input);
  if (!r.success) throw validationError(zodProblems(r.error), 'flow not accepted');
  const d = r.data;
  const problems: string[] = [];
  if (!catalog.segments.has(d.from)) problems.push(`from: segment "${d.from}" does not exist`);
  let to: Flow['to'] | undefined;
  if ((d.toSegment === undefined) === (d.toService === undefined)) {
    problems.push('give exactly one of toSegment or toService');
  } else if (d.toSegment !== undefined) {
    to = { kind: 'segment', name: d.toSegment };
    if (!catalog.segments.has(d.toSegment)) problems.push(`toSegment: segment "${d.toSegment}" does not exist`);
    if (d.toSegment === QUARANTINE_SEGMENT) problems.push('toSegment: no flow may lead into the quarantine segment');
  } else if (d.toService !== undefined) {
    to = { kind: 'service', name: d.toService };
    if (!catalog.services.has(d.toService)) problems.push(`toService: service "${d.toService}" does not exist`);
  }
  if (d.toDeviceType !== undefined && to?.kind !== 'segment') problems.push('toDeviceType: only a flow to a segment can be narrowed to a device type');
  const ports = parsePorts(d.ports ?? [], 'ports', problems);
  let mqttTopicPrefix: string | null = null;
  if (d.mqttTopicPrefix !== undefined) {
    const p = parseTopicPrefix(d.mqttTopicPrefix);
    if (typeof p === 'string') mqttTopicPrefix = p;
    else problems.push(`mqttTopicPrefix: ${p.error}`);
    if (d.protocol !== undefined || (d.ports ?? []).length > 0) problems.push('an MQTT flow (mqttTopicPrefix) takes no protocol or ports: the gateway enforces it per topic');
  }
  let protocol = d.protocol ?? null;
  if (mqttTopicPrefix === null && d.mqttTopicPrefix === undefined && protocol === null && to?.kind === 'segment') protocol = 'any';
  if ((d.ports ?? []).length > 0 && protocol !== 'tcp' && protocol !== 'udp') problems.push(`ports: only tcp and udp flows have ports (protocol is ${protocol ?? 'not given'})`);
  if (d.from === QUARANTINE_SEGMENT) {
    const svc = to?.kind === 'service' ? catalog.services.get(to.name) : undefined;
    if (to?.kind !== 'service' || (svc !== undefined && svc.role !== 'remediation')) {
      problems.push('from: the quarantine segment may reach only a service with role "remediation"');
    }
    if (d.direction === 'both') problems.push('direction: a remediation service must not open connections into quarantine (use one-way)');
    if (d.mqttTopicPrefix !== undefined) problems.push('mqttTopicPrefix: quarantined devices get only the fixed remediation topic, not MQTT flows');
  }
  if (problems.length > 0) throw validationError(problems, 'flow not accepted');
  return {
    id,
    from: d.from,
    to: to!,
    protocol: mqttTopicPrefix === null ? protocol : null,
    ports,
    mqttTopicPrefix,
    direction: d.direction,
    fromDeviceType: d.fromDeviceType ?? null,
    toDeviceType: d.toDeviceType ?? null,
    description: d.description ?? null,
    source,
    createdAt: now,
  };
}

/** Two flows that allow exactly the same thing (ignoring id, description, source, time). */
export function flowKey(f: Flow): string {
  return JSON.stringify([f.from, f.to.kind, f.to.name, f.protocol, f.ports, f.mqttTopicPrefix, f.direction, f.fromDeviceType, f.toDeviceType]);
}
