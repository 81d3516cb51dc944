/**
 * Manufacturer Usage Description (RFC 8520) files as a source of a device type's allowed flows.
 *
 * A MUD file is untrusted input: it is bounded (bytes → depth and node count → shape) before any
 * of it is interpreted, and a file that is not well-formed is refused whole (ZETA_ERR_MUD_INVALID).
 *
 * INVARIANT: an ACE is mapped only when every one of its match conditions can be expressed as a
 * flow. Dropping a condition we cannot express would make the allow wider than the manufacturer
 * asked for, so such an ACE is reported in `unmapped` with the reason, never half-mapped.
 * Entries that describe return traffic of a connection another entry allows (RFC 8520 §1.8: the
 * two ACLs describe both directions) are covered by connection tracking and listed in `covered`.
 */
import { createHash } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { parsePrefix } from './addresses.js';
import { z } from 'zod';
import { DEVICE_TYPE_PATTERN, NAME_PATTERN, type FlowInput, type PortRange, type Protocol, type ServiceInput } from './model.js';

export const MUD_LIMITS = {
  bytes: 256 * 1024,
  depth: 24,
  nodes: 20_000,
  acls: 64,
  acesPerAcl: 256,
  stringChars: 1024,
} as const;

export type MudPeer = { segment: string } | { service: string };

/** How the abstractions of a MUD file map onto this site's segments and services. */
export interface MudMapping {
  /** The segment holding devices of this type: from-device entries start here, to-device entries end here. */
  segment: string;
  /** Narrows the flows to devices of this type inside `segment`. */
  deviceType?: string | undefined;
  /** `ietf-mud:mud.controller` URIs (RFC 8520 §8.2). */
  controllers?: Readonly<Record<string, MudPeer>> | undefined;
  /** `my-controller` (§8.3). */
  myController?: MudPeer | undefined;
  /** `local-networks` (§8.4). */
  localNetworks?: MudPeer | undefined;
  /** `same-manufacturer` (§8.5). */
  sameManufacturer?: MudPeer | undefined;
  /** DNS names (`ietf-acldns:*-dnsname`) to existing services; others become new unresolved services. */
  dnsServices?: Readonly<Record<string, string>> | undefined;
}

export interface MudEntryNote {
  acl: string;
  ace: string;
  reason: string;
}

export interface MudIntent {
  mudUrl: string;
  systeminfo: string | null;
  mfgName: string | null;
  modelName: string | null;
  /** Services the flows need that the mapping did not name (DNS names, literal networks). */
  services: ServiceInput[];
  flows: FlowInput[];
  /** ACEs that could not be expressed; none of their traffic is allowed. */
  unmapped: MudEntryNote[];
  /** ACEs allowed without a flow of their own (return traffic under connection tracking). */
  covered: MudEntryNote[];
}

const peerSchema = z.union([z.strictObject({ segment: z.string().regex(NAME_PATTERN) }), z.strictObject({ service: z.string().regex(NAME_PATTERN) })]);

/** The mapping arrives from an API body or a CLI file: checked like any other input. */
export const mudMappingSchema = z.strictObject({
  segment: z.string().regex(NAME_PATTERN),
  deviceType: z.string().regex(DEVICE_TYPE_PATTERN).optional(),
  controllers: z.record(z.string().min(1).max(1024), peerSchema).optional(),
  myController: peerSchema.optional(),
  localNetworks: peerSchema.optional(),
  sameManufacturer: peerSchema.optional(),
  dnsServices: z.record(z.string().min(1).max(253), z.string().regex(NAME_PATTERN)).optional(),
});

/** Own properties only: a DNS name such as `constructor` must not find Object.prototype's. */
function lookup<T>(rec: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return rec !== undefined && Object.hasOwn(rec, key) ? rec[key] : undefined;
}

function invalid(message: string): ZetaError {
  return new ZetaError('ZETA_ERR_MUD_INVALID', `MUD file not accepted: ${message}`);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Depth and node count before any interpretation: a small file can still be a deep or wide one. */
function checkBounds(v: unknown): void {
  let nodes = 0;
  const walk = (x: unknown, depth: number, path: string): void => {
    if (++nodes > MUD_LIMITS.nodes) throw invalid(`more than ${MUD_LIMITS.nodes} JSON values`);
    if (depth > MUD_LIMITS.depth) throw invalid(`nested deeper than ${MUD_LIMITS.depth} levels at ${path}`);
    if (typeof x === 'string' && x.length > MUD_LIMITS.stringChars) throw invalid(`string longer than ${MUD_LIMITS.stringChars} characters at ${path}`);
    if (Array.isArray(x)) x.forEach((e, i) => walk(e, depth + 1, `${path}[${i}]`));
    else if (isObj(x)) for (const [k, e] of Object.entries(x)) walk(e, depth + 1, `${path}.${k}`);
  };
  walk(v, 0, '$');
}

function str(o: Obj, key: string, where: string, required: true): string;
function str(o: Obj, key: string, where: string, required: false): string | null;
function str(o: Obj, key: string, where: string, required: boolean): string | null {
  const v = o[key];
  if (v === undefined && !required) return null;
  if (typeof v !== 'string' || v.length === 0) throw invalid(`${where}.${key} must be a non-empty string`);
  return v;
}

function obj(o: Obj, key: string, where: string): Obj | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalid(`${where}.${key} must be an object`);
  return v;
}

/** RFC 8520 §2.1 / §10: policy → access-lists → access-list → [{ name }]. */
function policyAclNames(mud: Obj, key: string): string[] {
  const policy = obj(mud, key, 'ietf-mud:mud');
  if (policy === undefined) return [];
  const lists = obj(policy, 'access-lists', `ietf-mud:mud.${key}`);
  if (lists === undefined) return [];
  const list = lists['access-list'];
  if (!Array.isArray(list)) throw invalid(`ietf-mud:mud.${key}.access-lists.access-list must be an array`);
  return list.map((e, i) => {
    if (!isObj(e)) throw invalid(`ietf-mud:mud.${key}.access-lists.access-list[${i}] must be an object`);
    return str(e, 'name', `ietf-mud:mud.${key}.access-lists.access-list[${i}]`, true);
  });
}

/** RFC 8519 port-range-or-operator → inclusive ranges, or why not. */
function portMatch(v: unknown, where: string): PortRange[] | string {
  if (!isObj(v)) throw invalid(`${where} must be an object`);
  const port = (k: string): number => {
    const p = v[k];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) throw invalid(`${where}.${k} must be a port number 0-65535`);
    return p;
  };
  if (v['lower-port'] !== undefined || v['upper-port'] !== undefined) {
    const lo = port('lower-port');
    const hi = port('upper-port');
    if (lo > hi) throw invalid(`${where}: lower-port is above upper-port`);
    return [[Math.max(lo, 1), hi]];
  }
  const op = v.operator ?? 'eq';
  const p = port('port');
  switch (op) {
    case 'eq': return p === 0 ? 'port 0 cannot be matched' : [[p, p]];
    case 'lte': return p === 0 ? 'port range is empty' : [[1, p]];
    case 'gte': return [[Math.max(p, 1), 65535]];
    case 'neq': return [...(p > 1 ? [[1, p - 1] as PortRange] : []), ...(p < 65535 ? [[p + 1, 65535] as PortRange] : [])];
    default: throw invalid(`${where}.operator must be eq, lte, gte or neq`);
  }
}

/** Service name for a DNS name: the name itself where it fits our name pattern, else a stable hash. */
export function serviceNameForDns(dns: string): string {
  const n = dns.toLowerCase().replace(/\.$/, '');
  return NAME_PATTERN.test(n) ? n : `dns-${createHash('sha256').update(n).digest('hex').slice(0, 16)}`;
}

function serviceNameForNetwork(text: string): string {
  return `net-${text.replace(/[:/]/g, '_')}`.slice(0, 63);
}

interface MappedAce { flow: FlowInput; service?: ServiceInput }

const L3_KEYS = new Set(['protocol', 'ietf-acldns:dst-dnsname', 'ietf-acldns:src-dnsname',
  'destination-ipv4-network', 'source-ipv4-network', 'destination-ipv6-network', 'source-ipv6-network']);
const L4_KEYS = new Set(['source-port', 'destination-port', 'ietf-mud:direction-initiated']);
const MUD_MATCH_KEYS = new Set(['manufacturer', 'same-manufacturer', 'model', 'local-networks', 'controller', 'my-controller']);

/**
 * One ACE. `fromDevice`: the ACE sits in a from-device ACL (the device is the source).
 * Returns the flow, a `covered` reason, or an `unmapped` reason.
 */
function mapAce(ace: Obj, where: string, fromDevice: boolean, mapping: MudMapping): MappedAce | { covered: string } | { unmapped: string } {
  const matches = obj(ace, 'matches', where) ?? {};
  const actions = obj(ace, 'actions', where);
  const fwd = actions?.forwarding;
  if (fwd !== 'accept' && fwd !== 'drop' && fwd !== 'reject') throw invalid(`${where}.actions.forwarding must be accept, drop or reject`);
  if (fwd !== 'accept') return { unmapped: `${fwd} entry: Zeta denies by default; a narrowing it imposes on later entries is not represented` };

  const unsupported = Object.keys(matches).filter((k) => !['ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'ietf-mud:mud'].includes(k));
  if (unsupported.length > 0) return { unmapped: `match on ${unsupported.join(', ')} cannot be expressed as a flow` };
  const v4 = obj(matches, 'ipv4', `${where}.matches`);
  const v6 = obj(matches, 'ipv6', `${where}.matches`);
  if (v4 !== undefined && v6 !== undefined) throw invalid(`${where}.matches has both ipv4 and ipv6`);
  const l3 = v4 ?? v6 ?? {};
  const l3Unsupported = Object.keys(l3).filter((k) => !L3_KEYS.has(k));
  if (l3Unsupported.length > 0) return { unmapped: `match on ${l3Unsupported.join(', ')} cannot be expressed as a flow` };

  const tcp = obj(matches, 'tcp', `${where}.matches`);
  const udp = obj(matches, 'udp', `${where}.matches`);
  const icmp = obj(matches, 'icmp', `${where}.matches`);
  if ([tcp, udp, icmp].filter((x) => x !== undefined).length > 1) throw invalid(`${where}.matches has more than one of tcp, udp, icmp`);
  let protocol: Protocol = tcp !== undefined ? 'tcp' : udp !== undefined ? 'udp' : icmp !== undefined ? 'icmp' : 'any';
  const pn = l3.protocol;
  if (pn !== undefined) {
    if (typeof pn !== 'number' || !Number.isInteger(pn) || pn < 0 || pn > 255) throw invalid(`${where}: protocol must be an integer 0-255`);
    const named: Protocol | undefined = pn === 6 ? 'tcp' : pn === 17 ? 'udp' : pn === 1 || pn === 58 ? 'icmp' : undefined;
    if (named === undefined) return { unmapped: `IP protocol ${pn} is not tcp, udp or icmp` };
    if (protocol !== 'any' && protocol !== named) throw invalid(`${where}: protocol ${pn} contradicts the ${protocol} match`);
    protocol = named;
  }
  if (icmp !== undefined && Object.keys(icmp).length > 0) return { unmapped: 'ICMP type/code matches cannot be expressed as a flow' };
  const l4 = tcp ?? udp ?? {};
  const l4Unsupported = Object.keys(l4).filter((k) => !L4_KEYS.has(k));
  if (l4Unsupported.length > 0) return { unmapped: `match on ${l4Unsupported.join(', ')} cannot be expressed as a flow` };
  const initiated = l4['ietf-mud:direction-initiated'];
  if (initiated !== undefined && initiated !== 'from-device' && initiated !== 'to-device') {
    throw invalid(`${where}: ietf-mud:direction-initiated must be from-device or to-device`);
  }
  if (initiated !== undefined && tcp === undefined) throw invalid(`${where}: ietf-mud:direction-initiated is defined for tcp only (RFC 8520 §8.1)`);
  const dport = l4['destination-port'] === undefined ? undefined : portMatch(l4['destination-port'], `${where}.destination-port`);
  const sport = l4['source-port'] === undefined ? undefined : portMatch(l4['source-port'], `${where}.source-port`);
  if (typeof dport === 'string') return { unmapped: dport };
  if (typeof sport === 'string') return { unmapped: sport };

  // Return traffic: the device answers a connection the peer opened (from-device), or the peer
  // answers one the device opened (to-device). Connection tracking allows exactly that.
  const peerInitiates = fromDevice ? initiated === 'to-device' : initiated === 'from-device';
  if (peerInitiates || (initiated === undefined && sport !== undefined && dport === undefined)) {
    return { covered: 'return traffic of a connection the other ACL allows; accepted by connection tracking (ct state established)' };
  }
  if (sport !== undefined) return { unmapped: 'source-port matches on the initiating side cannot be expressed (flows match destination ports)' };

  // The peer: exactly one of a DNS name, a network, or a MUD abstraction.
  const peers: { peer: MudPeer; service?: ServiceInput }[] = [];
  const wrongSide: string[] = [];
  const dnsKey = fromDevice ? 'ietf-acldns:dst-dnsname' : 'ietf-acldns:src-dnsname';
  const otherDns = fromDevice ? 'ietf-acldns:src-dnsname' : 'ietf-acldns:dst-dnsname';
  const fam = v4 !== undefined ? 'ipv4' : 'ipv6';
  const netKey = fromDevice ? `destination-${fam}-network` : `source-${fam}-network`;
  const otherNet = fromDevice ? `source-${fam}-network` : `destination-${fam}-network`;
  for (const k of [otherDns, otherNet]) if (l3[k] !== undefined) wrongSide.push(k);
  if (wrongSide.length > 0) return { unmapped: `${wrongSide.join(', ')} constrains the device's own side, which a segment flow cannot express` };
  const dns = l3[dnsKey];
  if (dns !== undefined) {
    if (typeof dns !== 'string' || !/^[A-Za-z0-9.-]{1,253}$/.test(dns)) throw invalid(`${where}: ${dnsKey} must be a DNS name`);
    const mapped = lookup(mapping.dnsServices, dns.toLowerCase());
    if (mapped !== undefined) peers.push({ peer: { service: mapped } });
    else {
      const name = serviceNameForDns(dns);
      peers.push({ peer: { service: name }, service: { name, dnsName: dns.toLowerCase(), description: `From MUD: ${dns}` } });
    }
  }
  const net = l3[netKey];
  if (net !== undefined) {
    const p = typeof net === 'string' ? parsePrefix(net) : { error: 'not a string' };
    if ('error' in p) throw invalid(`${where}: ${netKey}: ${p.error}`);
    const name = serviceNameForNetwork(p.text);
    peers.push({ peer: { service: name }, service: { name, addresses: [p.text], description: `From MUD: ${p.text}` } });
  }
  const mm = obj(matches, 'ietf-mud:mud', `${where}.matches`);
  if (mm !== undefined) {
    for (const k of Object.keys(mm)) {
      if (!MUD_MATCH_KEYS.has(k)) return { unmapped: `ietf-mud:mud match ${k} is not known` };
    }
    if (mm.controller !== undefined) {
      if (typeof mm.controller !== 'string') throw invalid(`${where}: controller must be a URI string`);
      const p = lookup(mapping.controllers, mm.controller);
      if (p === undefined) return { unmapped: `controller ${mm.controller} is not mapped to a segment or service` };
      peers.push({ peer: p });
    }
    const abstractions: [string, MudPeer | undefined][] = [
      ['my-controller', mapping.myController], ['local-networks', mapping.localNetworks], ['same-manufacturer', mapping.sameManufacturer],
    ];
    for (const [k, p] of abstractions) {
      if (mm[k] === undefined) continue;
      if (p === undefined) return { unmapped: `${k} is not mapped to a segment or service` };
      peers.push({ peer: p });
    }
    if (mm.manufacturer !== undefined) return { unmapped: `manufacturer ${String(mm.manufacturer)} is not mapped to a segment` };
    if (mm.model !== undefined) return { unmapped: `model ${String(mm.model)} is not mapped to a segment` };
  }
  if (peers.length === 0) return { unmapped: 'no peer (DNS name, network, controller, local-networks, same-manufacturer): it would allow any address' };
  if (peers.length > 1) return { unmapped: 'more than one peer condition in one entry cannot be expressed as one flow' };
  const { peer, service } = peers[0]!;
  const ports = dport?.map(([lo, hi]) => (lo === hi ? lo : `${lo}-${hi}`)) ?? [];
  const base = {
    protocol,
    ...(ports.length > 0 ? { ports } : {}),
    description: `MUD ${where}`.slice(0, 512),
  };
  if (fromDevice) {
    return {
      flow: {
        ...base, from: mapping.segment,
        ...('segment' in peer ? { toSegment: peer.segment } : { toService: peer.service }),
        ...(mapping.deviceType === undefined ? {} : { fromDeviceType: mapping.deviceType }),
      },
      ...(service === undefined ? {} : { service }),
    };
  }
  // A to-device entry: the peer opens connections to the device. Flows start at a segment.
  if (!('segment' in peer)) {
    return { unmapped: `a service (${peer.service}) opening connections to the device cannot be expressed: flows start at a segment; map the peer to a segment` };
  }
  return {
    flow: {
      ...base, from: peer.segment, toSegment: mapping.segment,
      ...(mapping.deviceType === undefined ? {} : { toDeviceType: mapping.deviceType }),
    },
  };
}

/**
 * Parses a MUD file (JSON, RFC 8520 §2 with ietf-access-control-list RFC 8519) into flows and
 * services. Throws ZETA_ERR_MUD_INVALID for a file that is not well-formed; everything it can
 * parse but not express is listed in `unmapped`.
 */
export function parseMud(input: string | Uint8Array, mapping: MudMapping): MudIntent {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (bytes > MUD_LIMITS.bytes) throw invalid(`${bytes} bytes; the limit is ${MUD_LIMITS.bytes}`);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch (e) {
    throw new ZetaError('ZETA_ERR_MUD_INVALID', `MUD file not accepted: not valid JSON (${e instanceof Error ? e.message : 'parse error'})`, { cause: e });
  }
  checkBounds(doc);
  if (!isObj(doc)) throw invalid('the top level must be a JSON object');
  const mud = obj(doc, 'ietf-mud:mud', '$');
  if (mud === undefined) throw invalid('missing "ietf-mud:mud" container');
  if (mud['mud-version'] !== 1) throw invalid('ietf-mud:mud.mud-version must be 1');
  const mudUrl = str(mud, 'mud-url', 'ietf-mud:mud', true);
  let url: URL;
  try {
    url = new URL(mudUrl);
  } catch {
    throw invalid('ietf-mud:mud.mud-url is not a URL');
  }
  // RFC 8520 §2.1: MUD URLs use the "https" scheme.
  if (url.protocol !== 'https:') throw invalid('ietf-mud:mud.mud-url must be an https URL (RFC 8520 §2.1)');
  str(mud, 'last-update', 'ietf-mud:mud', true);
  const cv = mud['cache-validity'];
  if (cv !== undefined && (typeof cv !== 'number' || !Number.isInteger(cv) || cv < 1 || cv > 168)) throw invalid('ietf-mud:mud.cache-validity must be 1-168 hours');
  if (typeof mud['is-supported'] !== 'boolean') throw invalid('ietf-mud:mud.is-supported must be true or false');

  const acls = obj(doc, 'ietf-access-control-list:acls', '$');
  const aclList = acls?.acl ?? [];
  if (!Array.isArray(aclList)) throw invalid('ietf-access-control-list:acls.acl must be an array');
  if (aclList.length > MUD_LIMITS.acls) throw invalid(`more than ${MUD_LIMITS.acls} ACLs`);
  const byName = new Map<string, Obj>();
  aclList.forEach((a, i) => {
    if (!isObj(a)) throw invalid(`acl[${i}] must be an object`);
    const n = str(a, 'name', `acl[${i}]`, true);
    if (byName.has(n)) throw invalid(`ACL name ${n} appears twice`);
    byName.set(n, a);
  });

  const intent: MudIntent = {
    mudUrl,
    systeminfo: str(mud, 'systeminfo', 'ietf-mud:mud', false),
    mfgName: str(mud, 'mfg-name', 'ietf-mud:mud', false),
    modelName: str(mud, 'model-name', 'ietf-mud:mud', false),
    services: [],
    flows: [],
    unmapped: [],
    covered: [],
  };
  const seenServices = new Set<string>();
  const seenFlows = new Set<string>();
  for (const [policy, fromDevice] of [['from-device-policy', true], ['to-device-policy', false]] as const) {
    for (const aclName of policyAclNames(mud, policy)) {
      const acl = byName.get(aclName);
      if (acl === undefined) throw invalid(`${policy} names ACL ${aclName}, which is not in ietf-access-control-list:acls`);
      const type = acl.type;
      const aces = obj(acl, 'aces', `acl ${aclName}`)?.ace ?? [];
      if (!Array.isArray(aces)) throw invalid(`acl ${aclName}: aces.ace must be an array`);
      if (aces.length > MUD_LIMITS.acesPerAcl) throw invalid(`acl ${aclName} has more than ${MUD_LIMITS.acesPerAcl} entries`);
      for (const [i, ace] of aces.entries()) {
        if (!isObj(ace)) throw invalid(`acl ${aclName} entry ${i} must be an object`);
        const aceName = str(ace, 'name', `acl ${aclName} entry ${i}`, true);
        const where = `${aclName}/${aceName}`;
        if (type === 'eth-acl-type') {
          intent.unmapped.push({ acl: aclName, ace: aceName, reason: 'Ethernet ACLs cannot be expressed as IP flows' });
          continue;
        }
        const r = mapAce(ace, where, fromDevice, mapping);
        if ('unmapped' in r) intent.unmapped.push({ acl: aclName, ace: aceName, reason: r.unmapped });
        else if ('covered' in r) intent.covered.push({ acl: aclName, ace: aceName, reason: r.covered });
        else {
          if (r.service !== undefined && !seenServices.has(r.service.name)) {
            seenServices.add(r.service.name);
            intent.services.push(r.service);
          }
          const { description: _d, ...key } = r.flow;
          const k = JSON.stringify(key);
          // The same flow often appears once per address family (v4 and v6 ACLs).
          if (seenFlows.has(k)) {
            intent.covered.push({ acl: aclName, ace: aceName, reason: 'same flow as an earlier entry (other address family)' });
            continue;
          }
          seenFlows.add(k);
          intent.flows.push(r.flow);
        }
      }
    }
  }
  return intent;
}
