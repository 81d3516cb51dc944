/**
 * Cedar's built-in extension types: ipaddr, decimal, datetime, duration (Cedar spec, "Extension
 * types"). Parsers follow cedar-policy-core/src/extensions/*.rs exactly, because a string one side
 * accepts and the other rejects is a different decision.
 */
import {
  CedarDatetime,
  CedarDecimal,
  CedarDuration,
  CedarIp,
  fail,
  longAdd,
  longFromBigInt,
  longSub,
  type Long,
  type Value,
  typeError,
} from './values.js';

export type ExtFn = { arity: 1; f: (a: Value) => Value } | { arity: 2; f: (a: Value, b: Value) => Value };

function asString(v: Value, fn: string): string {
  return typeof v === 'string' ? v : typeError(`string (argument of \`${fn}\`)`, v);
}

function asIp(v: Value): CedarIp {
  return v instanceof CedarIp ? v : typeError('ipaddr', v);
}

function asDecimal(v: Value): CedarDecimal {
  return v instanceof CedarDecimal ? v : typeError('decimal', v);
}

function asDatetime(v: Value): CedarDatetime {
  return v instanceof CedarDatetime ? v : typeError('datetime', v);
}

function asDuration(v: Value): CedarDuration {
  return v instanceof CedarDuration ? v : typeError('duration', v);
}

// ---------------------------------------------------------------------------------------------
// ipaddr (cedar-policy-core/src/extensions/ipaddr.rs; addresses parsed as Rust's std::net does)

/** Rust's Ipv4Addr parser: four dot-separated octets, 1-3 digits, no leading zeros, at most 255. */
function parseV4(s: string): number | undefined {
  let addr = 0;
  let octets = 0;
  let i = 0;
  while (octets < 4) {
    const start = i;
    let n = 0;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
    const len = i - start;
    if (len === 0 || len > 3 || n > 255 || (len > 1 && s.charCodeAt(start) === 48)) return undefined;
    addr = addr * 256 + n;
    octets++;
    if (octets < 4) {
      if (s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === s.length ? addr : undefined;
}

const HEX4 = /^[0-9a-fA-F]{1,4}/;

/** Rust's Ipv6Addr parser, minus embedded IPv4, which Cedar rejects anyway (two colons and dots). */
function parseV6(s: string): bigint | undefined {
  let pos = 0;
  const readGroups = (limit: number): number[] | undefined => {
    const groups: number[] = [];
    for (let i = 0; i < limit; i++) {
      const save = pos;
      if (i > 0) {
        if (s[pos] !== ':') return groups;
        pos++;
      }
      const m = HEX4.exec(s.slice(pos));
      // more than four hex digits makes the whole address invalid in Rust's reader
      if (m === null || /^[0-9a-fA-F]/.test(s.slice(pos + m[0].length))) {
        pos = save;
        return groups;
      }
      groups.push(parseInt(m[0], 16));
      pos += m[0].length;
    }
    return groups;
  };
  const head = readGroups(8);
  if (head === undefined) return undefined;
  let groups: number[];
  if (head.length === 8) {
    groups = head;
  } else {
    if (s[pos] !== ':' || s[pos + 1] !== ':') return undefined;
    pos += 2;
    const tail = readGroups(8 - (head.length + 1));
    if (tail === undefined) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  if (pos !== s.length) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

function parsePrefix(s: string, max: number, maxLen: number): number | undefined {
  if (s.length > maxLen || !/^[0-9]+$/.test(s) || (s.startsWith('0') && s !== '0')) return undefined;
  const n = Number(s);
  return n > max ? undefined : n;
}

export function parseIp(s: string): CedarIp | undefined {
  if (s.length > 43) return undefined;
  // Cedar refuses IPv4-embedded IPv6 (e.g. ::ffff:127.0.0.1): at least two ':' and two '.'.
  let colons = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 58) colons++;
    else if (c === 46) dots++;
  }
  if (colons >= 2 && dots >= 2) return undefined;
  const slash = s.indexOf('/');
  const addrStr = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseV4(addrStr);
  if (v4 !== undefined) {
    if (slash < 0) return new CedarIp(true, v4, 32);
    const prefix = parsePrefix(s.slice(slash + 1), 32, 2);
    return prefix === undefined ? undefined : new CedarIp(true, v4, prefix);
  }
  const v6 = parseV6(addrStr);
  if (v6 === undefined) return undefined;
  if (slash < 0) return new CedarIp(false, v6, 128);
  const prefix = parsePrefix(s.slice(slash + 1), 128, 3);
  return prefix === undefined ? undefined : new CedarIp(false, v6, prefix);
}

const U128_MAX = (1n << 128n) - 1n;

function v4Net(p: number): number {
  return p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
}

function v4Host(p: number): number {
  return p === 32 ? 0 : 0xffffffff >>> p;
}

function v4InRange(a: CedarIp, b: CedarIp): boolean {
  const x = a.addr as number;
  const y = b.addr as number;
  const aNet = (x & v4Net(a.prefix)) >>> 0;
  const bNet = (y & v4Net(b.prefix)) >>> 0;
  const aBcast = (x | v4Host(a.prefix)) >>> 0;
  const bBcast = (y | v4Host(b.prefix)) >>> 0;
  return bNet <= aNet && aBcast <= bBcast;
}

function v6InRange(a: CedarIp, b: CedarIp): boolean {
  const net = (p: number): bigint => (p === 0 ? 0n : (U128_MAX << BigInt(128 - p)) & U128_MAX);
  const host = (p: number): bigint => U128_MAX >> BigInt(p);
  const x = a.addr as bigint;
  const y = b.addr as bigint;
  return (y & net(b.prefix)) <= (x & net(a.prefix)) && (x | host(a.prefix)) <= (y | host(b.prefix));
}

function ipIsLoopback(ip: CedarIp): boolean {
  if (ip.v4) return (ip.addr as number) >>> 24 === 127 && ip.prefix >= 8;
  return ip.addr === 1n && ip.prefix >= 128;
}

function ipIsMulticast(ip: CedarIp): boolean {
  if (ip.v4) {
    const first = (ip.addr as number) >>> 24;
    return first >= 224 && first <= 239 && ip.prefix >= 4;
  }
  return (ip.addr as bigint) >> 120n === 0xffn && ip.prefix >= 8;
}

// ---------------------------------------------------------------------------------------------
// decimal (cedar-policy-core/src/extensions/decimal.rs): four fractional digits, i64 range

export function parseDecimal(s: string): CedarDecimal | undefined {
  const m = /^(-?[0-9]+)\.([0-9]+)$/.exec(s);
  if (m === null) return undefined;
  const lStr = m[1] as string;
  const rStr = m[2] as string;
  if (rStr.length > 4) return undefined;
  const l = BigInt(lStr);
  if (longFromBigInt(l) === undefined || longFromBigInt(l * 10000n) === undefined) return undefined;
  const r = BigInt(rStr) * 10n ** BigInt(4 - rStr.length);
  if (longFromBigInt(r) === undefined) return undefined;
  const v = lStr.startsWith('-') ? l * 10000n - r : l * 10000n + r;
  return longFromBigInt(v) === undefined ? undefined : new CedarDecimal(v);
}

// ---------------------------------------------------------------------------------------------
// datetime and duration (cedar-policy-core/src/extensions/datetime.rs)

const DURATION_RE = /^-?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
const DAY_MS = 86_400_000;

export function parseDuration(s: string): CedarDuration | undefined {
  if (s === '' || s === '-') return undefined;
  const m = DURATION_RE.exec(s);
  if (m === null) return undefined;
  const units: [string | undefined, bigint][] = [
    [m[10], 1n],
    [m[8], 1000n],
    [m[6], 60_000n],
    [m[4], 3_600_000n],
    [m[2], 86_400_000n],
  ];
  const neg = s.startsWith('-');
  let total = 0n;
  for (const [digits, mul] of units) {
    if (digits === undefined) continue;
    const n = BigInt(digits);
    // Rust: u64 parse, i64 conversion, then checked i64 multiply; the negative-ms term may reach -2^63
    if (mul === 1n ? n > 9223372036854775808n : longFromBigInt(n * mul) === undefined) return undefined;
    total = neg ? total - n * mul : total + n * mul;
  }
  const ms = longFromBigInt(total);
  return ms === undefined ? undefined : new CedarDuration(ms);
}

/** Days since 1970-01-01 in the proleptic Gregorian calendar (chrono's NaiveDate). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** The value of the `n` ASCII digits at `at`, or -1 if any is not a digit (as `[0-9]{n}`). */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1; // NaN past the end fails too
    v = v * 10 + c;
  }
  return v;
}

/**
 * Cedar's datetime formats: `YYYY-MM-DD`, optionally followed by `Thh:mm:ss`, optional `.sss`,
 * then `Z` or `+hhmm`/`-hhmm` (cedar-policy-core/src/extensions/datetime.rs). Scanned by hand.
 */
export function parseDatetime(s: string): CedarDatetime | undefined {
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (y < 0 || mo < 0 || day < 0 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  if (mo < 1 || mo > 12 || day < 1 || day > daysInMonth(y, mo)) return undefined;
  const days = daysFromCivil(y, mo, day);
  if (s.length === 10) return new CedarDatetime(days * DAY_MS);
  // Thh:mm:ss
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const sec = digits(s, 17, 2);
  if (s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || h < 0 || mi < 0 || sec < 0) return undefined;
  let pos = 19;
  let ms = 0;
  if (s.charCodeAt(pos) === 46) {
    ms = digits(s, pos + 1, 3);
    if (ms < 0) return undefined;
    pos += 4;
  }
  let offsetSec = 0;
  const z = s.charCodeAt(pos);
  if (z === 90) {
    if (s.length !== pos + 1) return undefined;
  } else if (z === 43 || z === 45) {
    const oh = digits(s, pos + 1, 2);
    const om = digits(s, pos + 3, 2);
    if (oh < 0 || om < 0 || s.length !== pos + 5 || oh >= 24 || om >= 60) return undefined;
    offsetSec = (z === 43 ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return undefined;
  }
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  // INVARIANT: years 0000-9999 keep this well inside the float-safe range.
  return new CedarDatetime(days * DAY_MS + ((h * 60 + mi) * 60 + sec - offsetSec) * 1000 + ms);
}

/** Truncating division, as Rust's `/` on i64. */
function longDivTrunc(a: Long, b: number): Long {
  if (typeof a === 'number') return (a - (a % b)) / b;
  return longFromBigInt(a / BigInt(b)) as Long;
}

function longRemEuclid(a: Long, b: number): Long {
  if (typeof a === 'number') {
    const r = a % b;
    return r < 0 ? r + b : r === 0 ? 0 : r;
  }
  const bb = BigInt(b);
  const r = a % bb;
  return longFromBigInt(r < 0n ? r + bb : r) as Long;
}

function checked(v: () => Long, what: string): Long {
  try {
    return v();
  } catch {
    return fail(`overflow when ${what}`);
  }
}

// ---------------------------------------------------------------------------------------------

function constructor<T extends Value>(name: string, parse: (s: string) => T | undefined): ExtFn {
  return {
    arity: 1,
    f: (a) => parse(asString(a, name)) ?? fail(`\`${name}\`: cannot parse ${JSON.stringify(a)}`),
  };
}

function decimalCmp(cmp: (x: bigint, y: bigint) => boolean): ExtFn {
  return { arity: 2, f: (a, b) => cmp(asDecimal(a).v, asDecimal(b).v) };
}

function durationTo(div: number): ExtFn {
  return { arity: 1, f: (a) => longDivTrunc(asDuration(a).ms, div) };
}

/** The one registry of extension functions, by the unqualified name the EST uses. */
export const EXTENSION_FUNCTIONS: ReadonlyMap<string, ExtFn> = new Map<string, ExtFn>([
  ['ip', constructor('ip', parseIp)],
  ['isIpv4', { arity: 1, f: (a) => asIp(a).v4 }],
  ['isIpv6', { arity: 1, f: (a) => !asIp(a).v4 }],
  ['isLoopback', { arity: 1, f: (a) => ipIsLoopback(asIp(a)) }],
  ['isMulticast', { arity: 1, f: (a) => ipIsMulticast(asIp(a)) }],
  [
    'isInRange',
    {
      arity: 2,
      f: (a, b) => {
        const x = asIp(a);
        const y = asIp(b);
        if (x.v4 !== y.v4) return false;
        return x.v4 ? v4InRange(x, y) : v6InRange(x, y);
      },
    },
  ],
  ['decimal', constructor('decimal', parseDecimal)],
  ['lessThan', decimalCmp((x, y) => x < y)],
  ['lessThanOrEqual', decimalCmp((x, y) => x <= y)],
  ['greaterThan', decimalCmp((x, y) => x > y)],
  ['greaterThanOrEqual', decimalCmp((x, y) => x >= y)],
  ['datetime', constructor('datetime', parseDatetime)],
  ['duration', constructor('duration', parseDuration)],
  [
    'offset',
    {
      arity: 2,
      f: (a, b) => {
        const dt = asDatetime(a);
        const d = asDuration(b);
        return new CedarDatetime(checked(() => longAdd(dt.ms, d.ms), 'adding an offset'));
      },
    },
  ],
  [
    'durationSince',
    {
      arity: 2,
      f: (a, b) => {
        const x = asDatetime(a);
        const y = asDatetime(b);
        return new CedarDuration(checked(() => longSub(x.ms, y.ms), 'computing a duration'));
      },
    },
  ],
  [
    'toDate',
    {
      arity: 1,
      f: (a) => {
        const dt = asDatetime(a);
        return new CedarDatetime(checked(() => longSub(dt.ms, longRemEuclid(dt.ms, DAY_MS)), 'computing a date'));
      },
    },
  ],
  ['toTime', { arity: 1, f: (a) => new CedarDuration(longRemEuclid(asDatetime(a).ms, DAY_MS)) }],
  ['toMilliseconds', durationTo(1)],
  ['toSeconds', durationTo(1000)],
  ['toMinutes', durationTo(60_000)],
  ['toHours', durationTo(3_600_000)],
  ['toDays', durationTo(DAY_MS)],
]);

/** `callExtension(name, [arg])` without the array (the `{fn, arg}` escape of request data). */
export function callExtension1(name: string, arg: Value): Value {
  const fn = EXTENSION_FUNCTIONS.get(name);
  if (fn === undefined) return fail(`unknown extension function \`${name}\``);
  if (fn.arity !== 1) return callExtension(name, [arg]);
  return fn.f(arg);
}

/** Apply an extension function to already-evaluated arguments (restricted expressions, EST). */
export function callExtension(name: string, args: readonly Value[]): Value {
  const fn = EXTENSION_FUNCTIONS.get(name);
  if (fn === undefined) return fail(`unknown extension function \`${name}\``);
  if (args.length !== fn.arity) {
    return fail(`wrong number of arguments provided to extension function \`${name}\`: expected ${fn.arity}, got ${args.length}`);
  }
  return fn.arity === 1 ? fn.f(args[0] as Value) : fn.f(args[0] as Value, args[1] as Value);
}
