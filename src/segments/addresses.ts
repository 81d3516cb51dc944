/**
 * IP addresses and prefixes are untrusted input that ends up in an nftables ruleset: each is
 * parsed, checked and rewritten to one canonical text (RFC 5952 for IPv6) before it is stored, so
 * the ruleset renderer only ever prints values it produced itself.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export interface Prefix {
  family: IpFamily;
  /** Canonical text: `10.0.0.0/24`, `2001:db8::/32`, or a bare address when the prefix is full length. */
  text: string;
  /** Network address as an integer (host bits zero). */
  network: bigint;
  length: number;
}

function v4ToBig(a: string): bigint {
  let n = 0n;
  for (const part of a.split('.')) n = (n << 8n) | BigInt(Number.parseInt(part, 10));
  return n;
}

function bigToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

function v6ToBig(a: string): bigint {
  let s = a;
  // An embedded dotted quad (`::ffff:10.0.0.1`) becomes two hextets.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v = v4ToBig(tail);
    s = `${s.slice(0, lastColon + 1)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = s.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  return n;
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (first if tied, length ≥ 2) of zero groups as `::`. */
function bigToV6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * Parses an address or CIDR prefix. Returns the canonical prefix, or a message saying what is wrong.
 * Refuses host bits below the prefix (`10.0.0.1/24`): it is almost always a typo for a host or a
 * network, and guessing which would widen or narrow a rule silently.
 */
export function parsePrefix(input: string): Prefix | { error: string } {
  if (typeof input !== 'string' || input.length === 0 || input.length > 64) return { error: 'must be an IPv4 or IPv6 address or CIDR prefix' };
  const slash = input.indexOf('/');
  const addr = slash < 0 ? input : input.slice(0, slash);
  const lenText = slash < 0 ? undefined : input.slice(slash + 1);
  let family: IpFamily;
  let value: bigint;
  if (isIPv4(addr)) {
    family = 4;
    value = v4ToBig(addr);
  } else if (isIPv6(addr) && !addr.includes('%')) {
    family = 6;
    value = v6ToBig(addr);
  } else {
    return { error: `"${input}" is not an IPv4 or IPv6 address or CIDR prefix` };
  }
  const bits = family === 4 ? 32 : 128;
  let length = bits;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > bits) return { error: `"${input}": prefix length must be 0-${bits}` };
    length = Number(lenText);
  }
  const hostMask = (1n << BigInt(bits - length)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = value & ~hostMask & ((1n << BigInt(bits)) - 1n);
    const fmt = family === 4 ? bigToV4(network) : bigToV6(network);
    return { error: `"${input}" has host bits set; the network is ${fmt}/${length} (or give the host address without a prefix)` };
  }
  const text = family === 4 ? bigToV4(value) : bigToV6(value);
  return { family, network: value, length, text: length === bits ? text : `${text}/${length}` };
}

/** Whether prefix `a` lies inside prefix `b` (same family). */
export function prefixWithin(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family || a.length < b.length) return false;
  const bits = a.family === 4 ? 32 : 128;
  const shift = BigInt(bits - b.length);
  return (a.network >> shift) === (b.network >> shift);
}
