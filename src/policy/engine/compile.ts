/**
 * Compiles Cedar policy EST into closures. Each closure is the evaluator of
 * cedar-policy-core/src/evaluator.rs for one node: same evaluation order, same short-circuits, same
 * type errors. Constant sub-expressions are folded at compile time, except that a constant which
 * errors still errors only when (and if) it is evaluated.
 */
import { ZetaError } from '../../common/errors.js';
import type { EntityStore } from './entity-store.js';
import type { Env } from './env.js';
import { type Chunk, type CodegenHost, generateChunks, Outcome } from './codegen.js';
import { EXTENSION_FUNCTIONS, callExtension } from './extensions.js';
import type { Decision, EntityUid, ExprJson, PatternElem, PolicyJson, PrincipalOrResourceConstraint } from './types.js';
import { entityRefFromJson, valueFromJson } from './value-json.js';
import { asBool, asEntity, asSet, asString, BINARY, type Binary, evalIn, getAttr, hasAttr, STORE_DEPENDENT } from './ops.js';
import { CedarRecord, CedarSet, EntityRef, EvalError, fail, isLong, longNeg, mapArray, type Value, typeError } from './values.js';

type Ev = (env: Env) => Value;

export interface CompiledPolicy {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** The action scope alone (undefined: any action); used to index policies by action. */
  readonly action: ((env: Env) => boolean) | undefined;
  /** Scope && conditions; throws EvalError when the policy errors. */
  readonly test: (env: Env) => boolean;
  /** The validated EST it was compiled from (the source of the generated code). */
  readonly json: PolicyJson;
}

class PolicyCompileError extends Error {}

function invalid(msg: string): never {
  throw new PolicyCompileError(msg);
}

/** A closure that yields a value known at compile time; `constant` lets callers fold further. */
interface Folded {
  ev: Ev;
  constant?: { value: Value } | undefined;
}

function constant(value: Value): Folded {
  return { ev: () => value, constant: { value } };
}

/** Fold `f` over constants; a compile-time error becomes a closure that raises it when evaluated. */
function foldOrDefer(f: () => Value): Folded {
  try {
    return constant(f());
  } catch (e) {
    if (e instanceof EvalError) {
      return {
        ev: () => {
          throw e;
        },
      };
    }
    throw e;
  }
}

/** Glob match with `*` only; literal segments matched left to right, greedily (Cedar spec, "like"). */
function compilePattern(pattern: readonly PatternElem[]): (s: string) => boolean {
  const segs: string[] = [''];
  for (const el of pattern) {
    if (el === 'Wildcard') segs.push('');
    else if (typeof el === 'object' && el !== null && typeof el.Literal === 'string') segs[segs.length - 1] += el.Literal;
    else invalid('malformed `like` pattern');
  }
  if (segs.length === 1) {
    const only = segs[0] as string;
    return (s) => s === only;
  }
  const first = segs[0] as string;
  const last = segs[segs.length - 1] as string;
  const middle = segs.slice(1, -1).filter((x) => x !== '');
  return (s) => {
    if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
    let pos = first.length;
    const end = s.length - last.length;
    for (const m of middle) {
      const i = s.indexOf(m, pos);
      if (i < 0 || i + m.length > end) return false;
      pos = i + m.length;
    }
    return true;
  };
}

function uidOf(json: EntityUid): EntityRef {
  try {
    return entityRefFromJson(json);
  } catch (e) {
    return invalid(e instanceof EvalError ? e.message : String(e));
  }
}

function compileExpr(json: ExprJson): Folded {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return invalid('expression must be an object');
  const keys = Object.keys(json);
  if (keys.length !== 1) return invalid(`expression must have exactly one key, got ${JSON.stringify(keys)}`);
  const op = keys[0] as string;
  const body = (json as Record<string, unknown>)[op];
  const node = body as Record<string, unknown>;

  switch (op) {
    case 'Value':
      return foldOrDefer(() => valueFromJson(body));
    case 'Var':
      switch (body) {
        case 'principal':
          return { ev: (env) => env.p };
        case 'action':
          return { ev: (env) => env.a };
        case 'resource':
          return { ev: (env) => env.r };
        case 'context':
          return { ev: (env) => env.c };
        default:
          return invalid(`unknown variable ${JSON.stringify(body)}`);
      }
    case 'Slot':
      return invalid('template slots are not supported; link templates before compiling');
    case 'Unknown':
      // Partial evaluation is out of scope: an unknown is a non-value, an error in concrete evaluation.
      return { ev: () => fail('unknown value in concrete evaluation') };
    case '!': {
      const a = compileExpr(node.arg as ExprJson);
      if (a.constant) return foldOrDefer(() => !asBool(a.constant?.value as Value));
      const f = a.ev;
      return {
        ev: (env) => {
          const v = f(env);
          return typeof v === 'boolean' ? !v : typeError('bool', v);
        },
      };
    }
    case 'neg': {
      const a = compileExpr(node.arg as ExprJson);
      const f = a.ev;
      const neg = (v: Value): Value => (isLong(v) ? longNeg(v) : typeError('long', v));
      if (a.constant) return foldOrDefer(() => neg(a.constant?.value as Value));
      return { ev: (env) => neg(f(env)) };
    }
    case 'isEmpty': {
      const f = compileExpr(node.arg as ExprJson).ev;
      return { ev: (env) => asSet(f(env)).items.length === 0 };
    }
    case '&&':
    case '||': {
      const l = compileExpr(node.left as ExprJson).ev;
      const r = compileExpr(node.right as ExprJson).ev;
      const shortOn = op === '||'; // `||` stops on true, `&&` on false (Cedar spec, "Short-circuiting")
      return {
        ev: (env) => {
          const a = l(env);
          if (a === shortOn) return shortOn;
          if (typeof a !== 'boolean') return typeError('bool', a);
          const b = r(env);
          return typeof b === 'boolean' ? b : typeError('bool', b);
        },
      };
    }
    case '.': {
      const l = compileExpr(node.left as ExprJson);
      const attr = node.attr;
      if (typeof attr !== 'string') return invalid('`.` needs a string attribute');
      if (l.constant && l.constant.value instanceof CedarRecord) {
        const rec = l.constant.value;
        return foldOrDefer(() => rec.map.get(attr) ?? fail(`record does not have the attribute \`${attr}\``));
      }
      const f = l.ev;
      return { ev: (env) => getAttr(env, f(env), attr) };
    }
    case 'has': {
      const f = compileExpr(node.left as ExprJson).ev;
      const attrs = typeof node.attr === 'string' ? [node.attr] : node.attr;
      if (!Array.isArray(attrs) || attrs.length === 0 || !attrs.every((a) => typeof a === 'string')) {
        return invalid('`has` needs a non-empty attribute path');
      }
      const path = attrs as string[];
      if (path.length === 1) {
        const attr = path[0] as string;
        return { ev: (env) => hasAttr(env, f(env), attr) };
      }
      // `e has a.b` desugars to `e has a && e.a has b` (Cedar 4.2 extended `has`)
      return {
        ev: (env) => {
          let v = f(env);
          for (let i = 0; i < path.length; i++) {
            const attr = path[i] as string;
            if (!hasAttr(env, v, attr)) return false;
            if (i < path.length - 1) v = getAttr(env, v, attr);
          }
          return true;
        },
      };
    }
    case 'like': {
      const f = compileExpr(node.left as ExprJson).ev;
      if (!Array.isArray(node.pattern)) return invalid('`like` needs a pattern');
      const match = compilePattern(node.pattern as PatternElem[]);
      return { ev: (env) => match(asString(f(env))) };
    }
    case 'is': {
      const f = compileExpr(node.left as ExprJson).ev;
      const type = node.entity_type;
      if (typeof type !== 'string') return invalid('`is` needs an entity type');
      if (node.in === undefined) return { ev: (env) => asEntity(f(env)).type === type };
      const g = compileExpr(node.in as ExprJson).ev;
      // `e is T in x` is `e is T && e in x`: the `in` side is not evaluated for other types
      return {
        ev: (env) => {
          const v = asEntity(f(env));
          return v.type === type && evalIn(env, v, g(env));
        },
      };
    }
    case 'if-then-else': {
      const c = compileExpr(node.if as ExprJson).ev;
      const t = compileExpr(node.then as ExprJson).ev;
      const e = compileExpr(node.else as ExprJson).ev;
      return { ev: (env) => (asBool(c(env)) ? t(env) : e(env)) };
    }
    case 'Set': {
      if (!Array.isArray(body)) return invalid('`Set` needs an array');
      const items = mapArray(body as ExprJson[], (x) => compileExpr(x));
      if (items.every((i) => i.constant)) return constant(new CedarSet(items.map((i) => i.constant?.value as Value)));
      const fs = items.map((i) => i.ev);
      return {
        ev: (env) => {
          const out = new Array<Value>(fs.length);
          for (let i = 0; i < fs.length; i++) out[i] = (fs[i] as Ev)(env);
          return new CedarSet(out);
        },
      };
    }
    case 'Record': {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('`Record` needs an object');
      const entries = mapArray(Object.keys(body), (k) => [k, compileExpr((body as Record<string, ExprJson>)[k] as ExprJson)] as const);
      if (entries.every(([, f]) => f.constant)) return constant(new CedarRecord(new Map(entries.map(([k, f]) => [k, f.constant?.value as Value]))));
      return {
        ev: (env) => {
          const m = new Map<string, Value>();
          for (const [k, f] of entries) m.set(k, f.ev(env));
          return new CedarRecord(m);
        },
      };
    }
    default:
      break;
  }

  const bin = BINARY[op];
  if (bin !== undefined && typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const l = compileExpr(node.left as ExprJson);
    const r = compileExpr(node.right as ExprJson);
    if (l.constant && r.constant && !STORE_DEPENDENT.has(op)) {
      const a = l.constant.value;
      const b = r.constant.value;
      return foldOrDefer(() => bin(undefined as unknown as Env, a, b));
    }
    return compileBinary(op, bin, l, r);
  }

  if (Array.isArray(body)) {
    const fn = EXTENSION_FUNCTIONS.get(op);
    if (fn === undefined) return invalid(`\`${op}\` is not a known extension function`);
    const args = mapArray(body as ExprJson[], (x) => compileExpr(x));
    if (args.every((a) => a.constant)) return foldOrDefer(() => callExtension(op, args.map((a) => a.constant?.value as Value)));
    if (args.length !== fn.arity) {
      const fs = args.map((a) => a.ev);
      return {
        ev: (env) => {
          for (const f of fs) f(env); // arguments are evaluated (and may error) first
          return callExtension(op, []);
        },
      };
    }
    if (fn.arity === 1) {
      const a = (args[0] as Folded).ev;
      const f = fn.f;
      return { ev: (env) => f(a(env)) };
    }
    const a = (args[0] as Folded).ev;
    const b = (args[1] as Folded).ev;
    const f = fn.f;
    return { ev: (env) => f(a(env), b(env)) };
  }
  return invalid(`unknown expression operator \`${op}\``);
}

function compileBinary(op: string, bin: Binary, l: Folded, r: Folded): Folded {
  const lf = l.ev;
  const rf = r.ev;
  // Hot shapes get a closure without the generic dispatch.
  if (op === '==' && r.constant) {
    const k = r.constant.value;
    if (typeof k !== 'object') return { ev: (env) => lf(env) === k };
    if (k instanceof EntityRef) {
      const key = k.key;
      return {
        ev: (env) => {
          const v = lf(env);
          return v instanceof EntityRef && v.key === key;
        },
      };
    }
  }
  if (op === 'in' && r.constant && r.constant.value instanceof EntityRef) {
    const key = r.constant.value.key;
    return {
      ev: (env) => {
        const v = asEntity(lf(env));
        return v.key === key || env.ancestors(v).has(key);
      },
    };
  }
  if (op === 'contains' && r.constant === undefined && l.constant && l.constant.value instanceof CedarSet) {
    const set = l.constant.value;
    return { ev: (env) => set.has(rf(env)) };
  }
  return { ev: (env) => bin(env, lf(env), rf(env)) };
}

type ScopeTest = ((env: Env) => boolean) | undefined;

function compileEntityScope(c: PrincipalOrResourceConstraint, pick: (env: Env) => EntityRef): ScopeTest {
  const slotOrEntity = (x: unknown): EntityRef => {
    const o = x as { entity?: EntityUid; slot?: string };
    if (o.slot !== undefined) return invalid('template slots are not supported; link templates before compiling');
    if (o.entity === undefined) return invalid('scope constraint needs an entity');
    return uidOf(o.entity);
  };
  switch (c.op) {
    case 'All':
      return undefined;
    case '==': {
      const key = slotOrEntity(c).key;
      return (env) => pick(env).key === key;
    }
    case 'in': {
      const key = slotOrEntity(c).key;
      return (env) => {
        const u = pick(env);
        return u.key === key || env.ancestors(u).has(key);
      };
    }
    case 'is': {
      const type = c.entity_type;
      if (typeof type !== 'string') return invalid('`is` scope needs an entity type');
      if (c.in === undefined) return (env) => pick(env).type === type;
      const key = slotOrEntity(c.in).key;
      return (env) => {
        const u = pick(env);
        return u.type === type && (u.key === key || env.ancestors(u).has(key));
      };
    }
    default:
      return invalid(`unknown scope operator ${JSON.stringify((c as { op: unknown }).op)}`);
  }
}

function compileActionScope(c: PolicyJson['action']): ScopeTest {
  const pick = (env: Env): EntityRef => env.a;
  if (c.op === 'in' && 'entities' in c) {
    if (!Array.isArray(c.entities)) return invalid('action `in` needs a list of entities');
    const keys = c.entities.map((e) => uidOf(e).key);
    return (env) => {
      const u = env.a;
      let anc: ReadonlySet<string> | undefined;
      for (const k of keys) if (k === u.key || (anc ??= env.ancestors(u)).has(k)) return true;
      return false;
    };
  }
  if (c.op !== 'All' && c.op !== '==' && c.op !== 'in') return invalid('unknown action scope operator');
  return compileEntityScope(c as PrincipalOrResourceConstraint, pick);
}

function compilePolicy(id: string, json: PolicyJson): CompiledPolicy {
  if (typeof json !== 'object' || json === null) return invalid('policy must be an object');
  if (json.effect !== 'permit' && json.effect !== 'forbid') return invalid('effect must be permit or forbid');
  if (!Array.isArray(json.conditions)) return invalid('conditions must be an array');
  const action = compileActionScope(json.action);
  const scopes = [
    compileEntityScope(json.principal, (env) => env.p),
    action,
    compileEntityScope(json.resource, (env) => env.r),
  ].filter((s): s is (env: Env) => boolean => s !== undefined);
  const conds = mapArray(json.conditions, (c) => {
    if (c.kind !== 'when' && c.kind !== 'unless') return invalid('condition kind must be when or unless');
    return { ev: compileExpr(c.body).ev, want: c.kind === 'when' };
  });
  // Cedar: principal && action && resource && when₁ && !unless₁ ..., left to right, short-circuit.
  const test = (env: Env): boolean => {
    for (let i = 0; i < scopes.length; i++) if (!(scopes[i] as (env: Env) => boolean)(env)) return false;
    for (let i = 0; i < conds.length; i++) {
      const c = conds[i] as { ev: Ev; want: boolean };
      const v = c.ev(env);
      if (typeof v !== 'boolean') typeError('bool', v);
      if (v !== c.want) return false;
    }
    return true;
  };
  return { id, effect: json.effect, action, test, json };
}

interface ActionIndex {
  epoch: number;
  byAction: Map<string, ActionEntry>;
}

interface ActionEntry {
  /** By index in evaluation order (forbids, then permits): 1 when the action scope admits the action. */
  sel: Uint8Array;
  lists?: { permits: readonly CompiledPolicy[]; forbids: readonly CompiledPolicy[] };
}

/** Distinct actions remembered per store before the index starts over (requests may name any action). */
const ACTION_INDEX_MAX = 1024;

const HOST: CodegenHost = {
  expr: (json) => compileExpr(json),
  pattern: (pattern) => compilePattern(pattern),
  uidKey: (json) => uidOf(json).key,
};

export class CompiledPolicySet {
  readonly permits: readonly CompiledPolicy[];
  readonly forbids: readonly CompiledPolicy[];
  readonly ids: readonly string[];
  /** Forbids, then permits: the order policies are evaluated and errors reported in. */
  private readonly ordered: readonly CompiledPolicy[];
  /** Generated evaluators over `ordered` (codegen.ts). */
  private readonly chunks: readonly Chunk[];
  /**
   * Which policies can apply to an action, per store. A memo of policy applicability, not of
   * decisions: it depends only on the action's ancestors, so it is dropped when the store's
   * hierarchy epoch moves.
   */
  private readonly indexes = new WeakMap<EntityStore, ActionIndex>();

  constructor(policies: readonly CompiledPolicy[]) {
    this.permits = policies.filter((p) => p.effect === 'permit');
    this.forbids = policies.filter((p) => p.effect === 'forbid');
    this.ids = policies.map((p) => p.id);
    this.ordered = [...this.forbids, ...this.permits];
    this.chunks = generateChunks(this.ordered, HOST);
  }

  private entry(env: Env): ActionEntry {
    let idx = this.indexes.get(env.s);
    if (idx === undefined || idx.epoch !== env.s.hierarchyEpoch || idx.byAction.size >= ACTION_INDEX_MAX) {
      idx = { epoch: env.s.hierarchyEpoch, byAction: new Map() };
      this.indexes.set(env.s, idx);
    }
    let hit = idx.byAction.get(env.a.key);
    if (hit === undefined) {
      const sel = new Uint8Array(this.ordered.length);
      for (let i = 0; i < this.ordered.length; i++) {
        const p = this.ordered[i] as CompiledPolicy;
        sel[i] = p.action === undefined || p.action(env) ? 1 : 0;
      }
      hit = { sel };
      idx.byAction.set(env.a.key, hit);
    }
    return hit;
  }

  /** The permits and forbids whose action scope admits `env.a`. */
  forAction(env: Env): { permits: readonly CompiledPolicy[]; forbids: readonly CompiledPolicy[] } {
    const e = this.entry(env);
    if (e.lists === undefined) {
      const admitted = this.ordered.filter((_, i) => e.sel[i] === 1);
      e.lists = { permits: admitted.filter((p) => p.effect === 'permit'), forbids: admitted.filter((p) => p.effect === 'forbid') };
    }
    return e.lists;
  }

  /**
   * Cedar spec, "Authorization": deny by default; any satisfied forbid denies and is the reason;
   * else any satisfied permit allows and is the reason; a policy whose evaluation errors is
   * skipped and its error reported. Every applicable policy is evaluated (errors are reported).
   */
  decide(env: Env): Decision {
    const sel = this.entry(env).sel;
    const out = new Outcome();
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length; i++) (chunks[i] as Chunk)(env, sel, out);
    const errors = out.e ?? [];
    if (out.f !== undefined) return { decision: 'deny', determining: out.f, errors };
    if (out.p !== undefined) return { decision: 'allow', determining: out.p, errors };
    return { decision: 'deny', determining: [], errors };
  }
}

/**
 * Compile a policy set. An array gets Cedar's default ids `policy0`, `policy1`, ...; a record keeps
 * its keys. Throws ZETA_ERR_POLICY_INVALID naming the first policy that does not compile.
 */
export function compilePolicySet(policiesJson: readonly PolicyJson[] | Readonly<Record<string, PolicyJson>>): CompiledPolicySet {
  const entries: [string, PolicyJson][] = Array.isArray(policiesJson)
    ? (policiesJson as readonly PolicyJson[]).map((p, i) => [`policy${i}`, p])
    : Object.entries(policiesJson as Readonly<Record<string, PolicyJson>>);
  const out: CompiledPolicy[] = [];
  for (let i = 0; i < entries.length; i++) {
    const [id, json] = entries[i] as [string, PolicyJson];
    try {
      out.push(compilePolicy(id, json));
    } catch (e) {
      if (e instanceof PolicyCompileError || e instanceof TypeError) {
        throw new ZetaError('ZETA_ERR_POLICY_INVALID', `Policy ${id} is not valid Cedar JSON.`, { internal: e.message, fields: { policyId: id } });
      }
      throw e;
    }
  }
  return new CompiledPolicySet(out);
}
