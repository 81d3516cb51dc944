/**
 * Runtime values of the evaluator. Primitives stay JS primitives so the hot path allocates little:
 * Bool → boolean, String → string, Long → number when float-safe, else bigint (one canonical form
 * per integer, so `===` is Cedar equality on Longs).
 */

/** Cedar Long: a signed 64-bit integer (Cedar spec, "Long"). Canonical: number iff safe. */
export type Long = number | bigint;

export type Value =
  | boolean
  | Long
  | string
  | EntityRef
  | CedarSet
  | CedarRecord
  | CedarDecimal
  | CedarIp
  | CedarDatetime
  | CedarDuration;

/**
 * An evaluation error: the policy that raised it is skipped and reported (Cedar spec,
 * "Authorization": errors never make a policy satisfied). Not an `Error`: no stack capture on the
 * hot path.
 */
export class EvalError {
  constructor(readonly message: string) {}
}

/** `xs.map(f)` as a plain loop, for the recursive compile and parse paths. */
export function mapArray<T, U>(xs: readonly T[], f: (x: T, i: number) => U): U[] {
  const out = new Array<U>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = f(xs[i] as T, i);
  return out;
}

export function fail(message: string): never {
  throw new EvalError(message);
}

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;

/** The canonical Long for `b`, or undefined when it does not fit in i64. */
export function longFromBigInt(b: bigint): Long | undefined {
  if (b > I64_MAX || b < I64_MIN) return undefined;
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b;
}

function overflow(op: string, a: Long, b: Long): never {
  return fail(`integer overflow while attempting to ${op} the values ${String(a)} and ${String(b)}`);
}

// INVARIANT: a float result that is a safe integer is exact (rounding is monotonic), so the
// BigInt path runs only near ±2^53.
export function longAdd(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  return longFromBigInt(BigInt(a) + BigInt(b)) ?? overflow('add', a, b);
}

export function longSub(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (Number.isSafeInteger(r)) return r;
  }
  return longFromBigInt(BigInt(a) - BigInt(b)) ?? overflow('subtract', a, b);
}

export function longMul(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a * b;
    if (Number.isSafeInteger(r)) return r === 0 ? 0 : r; // no -0
  }
  return longFromBigInt(BigInt(a) * BigInt(b)) ?? overflow('multiply', a, b);
}

export function longNeg(a: Long): Long {
  if (typeof a === 'number') return a === 0 ? 0 : -a;
  return longFromBigInt(-a) ?? fail(`integer overflow while attempting to negate ${String(a)}`);
}

export function isLong(v: Value): v is Long {
  const t = typeof v;
  return t === 'number' || t === 'bigint';
}

/** Entity type names and ids are kept apart by NUL, which no Cedar type name contains. */
export function entityKey(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

/**
 * The internalised (V8: unique, flat) copy of `s`: equal internalised strings are one object, so
 * comparing two of them, or one with a string literal of generated code, is a pointer compare.
 * Used for the keys of stored entities, built once per upsert, never per request.
 */
export function intern(s: string): string {
  const o: Record<string, 0> = {};
  o[s] = 0;
  for (const k in o) return k;
  return s;
}

export class EntityRef {
  constructor(
    readonly type: string,
    readonly id: string,
    readonly key: string = entityKey(type, id),
  ) {}

  toString(): string {
    return `${this.type}::${JSON.stringify(this.id)}`;
  }
}

const LINEAR_SCAN_MAX = 8;

interface SetIndex {
  prims: Set<string | number | bigint | boolean>;
  entities: Set<string>;
  others: Value[];
}

/** Cedar Set. Duplicates may be kept: no Cedar operator observes multiplicity. */
export class CedarSet {
  private index: SetIndex | undefined;
  constructor(readonly items: readonly Value[]) {}

  has(v: Value): boolean {
    const items = this.items;
    if (items.length <= LINEAR_SCAN_MAX) {
      for (const x of items) if (x === v || valueEquals(x, v)) return true;
      return false;
    }
    const idx = (this.index ??= buildIndex(items));
    if (typeof v === 'object') {
      if (v instanceof EntityRef) return idx.entities.has(v.key);
      for (const x of idx.others) if (valueEquals(x, v)) return true;
      return false;
    }
    return idx.prims.has(v);
  }
}

function buildIndex(items: readonly Value[]): SetIndex {
  const idx: SetIndex = { prims: new Set(), entities: new Set(), others: [] };
  for (const x of items) {
    if (typeof x !== 'object') idx.prims.add(x);
    else if (x instanceof EntityRef) idx.entities.add(x.key);
    else idx.others.push(x);
  }
  return idx;
}

export class CedarRecord {
  constructor(readonly map: ReadonlyMap<string, Value>) {}
}

/** decimal: i64 scaled by 10^4 (Cedar spec, "decimal extension"). */
export class CedarDecimal {
  constructor(readonly v: bigint) {}
}

/** ipaddr: v4 addresses as u32 numbers, v6 as u128 bigints, plus the CIDR prefix length. */
export class CedarIp {
  constructor(
    readonly v4: boolean,
    readonly addr: number | bigint,
    readonly prefix: number,
  ) {}
}

/** datetime: milliseconds since the Unix epoch, i64. */
export class CedarDatetime {
  constructor(readonly ms: Long) {}
}

/** duration: milliseconds, i64. */
export class CedarDuration {
  constructor(readonly ms: Long) {}
}

/** Cedar structural equality; values of different types are unequal, never an error. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityRef) return b instanceof EntityRef && a.key === b.key;
  if (a instanceof CedarSet) {
    if (!(b instanceof CedarSet)) return false;
    for (const x of a.items) if (!b.has(x)) return false;
    for (const x of b.items) if (!a.has(x)) return false;
    return true;
  }
  if (a instanceof CedarRecord) {
    if (!(b instanceof CedarRecord) || a.map.size !== b.map.size) return false;
    for (const [k, x] of a.map) {
      const y = b.map.get(k);
      if (y === undefined || !valueEquals(x, y)) return false;
    }
    return true;
  }
  if (a instanceof CedarDecimal) return b instanceof CedarDecimal && a.v === b.v;
  if (a instanceof CedarIp) return b instanceof CedarIp && a.v4 === b.v4 && a.addr === b.addr && a.prefix === b.prefix;
  if (a instanceof CedarDatetime) return b instanceof CedarDatetime && a.ms === b.ms;
  if (a instanceof CedarDuration) return b instanceof CedarDuration && a.ms === b.ms;
  return false;
}

export function typeName(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
    case 'bigint':
      return 'long';
    case 'string':
      return 'string';
    default:
      if (v instanceof EntityRef) return `(entity of type \`${v.type}\`)`;
      if (v instanceof CedarSet) return 'set';
      if (v instanceof CedarRecord) return 'record';
      if (v instanceof CedarDecimal) return 'decimal';
      if (v instanceof CedarIp) return 'ipaddr';
      if (v instanceof CedarDatetime) return 'datetime';
      return 'duration';
  }
}

export function typeError(expected: string, got: Value): never {
  return fail(`type error: expected ${expected}, got ${typeName(got)}`);
}
