/**
 * The evaluator's operators on runtime values, shared by the closure compiler (compile.ts) and the
 * generated code (codegen.ts): one definition of each operator's semantics and error messages
 * (cedar-policy-core/src/evaluator.rs), whichever path evaluates it.
 */
import type { Env } from './env.js';
import {
  CedarDatetime,
  CedarDuration,
  CedarRecord,
  CedarSet,
  EntityRef,
  EvalError,
  fail,
  isLong,
  longAdd,
  longMul,
  longSub,
  type Value,
  typeError,
  valueEquals,
} from './values.js';

export function errorMessage(e: unknown): string {
  if (e instanceof EvalError) return e.message;
  // INVARIANT: total. A host error (e.g. stack exhaustion on a pathological policy) is this
  // policy's evaluation error, as Cedar reports its recursion limit.
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export function asBool(v: Value): boolean {
  return typeof v === 'boolean' ? v : typeError('bool', v);
}

export function asSet(v: Value): CedarSet {
  return v instanceof CedarSet ? v : typeError('set', v);
}

export function asEntity(v: Value): EntityRef {
  return v instanceof EntityRef ? v : typeError('entity', v);
}

export function asString(v: Value): string {
  return typeof v === 'string' ? v : typeError('string', v);
}

export function lessThan(a: Value, b: Value, orEqual: boolean): boolean {
  if (isLong(a) && isLong(b)) return orEqual ? a <= b : a < b;
  // Cedar 4: datetime and duration overload `<` and `<=` (supports_operator_overloading)
  if ((a instanceof CedarDatetime && b instanceof CedarDatetime) || (a instanceof CedarDuration && b instanceof CedarDuration)) {
    return orEqual ? a.ms <= b.ms : a.ms < b.ms;
  }
  if (isLong(a) || a instanceof CedarDatetime || a instanceof CedarDuration) return typeError(isLong(a) ? 'long' : 'same type', b);
  return typeError('long, datetime or duration', a);
}

/** `e1 in e2` (Cedar spec, "Hierarchy membership"): reflexive, transitive, never errors on a missing entity. */
export function evalIn(env: Env, left: Value, right: Value): boolean {
  const l = asEntity(left);
  if (right instanceof EntityRef) return l.key === right.key || env.ancestors(l).has(right.key);
  if (right instanceof CedarSet) {
    for (const x of right.items) if (!(x instanceof EntityRef)) typeError('set of entities', right);
    let anc: ReadonlySet<string> | undefined;
    for (const x of right.items) {
      const k = (x as EntityRef).key;
      if (k === l.key || (anc ??= env.ancestors(l)).has(k)) return true;
    }
    return false;
  }
  return typeError('entity or set of entities', right);
}

/** `v in <entity with key>`: evalIn with a constant entity on the right. */
export function inKey(env: Env, v: Value, key: string): boolean {
  const l = asEntity(v);
  return l.key === key || env.ancestors(l).has(key);
}

export function getAttr(env: Env, v: Value, attr: string): Value {
  if (v instanceof CedarRecord) {
    const x = v.map.get(attr);
    return x ?? fail(`record does not have the attribute \`${attr}\``);
  }
  if (v instanceof EntityRef) {
    const e = env.entity(v);
    if (e === undefined) return fail(`entity \`${v.toString()}\` does not exist`);
    const x = e.o[attr];
    return x ?? fail(`\`${v.toString()}\` does not have the attribute \`${attr}\``);
  }
  return typeError('record or entity', v);
}

export function hasAttr(env: Env, v: Value, attr: string): boolean {
  if (v instanceof CedarRecord) return v.map.has(attr);
  if (v instanceof EntityRef) {
    const e = env.entity(v);
    return e !== undefined && e.o[attr] !== undefined; // Cedar 3+: `has` on a missing entity is false
  }
  return typeError('record or entity', v);
}

export type Binary = (env: Env, a: Value, b: Value) => Value;

export const BINARY: Readonly<Record<string, Binary>> = {
  '==': (_s, a, b) => valueEquals(a, b),
  '!=': (_s, a, b) => !valueEquals(a, b),
  '<': (_s, a, b) => lessThan(a, b, false),
  '<=': (_s, a, b) => lessThan(a, b, true),
  // Cedar desugars `a > b` to `!(a <= b)` and `a >= b` to `!(a < b)`
  '>': (_s, a, b) => !lessThan(a, b, true),
  '>=': (_s, a, b) => !lessThan(a, b, false),
  '+': (_s, a, b) => (isLong(a) ? (isLong(b) ? longAdd(a, b) : typeError('long', b)) : typeError('long', a)),
  '-': (_s, a, b) => (isLong(a) ? (isLong(b) ? longSub(a, b) : typeError('long', b)) : typeError('long', a)),
  '*': (_s, a, b) => (isLong(a) ? (isLong(b) ? longMul(a, b) : typeError('long', b)) : typeError('long', a)),
  in: (env, a, b) => evalIn(env, a, b),
  contains: (_s, a, b) => asSet(a).has(b),
  containsAll: (_s, a, b) => {
    const l = asSet(a);
    const r = asSet(b);
    for (const x of r.items) if (!l.has(x)) return false;
    return true;
  },
  containsAny: (_s, a, b) => {
    const l = asSet(a);
    const r = asSet(b);
    for (const x of r.items) if (l.has(x)) return true;
    return false;
  },
  getTag: (env, a, b) => {
    const uid = asEntity(a);
    const tag = asString(b);
    const e = env.entity(uid);
    if (e === undefined) return fail(`entity \`${uid.toString()}\` does not exist`);
    return e.tags.get(tag) ?? fail(`\`${uid.toString()}\` does not have the tag \`${tag}\``);
  },
  hasTag: (env, a, b) => {
    const uid = asEntity(a);
    const tag = asString(b);
    const e = env.entity(uid);
    return e !== undefined && e.tags.has(tag);
  },
};

/** Operators whose result depends on the store may not be folded at compile time. */
export const STORE_DEPENDENT: ReadonlySet<string> = new Set(['in', 'getTag', 'hasTag']);
