/**
 * Generated evaluators. A compiled policy set is turned into a few JavaScript functions ("chunks"),
 * each evaluating up to CHUNK_POLICIES policies in a row, with the scope tests and the hot
 * expression shapes (attribute reads, `==` against a literal, `<` against a long, `in` an entity,
 * `is`, `has`, `&&`, `||`, ...) written inline, so the JIT sees monomorphic code per policy instead
 * of one megamorphic closure tree. Within a chunk, `principal.a`, `resource.a` and `context.a` are
 * read once per decision and shared by the policies that read them (a memo that lives for one
 * call, so it can never be stale; an attribute read that errors is not memoised and errors again,
 * for each policy that evaluates it).
 *
 * Semantics are those of the closure compiler (compile.ts), which stays the reference: every node
 * the generator does not specialise — and every subtree without a variable, which the closure
 * compiler folds — is delegated to the closure compiled for it, and all operators come from ops.ts.
 *
 * SECURITY / purity: `new Function` is used here as a pure compilation step (no I/O, no clock, no
 * access to anything but its arguments). The source is built only from the validated policy EST
 * (compilePolicy has accepted every policy before it gets here): every string taken from a policy
 * (ids, attribute names, entity types and keys, literals) is embedded with JSON.stringify, numbers
 * only as safe integers, and every other value (sets, records, extension values, closures, pattern
 * matchers) is passed by reference in the constants array `K`, never as text. Policy ids are passed
 * in `I`, not embedded.
 */
import type { Env } from './env.js';
import { EXTENSION_FUNCTIONS } from './extensions.js';
import { asBool, asEntity, asSet, asString, BINARY, errorMessage, evalIn, getAttr, hasAttr, inKey, lessThan } from './ops.js';
import type { EntityUid, ExprJson, PatternElem, PolicyError, PolicyJson, PrincipalOrResourceConstraint } from './types.js';
import { CedarSet, EntityRef, mapArray, type Value, valueEquals } from './values.js';

export interface FoldedExpr {
  ev: (env: Env) => Value;
  constant?: { value: Value } | undefined;
}

/** What the generator borrows from the closure compiler. */
export interface CodegenHost {
  expr(json: ExprJson): FoldedExpr;
  pattern(pattern: readonly PatternElem[]): (s: string) => boolean;
  uidKey(json: EntityUid): string;
}

export interface GenPolicy {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  readonly json: PolicyJson;
  /** The closure test (scope && conditions), used where code is not generated. */
  readonly test: (env: Env) => boolean;
}

/** Satisfied forbids, satisfied permits and errors of one decision, in evaluation order. */
export class Outcome {
  f: string[] | undefined = undefined;
  p: string[] | undefined = undefined;
  e: PolicyError[] | undefined = undefined;
}

/** Evaluates the policies `sel` marks (by index in the set's evaluation order) into `out`. */
export type Chunk = (env: Env, sel: Uint8Array, out: Outcome) => void;

const CHUNK_POLICIES = 48;
const CHUNK_SOURCE_MAX = 48_000;
/** Deeper expressions are delegated to closures: keeps generated source shallow for V8's parser. */
const MAX_DEPTH = 48;

function recordError(out: Outcome, id: string, e: unknown): void {
  (out.e ??= []).push({ policyId: id, message: errorMessage(e) });
}

/** The runtime the generated code calls into; all of it is ops.ts semantics. */
const RT = {
  bool: asBool,
  ent: asEntity,
  set: asSet,
  str: asString,
  getAttr,
  hasAttr,
  evalIn,
  inKey,
  eq: valueEquals,
  isRef: (v: Value, key: string): boolean => v instanceof EntityRef && v.key === key,
  lt: (a: Value, b: Value): boolean => lessThan(a, b, false),
  le: (a: Value, b: Value): boolean => lessThan(a, b, true),
  mkSet: (items: Value[]): CedarSet => new CedarSet(items),
  err: recordError,
};
const RT_NAMES = Object.keys(RT).join(', ');

interface G {
  /** A JS expression evaluating to the Cedar value (or throwing EvalError). */
  c: string;
  /** The value is known to be a boolean. */
  b: boolean;
}

type VarName = 'principal' | 'action' | 'resource' | 'context';

function onlyKey(json: object): string {
  return Object.keys(json)[0] as string;
}

function varOf(json: unknown): VarName | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const v = (json as { Var?: unknown }).Var;
  return v === 'principal' || v === 'action' || v === 'resource' || v === 'context' ? v : undefined;
}

const VAR_LOCAL: Record<VarName, string> = { principal: 'P', action: 'A', resource: 'R', context: 'C' };

const lit = JSON.stringify;

class ChunkGen {
  readonly K: unknown[] = [];
  private readonly memos = new Map<string, string>();
  private temps = 0;
  private maxTemps = 0;
  private readonly closedMemo = new WeakMap<object, boolean>();
  private readonly foldMemo = new WeakMap<object, FoldedExpr>();
  private body = '';
  count = 0;

  constructor(private readonly host: CodegenHost) {}

  get size(): number {
    return this.body.length;
  }

  private k(v: unknown): string {
    this.K.push(v);
    return `K[${this.K.length - 1}]`;
  }

  private temp(): string {
    const t = `t${this.temps++}`;
    if (this.temps > this.maxTemps) this.maxTemps = this.temps;
    return t;
  }

  private memo(key: string): string {
    let m = this.memos.get(key);
    if (m === undefined) this.memos.set(key, (m = `m${this.memos.size}`));
    return m;
  }

  private value(v: Value): string {
    switch (typeof v) {
      case 'string':
        return lit(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        // INVARIANT: a number Value is a safe integer, never -0 (values.ts)
        return Number.isSafeInteger(v) ? `(${String(v)})` : this.k(v);
      default:
        return this.k(v);
    }
  }

  private fold(json: ExprJson): FoldedExpr {
    let f = this.foldMemo.get(json);
    if (f === undefined) this.foldMemo.set(json, (f = this.host.expr(json)));
    return f;
  }

  /** No variable below: the closure compiler folds what can be folded, so it handles the subtree. */
  private closed(json: unknown, depth = 0): boolean {
    if (typeof json !== 'object' || json === null) return true;
    if (depth > MAX_DEPTH) return false;
    const hit = this.closedMemo.get(json);
    if (hit !== undefined) return hit;
    let out = true;
    if (Array.isArray(json)) {
      out = this.allClosed(json, depth + 1);
    } else {
      const op = onlyKey(json);
      const body = (json as Record<string, unknown>)[op];
      if (op === 'Var') out = false;
      else if (op === 'Value' || op === 'Slot' || op === 'Unknown') out = true;
      else if (Array.isArray(body)) out = this.allClosed(body, depth + 1);
      else if (typeof body === 'object' && body !== null) {
        const b = body as Record<string, unknown>;
        if (op === 'Record') out = this.allClosed(Object.values(b), depth + 1);
        else for (const key of ['left', 'right', 'arg', 'if', 'then', 'else', 'in']) if (b[key] !== undefined && !this.closed(b[key], depth + 1)) out = false;
      }
    }
    this.closedMemo.set(json, out);
    return out;
  }

  private allClosed(xs: readonly unknown[], depth: number): boolean {
    for (let i = 0; i < xs.length; i++) if (!this.closed(xs[i], depth)) return false;
    return true;
  }

  private constantOf(json: ExprJson): { value: Value } | undefined {
    return this.closed(json) ? this.fold(json).constant : undefined;
  }

  private viaClosure(json: ExprJson): G {
    const f = this.fold(json);
    if (f.constant !== undefined) return { c: this.value(f.constant.value), b: typeof f.constant.value === 'boolean' };
    return { c: `${this.k(f.ev)}(env)`, b: false };
  }

  private bool(json: ExprJson, depth: number): string {
    const g = this.expr(json, depth);
    return g.b ? g.c : `bool(${g.c})`;
  }

  /** `local in <key>` for P or R: the stored entity's inline ancestors (entity-store.ts). */
  private inKey(local: 'P' | 'R', key: string): string {
    return `(${local}.key === ${key} || (${local}E !== undefined && S.hasAncestor(${local}E, ${key})))`;
  }

  expr(json: ExprJson, depth: number): G {
    if (depth > MAX_DEPTH || this.closed(json)) return this.viaClosure(json);
    const op = onlyKey(json);
    const body = (json as Record<string, unknown>)[op];
    const node = body as Record<string, unknown>;
    const d = depth + 1;
    switch (op) {
      case 'Var': {
        const v = varOf(json);
        return v === undefined ? this.viaClosure(json) : { c: VAR_LOCAL[v], b: false };
      }
      case '.': {
        const attr = lit(node.attr as string);
        const v = varOf(node.left);
        if (v === 'principal' || v === 'resource' || v === 'context') {
          const m = this.memo(`${v}.${node.attr as string}`);
          if (v === 'context') return { c: `(${m} ?? (${m} = getAttr(env, C, ${attr})))`, b: false };
          // the inline-cached read of the attribute bag; getAttr only to raise the error
          const e = v === 'principal' ? 'PE' : 'RE';
          return { c: `(${m} ?? (${m} = (${e} !== undefined ? ${e}.o[${attr}] : undefined) ?? getAttr(env, ${VAR_LOCAL[v]}, ${attr})))`, b: false };
        }
        return { c: `getAttr(env, ${this.expr(node.left as ExprJson, d).c}, ${attr})`, b: false };
      }
      case 'has': {
        if (typeof node.attr !== 'string') return this.viaClosure(json);
        const attr = lit(node.attr);
        const v = varOf(node.left);
        if (v === 'principal') return { c: `(PE !== undefined && PE.o[${attr}] !== undefined)`, b: true };
        if (v === 'resource') return { c: `(RE !== undefined && RE.o[${attr}] !== undefined)`, b: true };
        if (v === 'context') return { c: `C.map.has(${attr})`, b: true };
        return { c: `hasAttr(env, ${this.expr(node.left as ExprJson, d).c}, ${attr})`, b: true };
      }
      case '&&':
      case '||':
        return { c: `(${this.bool(node.left as ExprJson, d)} ${op} ${this.bool(node.right as ExprJson, d)})`, b: true };
      case '!':
        return { c: `!${this.bool(node.arg as ExprJson, d)}`, b: true };
      case '==':
      case '!=':
        return this.equality(op, node.left as ExprJson, node.right as ExprJson, d);
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.compare(op, node.left as ExprJson, node.right as ExprJson, d);
      case 'in': {
        const r = this.constantOf(node.right as ExprJson);
        if (r !== undefined && r.value instanceof EntityRef) {
          const key = lit(r.value.key);
          const v = varOf(node.left);
          if (v === 'principal' || v === 'resource') {
            const local = VAR_LOCAL[v] as 'P' | 'R';
            return { c: this.inKey(local, key), b: true };
          }
          return { c: `inKey(env, ${this.expr(node.left as ExprJson, d).c}, ${key})`, b: true };
        }
        return { c: `evalIn(env, ${this.expr(node.left as ExprJson, d).c}, ${this.expr(node.right as ExprJson, d).c})`, b: true };
      }
      case 'is': {
        const type = lit(node.entity_type as string);
        const v = varOf(node.left);
        if (node.in === undefined) {
          if (v === 'principal' || v === 'resource' || v === 'action') return { c: `(${VAR_LOCAL[v]}.type === ${type})`, b: true };
          return { c: `(ent(${this.expr(node.left as ExprJson, d).c}).type === ${type})`, b: true };
        }
        // `e is T in x` is `e is T && e in x`: the `in` side is not evaluated for other types
        const t = this.temp();
        const l = this.expr(node.left as ExprJson, d).c;
        const r = this.expr(node.in as ExprJson, d).c;
        return { c: `((${t} = ent(${l})).type === ${type} && evalIn(env, ${t}, ${r}))`, b: true };
      }
      case 'like': {
        const match = this.k(this.host.pattern(node.pattern as PatternElem[]));
        return { c: `${match}(str(${this.expr(node.left as ExprJson, d).c}))`, b: true };
      }
      case 'contains': {
        const l = this.constantOf(node.left as ExprJson);
        if (l !== undefined && l.value instanceof CedarSet) return { c: `${this.k(l.value)}.has(${this.expr(node.right as ExprJson, d).c})`, b: true };
        return this.binary(op, node, d, true);
      }
      case 'containsAll':
      case 'containsAny':
      case 'hasTag':
        return this.binary(op, node, d, true);
      case '+':
      case '-':
      case '*':
      case 'getTag':
        return this.binary(op, node, d, false);
      case 'if-then-else': {
        const c = this.bool(node.if as ExprJson, d);
        const t = this.expr(node.then as ExprJson, d);
        const e = this.expr(node.else as ExprJson, d);
        return { c: `(${c} ? ${t.c} : ${e.c})`, b: t.b && e.b };
      }
      case 'isEmpty':
        return { c: `(set(${this.expr(node.arg as ExprJson, d).c}).items.length === 0)`, b: true };
      case 'Set': {
        const items = mapArray(body as ExprJson[], (x) => this.expr(x, d).c);
        return { c: `mkSet([${items.join(', ')}])`, b: false };
      }
      default:
        break;
    }
    if (Array.isArray(body)) {
      const fn = EXTENSION_FUNCTIONS.get(op);
      if (fn !== undefined && fn.arity === body.length) {
        const args = mapArray(body as ExprJson[], (x) => this.expr(x, d).c);
        return { c: `${this.k(fn.f)}(${args.join(', ')})`, b: false };
      }
    }
    return this.viaClosure(json);
  }

  private binary(op: string, node: Record<string, unknown>, d: number, isBool: boolean): G {
    const f = BINARY[op];
    if (f === undefined) throw new Error(`no operator ${op}`);
    return { c: `${this.k(f)}(env, ${this.expr(node.left as ExprJson, d).c}, ${this.expr(node.right as ExprJson, d).c})`, b: isBool };
  }

  private equality(op: '==' | '!=', left: ExprJson, right: ExprJson, d: number): G {
    const neg = op === '!=' ? '!' : '';
    const lc = this.constantOf(left);
    const rc = this.constantOf(right);
    // `==` never errors and values of different types are unequal: against a primitive literal it
    // is `===` (one canonical representation per Long), against an entity literal a key compare.
    for (const [k, other] of [
      [rc, left],
      [lc, right],
    ] as const) {
      if (k === undefined) continue;
      if (typeof k.value !== 'object') return { c: `${neg}(${this.expr(other, d).c} === ${this.value(k.value)})`, b: true };
      if (k.value instanceof EntityRef) return { c: `${neg}isRef(${this.expr(other, d).c}, ${lit(k.value.key)})`, b: true };
    }
    return { c: `${neg}eq(${this.expr(left, d).c}, ${this.expr(right, d).c})`, b: true };
  }

  private compare(op: '<' | '<=' | '>' | '>=', left: ExprJson, right: ExprJson, d: number): G {
    // Cedar desugars `a > b` to `!(a <= b)` and `a >= b` to `!(a < b)`
    const slow = (a: string, b: string): string =>
      op === '<' ? `lt(${a}, ${b})` : op === '<=' ? `le(${a}, ${b})` : op === '>' ? `!le(${a}, ${b})` : `!lt(${a}, ${b})`;
    const rc = this.constantOf(right);
    if (rc !== undefined && typeof rc.value === 'number') {
      const t = this.temp();
      const n = this.value(rc.value);
      return { c: `(typeof (${t} = ${this.expr(left, d).c}) === 'number' ? ${t} ${op} ${n} : ${slow(t, n)})`, b: true };
    }
    const lc = this.constantOf(left);
    if (lc !== undefined && typeof lc.value === 'number') {
      const t = this.temp();
      const n = this.value(lc.value);
      return { c: `(typeof (${t} = ${this.expr(right, d).c}) === 'number' ? ${n} ${op} ${t} : ${slow(n, t)})`, b: true };
    }
    return { c: slow(this.expr(left, d).c, this.expr(right, d).c), b: true };
  }

  private scope(c: PrincipalOrResourceConstraint, local: 'P' | 'R'): string | undefined {
    switch (c.op) {
      case '==':
        return `${local}.key === ${lit(this.host.uidKey((c as { entity: EntityUid }).entity))}`;
      case 'in':
        return this.inKey(local, lit(this.host.uidKey((c as { entity: EntityUid }).entity)));
      case 'is': {
        const type = `${local}.type === ${lit(c.entity_type)}`;
        if (c.in === undefined) return type;
        const key = lit(this.host.uidKey((c.in as { entity: EntityUid }).entity));
        return `${type} && ${this.inKey(local, key)}`;
      }
      default:
        return undefined;
    }
  }

  /** Scope (principal, resource; the action is pre-selected by `sel`) && conditions, left to right. */
  private test(p: GenPolicy): string {
    const parts: string[] = [];
    const ps = this.scope(p.json.principal, 'P');
    if (ps !== undefined) parts.push(ps);
    const rs = this.scope(p.json.resource, 'R');
    if (rs !== undefined) parts.push(rs);
    for (const c of p.json.conditions) {
      const b = this.bool(c.body, 0);
      parts.push(c.kind === 'when' ? b : `!${b}`);
    }
    return parts.length === 0 ? 'true' : parts.join(' && ');
  }

  add(index: number, p: GenPolicy): void {
    this.temps = 0;
    const savedK = this.K.length;
    let test: string;
    try {
      test = this.test(p);
    } catch {
      // INVARIANT: total. Whatever the generator cannot handle is evaluated by the closure.
      this.K.length = savedK;
      test = `${this.k(p.test)}(env)`;
    }
    const list = p.effect === 'forbid' ? 'f' : 'p';
    this.body += `  if (sel[${index}] === 1) {\n    try {\n      if (${test}) (out.${list} ??= []).push(I[${index}]);\n    } catch (e) {\n      err(out, I[${index}], e);\n    }\n  }\n`;
    this.count++;
  }

  source(): string {
    const memos = [...this.memos.values()];
    const temps = Array.from({ length: this.maxTemps }, (_, i) => `t${i}`);
    const locals = memos.length + temps.length === 0 ? '' : `  let ${[...memos, ...temps].join(', ')};\n`;
    return (
      `"use strict";\nconst { ${RT_NAMES} } = rt;\n` +
      `return function chunk(env, sel, out) {\n  const P = env.p, A = env.a, R = env.r, C = env.c, S = env.s, PE = env.pe, RE = env.re;\n${locals}${this.body}};\n`
    );
  }
}

function closureChunk(entries: readonly (readonly [number, GenPolicy])[]): Chunk {
  return (env, sel, out) => {
    for (const [i, p] of entries) {
      if (sel[i] !== 1) continue;
      try {
        if (p.test(env)) (p.effect === 'forbid' ? (out.f ??= []) : (out.p ??= [])).push(p.id);
      } catch (e) {
        recordError(out, p.id, e);
      }
    }
  };
}

type ChunkFactory = (rt: typeof RT, K: readonly unknown[], I: readonly string[]) => Chunk;

/**
 * Chunks evaluating `policies` (in this order; `sel` indexes this list). Falls back to the closure
 * tests for any chunk whose generated source the host refuses to compile.
 */
export function generateChunks(policies: readonly GenPolicy[], host: CodegenHost): Chunk[] {
  const ids = policies.map((p) => p.id);
  const chunks: Chunk[] = [];
  let gen = new ChunkGen(host);
  let entries: [number, GenPolicy][] = [];
  const flush = (): void => {
    if (gen.count === 0) return;
    let chunk: Chunk;
    try {
      // Pure compilation of generated source; see the header comment for why this is safe.
      const factory = new Function('rt', 'K', 'I', gen.source()) as ChunkFactory;
      chunk = factory(RT, gen.K, ids);
    } catch {
      chunk = closureChunk(entries);
    }
    chunks.push(chunk);
    gen = new ChunkGen(host);
    entries = [];
  };
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i] as GenPolicy;
    gen.add(i, p);
    entries.push([i, p]);
    if (gen.count >= CHUNK_POLICIES || gen.size >= CHUNK_SOURCE_MAX) flush();
  }
  flush();
  return chunks;
}
