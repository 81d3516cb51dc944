/**
 * Compiler to nftables: a pure function from the segments snapshot to the complete text of one
 * `nft -f` transaction that replaces Zeta's own table `inet zeta` atomically.
 *
 *   table inet zeta            (creates it if missing, so the delete below cannot fail)
 *   delete table inet zeta     (drops the old sets and chains)
 *   table inet zeta { ... }    (the new ruleset)
 *
 * nft applies a file as one netlink batch: either all of it commits or none of it does, so the
 * kernel never runs a half-replaced ruleset, and a ruleset that fails to load leaves the previous
 * one in force.
 *
 * INVARIANTs:
 * - Only `inet zeta` is ever named: other tables (the distribution's firewall, container runtimes)
 *   are never touched.
 * - Default drop: the forward chain's policy is drop and it ends in an explicit counted drop.
 * - Blocked (suspended, revoked, decommissioned) and quarantined devices are matched *before*
 *   `ct state established,related accept`: a quarantine cuts connections that are already open.
 * - Every value printed into the ruleset is either a name matching NAME_PATTERN / the device type
 *   pattern, a canonical address from addresses.ts, or an integer: nothing of the input is printed
 *   verbatim, so nothing can inject nft syntax.
 * - Every rule has a `counter` and a `comment`; flow rules name their flow id.
 */
import { createHash } from 'node:crypto';
import { ID_PATTERN } from '../common/ids.js';
import { parsePrefix } from './addresses.js';
import {
  DEVICE_TYPE_PATTERN, NAME_PATTERN, QUARANTINE_SEGMENT,
  type DeviceEndpoint, type PortRange, type Protocol, type SegmentsSnapshot, type Service,
} from './model.js';

export const NFT_TABLE = 'zeta';
export const NFT_FAMILY = 'inet';

/** Device states whose addresses go into their segment's set. */
const ROUTABLE_STATES = new Set(['active', 'registered']);

export interface NftRuleInfo {
  chain: string;
  comment: string;
  /** The flow this rule comes from, or null for the fixed rules (`zeta:*`). */
  flowId: string | null;
}

export interface CompiledNftRuleset {
  /** The text for `nft -f -`. */
  text: string;
  /** SHA-256 of `text`, hex: netd's "what is applied" identity. */
  sha256: string;
  rules: NftRuleInfo[];
  /** Flows that allow nothing on the network, devices that landed nowhere, and why. */
  warnings: string[];
  stats: { segments: number; services: number; networkFlows: number; mqttFlows: number; devices: number; blockedDevices: number; quarantinedDevices: number };
}

export interface NftCompileOptions {
  /** Base chain priority (nft `priority filter` is 0). */
  priority?: number;
}

type Family = 4 | 6;

interface AddrSets { v4: Set<string>; v6: Set<string> }

function newSets(): AddrSets {
  return { v4: new Set(), v6: new Set() };
}

function addAddress(sets: AddrSets, address: string): boolean {
  // INVARIANT (above): re-canonicalise; a stored value that does not parse is skipped, never printed.
  const p = parsePrefix(address);
  if ('error' in p) return false;
  (p.family === 4 ? sets.v4 : sets.v6).add(p.text);
  return true;
}

function sortAddresses(list: Iterable<string>): string[] {
  return [...list].sort((a, b) => {
    const pa = parsePrefix(a);
    const pb = parsePrefix(b);
    if ('error' in pa || 'error' in pb) return a < b ? -1 : 1;
    return pa.network < pb.network ? -1 : pa.network > pb.network ? 1 : pa.length - pb.length;
  });
}

function renderSet(name: string, family: Family, elements: Iterable<string>): string {
  const els = sortAddresses(elements);
  const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const list = els.length === 0 ? '' : `\t\telements = { ${els.join(', ')} }\n`;
  return `\tset ${name} {\n\t\ttype ${type}\n\t\tflags interval\n\t\tauto-merge\n${list}\t}`;
}

const setName = {
  segment: (seg: string, fam: Family): string => `seg_${seg}_v${fam}`,
  // Types never contain `_`, so the last `__` separates the segment from the type.
  typed: (seg: string, type: string, fam: Family): string => `st_${seg}__${type}_v${fam}`,
  service: (svc: string, fam: Family): string => `svc_${svc}_v${fam}`,
  blocked: (fam: Family): string => `blocked_v${fam}`,
};

function portsExpr(ports: readonly PortRange[]): string {
  const items = ports.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`));
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

/** The L4 part of a rule; `dir` chooses which port the flow's ports constrain. */
function l4Expr(protocol: Protocol, ports: readonly PortRange[], fam: Family, dir: 'dport' | 'sport'): string {
  switch (protocol) {
    case 'tcp':
    case 'udp':
      return ports.length === 0 ? `meta l4proto ${protocol}` : `${protocol} ${dir} ${portsExpr(ports)}`;
    case 'icmp':
      return fam === 4 ? 'meta l4proto icmp' : 'meta l4proto ipv6-icmp';
    case 'any':
      return '';
  }
}

function rule(parts: string[], verdict: string, comment: string): string {
  return `${parts.filter((p) => p !== '').join(' ')} counter ${verdict} comment "${comment}"`.trimStart();
}

interface Endpoint { set: (fam: Family) => string; label: string }

export function compileNftRuleset(snap: SegmentsSnapshot, options: NftCompileOptions = {}): CompiledNftRuleset {
  const warnings: string[] = [];
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority) || priority < -400 || priority > 400) throw new RangeError('priority must be an integer in -400..400');

  const segments = new Map(snap.segments.filter((s) => NAME_PATTERN.test(s.name)).map((s) => [s.name, s]));
  if (!segments.has(QUARANTINE_SEGMENT)) {
    segments.set(QUARANTINE_SEGMENT, { name: QUARANTINE_SEGMENT, kind: 'sensitivity', description: null, builtin: true, createdAt: '' });
  }
  const services = new Map(snap.services.filter((s) => NAME_PATTERN.test(s.name)).map((s) => [s.name, s]));

  // ---- device placement ----
  const segSets = new Map<string, AddrSets>([...segments.keys()].map((n) => [n, newSets()]));
  const typedWanted = new Set<string>();
  for (const f of snap.flows) {
    if (f.fromDeviceType !== null) typedWanted.add(`${f.from}\u0000${f.fromDeviceType}`);
    if (f.toDeviceType !== null && f.to.kind === 'segment') typedWanted.add(`${f.to.name}\u0000${f.toDeviceType}`);
  }
  const typedSets = new Map<string, AddrSets>();
  for (const k of typedWanted) {
    const [seg = '', type = ''] = k.split('\u0000');
    if (segments.has(seg) && DEVICE_TYPE_PATTERN.test(type)) typedSets.set(k, newSets());
  }
  const blocked = newSets();
  let blockedDevices = 0;
  let quarantinedDevices = 0;
  const place = (d: DeviceEndpoint, target: AddrSets): void => {
    for (const a of d.addresses) if (!addAddress(target, a)) warnings.push(`device ${d.id}: address ${JSON.stringify(a)} is not valid; left out`);
  };
  for (const d of snap.devices) {
    if (d.state === 'quarantined' || d.segment === QUARANTINE_SEGMENT) {
      place(d, segSets.get(QUARANTINE_SEGMENT)!);
      quarantinedDevices++;
    } else if (!ROUTABLE_STATES.has(d.state)) {
      place(d, blocked);
      blockedDevices++;
    } else if (d.segment === null || !segSets.has(d.segment)) {
      warnings.push(`device ${d.id}: ${d.segment === null ? 'no segment' : `segment ${d.segment} does not exist`}; its traffic is dropped`);
    } else {
      place(d, segSets.get(d.segment)!);
      const typed = typedSets.get(`${d.segment}\u0000${d.type}`);
      if (typed !== undefined) place(d, typed);
    }
  }

  const serviceSets = new Map<string, AddrSets>();
  for (const s of services.values()) {
    const sets = newSets();
    for (const a of s.addresses) if (!addAddress(sets, a)) warnings.push(`service ${s.name}: address ${JSON.stringify(a)} is not valid; left out`);
    serviceSets.set(s.name, sets);
  }

  // ---- rules ----
  const rules: NftRuleInfo[] = [];
  const forward: string[] = [];
  const qOut: string[] = [];
  const qIn: string[] = [];
  const push = (chain: string, list: string[], text: string, comment: string, flowId: string | null): void => {
    list.push(text);
    rules.push({ chain, comment, flowId });
  };
  const fixed = (chain: string, list: string[], parts: string[], verdict: string, comment: string): void =>
    push(chain, list, rule(parts, verdict, comment), comment, null);

  const fam4 = (fam: Family): string => (fam === 4 ? 'ip' : 'ip6');
  for (const fam of [4, 6] as const) {
    fixed('forward', forward, [`${fam4(fam)} saddr @${setName.blocked(fam)}`], 'drop', 'zeta:blocked');
    fixed('forward', forward, [`${fam4(fam)} daddr @${setName.blocked(fam)}`], 'drop', 'zeta:blocked');
  }
  for (const fam of [4, 6] as const) {
    fixed('forward', forward, [`${fam4(fam)} saddr @${setName.segment(QUARANTINE_SEGMENT, fam)}`], 'jump quarantine_out', 'zeta:quarantine');
    fixed('forward', forward, [`${fam4(fam)} daddr @${setName.segment(QUARANTINE_SEGMENT, fam)}`], 'jump quarantine_in', 'zeta:quarantine');
  }
  fixed('forward', forward, ['ct state established,related'], 'accept', 'zeta:established');
  fixed('forward', forward, ['ct state invalid'], 'drop', 'zeta:invalid');

  const segEndpoint = (seg: string, type: string | null): Endpoint => (type === null
    ? { set: (fam) => setName.segment(seg, fam), label: `segment ${seg}` }
    : { set: (fam) => setName.typed(seg, type, fam), label: `segment ${seg} type ${type}` });

  let networkFlows = 0;
  let mqttFlows = 0;
  for (const f of snap.flows) {
    if (f.mqttTopicPrefix !== null) {
      mqttFlows++;
      continue;
    }
    const skip = (why: string): void => { warnings.push(`flow ${f.id}: ${why}; not rendered (its traffic is dropped)`); };
    if (!ID_PATTERN.test(f.id)) { skip('id is not a safe name'); continue; }
    if (!segments.has(f.from)) { skip(`segment ${f.from} does not exist`); continue; }
    if (f.fromDeviceType !== null && !DEVICE_TYPE_PATTERN.test(f.fromDeviceType)) { skip('fromDeviceType is not a device type'); continue; }
    if (f.toDeviceType !== null && !DEVICE_TYPE_PATTERN.test(f.toDeviceType)) { skip('toDeviceType is not a device type'); continue; }
    let svc: Service | undefined;
    let to: Endpoint;
    if (f.to.kind === 'segment') {
      if (!segments.has(f.to.name)) { skip(`segment ${f.to.name} does not exist`); continue; }
      if (f.to.name === QUARANTINE_SEGMENT) { skip('no flow may lead into quarantine'); continue; }
      to = segEndpoint(f.to.name, f.toDeviceType);
    } else {
      svc = services.get(f.to.name);
      if (svc === undefined) { skip(`service ${f.to.name} does not exist`); continue; }
      const name = svc.name;
      to = { set: (fam) => setName.service(name, fam), label: `service ${name}` };
    }
    const protocol: Protocol = f.protocol ?? svc?.protocol ?? 'any';
    const ports: readonly PortRange[] = f.protocol === null ? svc?.ports ?? [] : f.ports;
    if (ports.some(([lo, hi]) => !Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi)) { skip('port range out of bounds'); continue; }
    if (ports.length > 0 && protocol !== 'tcp' && protocol !== 'udp') { skip(`ports given for protocol ${protocol}`); continue; }
    if (svc !== undefined && svc.addresses.length === 0) {
      warnings.push(`flow ${f.id}: service ${svc.name} has no addresses${svc.dnsName === null ? '' : ` (DNS name ${svc.dnsName} not resolved)`}; it allows nothing on the network yet`);
    }
    networkFlows++;
    const from = segEndpoint(f.from, f.fromDeviceType);
    if (f.from === QUARANTINE_SEGMENT) {
      // INVARIANT (model.ts): quarantine reaches only remediation services, and only one way.
      if (svc?.role !== 'remediation') { networkFlows--; skip('quarantine may reach only a remediation service'); continue; }
      for (const fam of [4, 6] as const) {
        const c = `flow:${f.id} v${fam}`;
        push('quarantine_out', qOut, rule([`${fam4(fam)} daddr @${to.set(fam)}`, l4Expr(protocol, ports, fam, 'dport')], 'accept', c), c, f.id);
        const r = `flow:${f.id} v${fam} reply`;
        push('quarantine_in', qIn, rule([`${fam4(fam)} saddr @${to.set(fam)}`, l4Expr(protocol, ports, fam, 'sport'), 'ct state established,related'], 'accept', r), r, f.id);
      }
      continue;
    }
    for (const fam of [4, 6] as const) {
      const l4 = l4Expr(protocol, ports, fam, 'dport');
      const c = `flow:${f.id} v${fam}`;
      push('forward', forward, rule([`${fam4(fam)} saddr @${from.set(fam)}`, `${fam4(fam)} daddr @${to.set(fam)}`, l4], 'accept', c), c, f.id);
      if (f.direction === 'both') {
        const r = `flow:${f.id} v${fam} reverse`;
        push('forward', forward, rule([`${fam4(fam)} saddr @${to.set(fam)}`, `${fam4(fam)} daddr @${from.set(fam)}`, l4], 'accept', r), r, f.id);
      }
    }
  }
  fixed('forward', forward, [], 'drop', 'zeta:default-drop');
  fixed('quarantine_out', qOut, [], 'drop', 'zeta:quarantine-drop');
  fixed('quarantine_in', qIn, [], 'drop', 'zeta:quarantine-drop');

  // ---- sets ----
  const sets: string[] = [];
  for (const fam of [4, 6] as const) sets.push(renderSet(setName.blocked(fam), fam, fam === 4 ? blocked.v4 : blocked.v6));
  for (const [name, s] of [...segSets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const fam of [4, 6] as const) sets.push(renderSet(setName.segment(name, fam), fam, fam === 4 ? s.v4 : s.v6));
  }
  for (const [k, s] of [...typedSets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [seg = '', type = ''] = k.split('\u0000');
    for (const fam of [4, 6] as const) sets.push(renderSet(setName.typed(seg, type, fam), fam, fam === 4 ? s.v4 : s.v6));
  }
  for (const [name, s] of [...serviceSets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const fam of [4, 6] as const) sets.push(renderSet(setName.service(name, fam), fam, fam === 4 ? s.v4 : s.v6));
  }

  const chain = (name: string, head: string | null, body: string[]): string =>
    `\tchain ${name} {\n${head === null ? '' : `\t\t${head}\n`}${body.map((r) => `\t\t${r}\n`).join('')}\t}`;
  const body = [
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    ...sets,
    '',
    chain('forward', `type filter hook forward priority ${priority}; policy drop;`, forward),
    '',
    chain('quarantine_out', null, qOut),
    '',
    chain('quarantine_in', null, qIn),
    '}',
    '',
  ].join('\n');
  const text = `# Generated by Zeta (src/segments/compile-nft.ts). Replaced as a whole by netd; do not edit.\n${body}`;
  return {
    text,
    sha256: createHash('sha256').update(text).digest('hex'),
    rules,
    warnings,
    stats: {
      segments: segments.size, services: services.size, networkFlows, mqttFlows,
      devices: snap.devices.length, blockedDevices, quarantinedDevices,
    },
  };
}

/**
 * The ruleset netd loads when it has never loaded one and cannot read the snapshot: the table with
 * a forward chain that drops everything (fail closed, ARCHITECTURE.md Conventions).
 */
export function renderLockdownRuleset(priority = 0): string {
  return [
    '# Zeta lockdown: the segments snapshot could not be read; all forwarded traffic is dropped.',
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    '\tchain forward {',
    `\t\ttype filter hook forward priority ${priority}; policy drop;`,
    '\t\tcounter drop comment "zeta:lockdown"',
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** Text that removes Zeta's table and nothing else (`zeta netd --remove`, tests). */
export function renderRemoveRuleset(): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n`;
}
