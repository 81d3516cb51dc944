/**
 * Segments, services and flows: the one source of truth both enforcement points are compiled from
 * (compile-mqtt.ts → gateway, compile-nft.ts → netd).
 *
 * INVARIANT: traffic between segments is denied unless a flow allows it. A flow names its source
 * segment, its target (a segment or a named service), and either a network match (protocol and
 * destination ports) or an MQTT topic prefix, and a direction.
 * INVARIANT: the built-in `quarantine` segment reaches only services whose role is `remediation`,
 * and nothing may open a flow towards it.
 */
import { z } from 'zod';
import { ID_PATTERN } from '../common/ids.js';

export const QUARANTINE_SEGMENT = 'quarantine';

export const SEGMENT_KINDS = ['type', 'function', 'site', 'sensitivity', 'other'] as const;
export type SegmentKind = (typeof SEGMENT_KINDS)[number];

export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'any'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * `one-way`: members of `from` may open connections to (or publish for) the target; replies ride
 * on connection tracking. `both`: either side may open them.
 */
export const DIRECTIONS = ['one-way', 'both'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const SERVICE_ROLES = ['remediation'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/** Inclusive destination port range. */
export type PortRange = readonly [number, number];

export interface Segment {
  name: string;
  kind: SegmentKind;
  description: string | null;
  builtin: boolean;
  createdAt: string;
}

export interface Service {
  name: string;
  description: string | null;
  /** Canonical addresses and CIDR prefixes, IPv4 and IPv6. Empty while a DNS-named service is unresolved. */
  addresses: string[];
  /** Set for services that came from a DNS name (MUD `ietf-acldns:*-dnsname`). */
  dnsName: string | null;
  protocol: Protocol;
  ports: PortRange[];
  role: ServiceRole | null;
  createdAt: string;
}

export type FlowTarget = { kind: 'segment'; name: string } | { kind: 'service'; name: string };

export interface Flow {
  id: string;
  from: string;
  to: FlowTarget;
  /** `null`: use the target service's protocol and ports. */
  protocol: Protocol | null;
  ports: PortRange[];
  /** An MQTT flow (enforced by the gateway) instead of a network flow (enforced by netd). */
  mqttTopicPrefix: string | null;
  direction: Direction;
  /** Narrows the source to devices of this type inside `from` (flows from a MUD profile). */
  fromDeviceType: string | null;
  /** Narrows a segment target to devices of this type inside it. */
  toDeviceType: string | null;
  description: string | null;
  /** `manual`, or `mud:<mud-url>` for flows imported from a MUD file. */
  source: string;
  createdAt: string;
}

/** A device as the compilers need it. */
export interface DeviceEndpoint {
  id: string;
  type: string;
  segment: string | null;
  state: string;
  addresses: string[];
}

/** Everything netd needs, read in one transaction. */
export interface SegmentsSnapshot {
  segments: Segment[];
  services: Service[];
  flows: Flow[];
  /** Devices that have at least one address. */
  devices: DeviceEndpoint[];
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const name = z.string().regex(NAME_PATTERN, 'lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63');
const description = z.string().trim().min(1).max(512).nullable().optional();
export const DEVICE_TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
export const MAX_PORT_RANGES = 64;
export const MAX_SERVICE_ADDRESSES = 256;
export const MAX_DEVICE_ADDRESSES = 16;
export const MAX_TOPIC_PREFIX_CHARS = 256;

/** `554`, `"554"`, `"8000-8010"`, `[8000, 8010]` or `{ "from": 8000, "to": 8010 }`. */
export const portSpec = z.union([
  z.number(),
  z.string().max(11),
  z.tuple([z.number(), z.number()]),
  z.strictObject({ from: z.number(), to: z.number() }),
]);

export const segmentInputSchema = z.strictObject({
  name,
  kind: z.enum(SEGMENT_KINDS).default('other'),
  description,
});
export type SegmentInput = z.input<typeof segmentInputSchema>;

export const serviceInputSchema = z.strictObject({
  name,
  description,
  addresses: z.array(z.string()).max(MAX_SERVICE_ADDRESSES).default([]),
  dnsName: z.string().max(253).regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be a DNS name').nullable().optional(),
  protocol: z.enum(PROTOCOLS).default('any'),
  ports: z.array(portSpec).max(MAX_PORT_RANGES).default([]),
  role: z.enum(SERVICE_ROLES).nullable().optional(),
});
export type ServiceInput = z.input<typeof serviceInputSchema>;

export const flowInputSchema = z.strictObject({
  id: z.string().regex(ID_PATTERN, 'id: 1-63 lower-case letters, digits, ".", "_" or "-"').optional(),
  from: name,
  toSegment: name.optional(),
  toService: name.optional(),
  protocol: z.enum(PROTOCOLS).optional(),
  ports: z.array(portSpec).max(MAX_PORT_RANGES).optional(),
  mqttTopicPrefix: z.string().min(1).max(MAX_TOPIC_PREFIX_CHARS).optional(),
  direction: z.enum(DIRECTIONS).default('one-way'),
  fromDeviceType: z.string().regex(DEVICE_TYPE_PATTERN, 'lower-case device type such as camera').optional(),
  toDeviceType: z.string().regex(DEVICE_TYPE_PATTERN, 'lower-case device type such as camera').optional(),
  description,
});
export type FlowInput = z.input<typeof flowInputSchema>;

export const deviceAddressesInputSchema = z.array(z.string()).max(MAX_DEVICE_ADDRESSES);

/**
 * Parses one port spec into an inclusive range, or a message. Ports are destination ports,
 * 1-65535 (port 0 is not a port a connection can be made to).
 */
export function parsePortSpec(spec: z.infer<typeof portSpec>): PortRange | string {
  let lo: number;
  let hi: number;
  if (typeof spec === 'number') {
    lo = spec;
    hi = spec;
  } else if (typeof spec === 'string') {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(spec.trim());
    if (m === null) return `"${spec}" is not a port or a range such as 8000-8010`;
    lo = Number(m[1]);
    hi = m[2] === undefined ? lo : Number(m[2]);
  } else if (Array.isArray(spec)) {
    [lo, hi] = spec;
  } else {
    lo = spec.from;
    hi = spec.to;
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
    return `port range ${lo}-${hi} is invalid: ports are 1-65535, low to high`;
  }
  return [lo, hi];
}

/** Sorted, overlapping and adjacent ranges merged: one canonical form for storage and rendering. */
export function normalizePorts(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/**
 * An MQTT topic prefix is whole topic levels, no wildcards, not a `$` topic. `{device}` and
 * `{segment}` as a whole level stand for the device's id and segment. Returns the canonical prefix
 * (no trailing `/`) or a message.
 */
export function parseTopicPrefix(prefix: string): string | { error: string } {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p.length === 0) return { error: 'mqttTopicPrefix must name at least one topic level' };
  // INVARIANT: `$`-topics are broker-internal (gateway default policy); a flow never opens them.
  if (p.startsWith('$')) return { error: 'mqttTopicPrefix must not start with "$" (reserved topics)' };
  for (const level of p.split('/')) {
    if (level === '') return { error: `mqttTopicPrefix "${prefix}" has an empty level` };
    // [MQTT-4.7.1-1] wildcards are for filters; a prefix is a literal subtree.
    if (level.includes('+') || level.includes('#')) return { error: `mqttTopicPrefix "${prefix}" contains a wildcard; give a literal prefix` };
    if (level.includes('\u0000')) return { error: 'mqttTopicPrefix contains U+0000' };
    if (level.includes('{') && level !== '{device}' && level !== '{segment}') {
      return { error: `mqttTopicPrefix "${prefix}": only {device} and {segment} may be used, as a whole level` };
    }
  }
  return p;
}
