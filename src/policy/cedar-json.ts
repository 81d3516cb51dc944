/**
 * The parser step in front of the pure engine: Cedar policy text → policy EST (JSON) through
 * cedar-wasm, and schema-directed normalisation of entity and context JSON. Kept outside
 * `engine/` because it loads WebAssembly; the engine only ever sees JSON.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { ZetaError } from '../common/errors.js';
import type { CedarValueJson, EntityJson, EntityUid, PolicyJson, TypeAndId } from './engine/index.js';

function detail(errors: { message: string }[]): string {
  return errors.map((e) => e.message).join('; ');
}

/** Integer literals of the policy text, outside strings, comments and identifiers. */
function integerTokens(text: string): { start: number; end: number; digits: string }[] {
  const out: { start: number; end: number; digits: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i] as string)) i++;
    } else if (/[0-9]/.test(c)) {
      const start = i;
      while (i < text.length && /[0-9]/.test(text[i] as string)) i++;
      out.push({ start, end: i, digits: text.slice(start, i) });
    } else {
      i++;
    }
  }
  return out;
}

/** Replace each `{ Value: ±marker }` by the exact i64 it stands for. */
function restoreLongs(node: unknown, markers: ReadonlyMap<number, bigint>): unknown {
  if (Array.isArray(node)) return node.map((x: unknown) => restoreLongs(x, markers));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'Value' && typeof v === 'number' && markers.has(Math.abs(v))) {
      const exact = markers.get(Math.abs(v)) as bigint;
      out[k] = v < 0 ? -exact : exact;
    } else {
      out[k] = restoreLongs(v, markers);
    }
  }
  return out;
}

/**
 * Parse a Cedar policy set into EST, keyed by Cedar's default ids (`policy0`, `policy1`, ... in
 * text order). cedar-wasm hands numbers across as doubles, so integer literals beyond 2^53 are
 * swapped for unique safe markers before parsing and restored as exact bigints afterwards.
 */
export function policySetTextToJson(text: string): Record<string, PolicyJson> {
  const checked = cedar.policySetTextToParts(text);
  if (checked.type !== 'success') {
    throw new ZetaError('ZETA_ERR_POLICY_INVALID', 'The policy set does not parse.', { internal: detail(checked.errors) });
  }
  if (checked.policy_templates.length > 0) {
    throw new ZetaError('ZETA_ERR_POLICY_INVALID', 'Templates are not supported; link them into static policies first.');
  }
  const tokens = integerTokens(text);
  const markers = new Map<number, bigint>();
  let source = text;
  const unsafe = tokens.filter((t) => !Number.isSafeInteger(Number(t.digits)));
  if (unsafe.length > 0) {
    const used = new Set(tokens.map((t) => BigInt(t.digits)));
    let next = 2 ** 52 + 1_000_003;
    let rebuilt = '';
    let at = 0;
    for (const t of unsafe) {
      while (used.has(BigInt(next))) next++;
      markers.set(next, BigInt(t.digits));
      rebuilt += text.slice(at, t.start) + String(next);
      at = t.end;
      next++;
    }
    source = rebuilt + text.slice(at);
  }
  const parts = markers.size === 0 ? checked : cedar.policySetTextToParts(source);
  if (parts.type !== 'success' || parts.policies.length !== checked.policies.length) {
    throw new ZetaError('ZETA_ERR_POLICY_INVALID', 'The policy set does not parse.', {
      internal: parts.type === 'success' ? 'policy count changed after literal substitution' : detail(parts.errors),
    });
  }
  // policySetTextToParts returns policies sorted by id as strings: policy0, policy1, policy10, ...
  const ids = parts.policies.map((_, i) => `policy${i}`).sort();
  const out: Record<string, PolicyJson> = {};
  parts.policies.forEach((p, j) => {
    const r = cedar.policyToJson(p);
    if (r.type !== 'success') {
      throw new ZetaError('ZETA_ERR_POLICY_INVALID', `Policy ${ids[j] ?? j} does not convert to JSON.`, { internal: detail(r.errors) });
    }
    out[ids[j] as string] = (markers.size === 0 ? r.json : restoreLongs(r.json, markers)) as PolicyJson;
  });
  // Text order, for readers of the result; ids already say which is which.
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => Number(a.slice(6)) - Number(b.slice(6))));
}

// ---------------------------------------------------------------------------------------------
// Schema-directed normalisation. Cedar parses entity and context JSON against the schema when one
// is given: a string where an extension type is expected is a constructor call, `{type, id}` where
// an entity is expected is a reference, and the schema's action entities join the entity set
// (Cedar docs, "Entities and context syntax", schema-based parsing). The engine itself is
// schema-less, so this step makes the data explicit.

interface SchemaType {
  type: string;
  element?: SchemaType;
  attributes?: Record<string, SchemaType>;
  name?: string;
}

interface SchemaNamespace {
  commonTypes?: Record<string, SchemaType>;
  entityTypes?: Record<string, { shape?: SchemaType; tags?: SchemaType }>;
  actions?: Record<
    string,
    {
      memberOf?: { id: string; type?: string }[];
      attributes?: Record<string, CedarValueJson>;
      appliesTo?: { context?: SchemaType };
    }
  >;
}

const EXTENSION_CONSTRUCTORS: Record<string, string> = { ipaddr: 'ip', decimal: 'decimal', datetime: 'datetime', duration: 'duration' };

export class CedarSchema {
  private readonly common = new Map<string, SchemaType>();
  private readonly shapes = new Map<string, { shape?: SchemaType | undefined; tags?: SchemaType | undefined }>();
  private readonly contexts = new Map<string, SchemaType>();
  readonly actionEntities: EntityJson[] = [];

  constructor(text: string) {
    const r = cedar.schemaToJsonWithResolvedTypes(text);
    if (r.type !== 'success') throw new ZetaError('ZETA_ERR_POLICY_INVALID', 'The schema does not parse.', { internal: detail(r.errors) });
    const json = r.json as unknown as Record<string, SchemaNamespace>;
    for (const [ns, def] of Object.entries(json)) {
      const q = (n: string): string => (ns === '' ? n : `${ns}::${n}`);
      for (const [n, t] of Object.entries(def.commonTypes ?? {})) this.common.set(q(n), t);
      for (const [n, t] of Object.entries(def.entityTypes ?? {})) this.shapes.set(q(n), { shape: t.shape, tags: t.tags });
      for (const [id, a] of Object.entries(def.actions ?? {})) {
        const uid: TypeAndId = { type: q('Action'), id };
        if (a.appliesTo?.context !== undefined) this.contexts.set(`${uid.type}\u0000${id}`, a.appliesTo.context);
        this.actionEntities.push({
          uid,
          attrs: a.attributes ?? {},
          parents: (a.memberOf ?? []).map((m) => ({ type: m.type === undefined ? q('Action') : m.type.includes('::') ? m.type : q(m.type), id: m.id })),
        });
      }
    }
  }

  private resolve(t: SchemaType | undefined, depth = 0): SchemaType | undefined {
    if (t === undefined || depth > 32) return undefined;
    const c = this.common.get(t.type);
    if (c !== undefined) return this.resolve(c, depth + 1);
    return t;
  }

  private coerce(v: CedarValueJson, t0: SchemaType | undefined): CedarValueJson {
    const t = this.resolve(t0);
    if (t === undefined) return v;
    const base = t.type.startsWith('__cedar::') ? t.type.slice('__cedar::'.length) : t.type;
    const ctor = EXTENSION_CONSTRUCTORS[base];
    if (ctor !== undefined && !this.shapes.has(t.type)) {
      if (typeof v === 'string') return { __extn: { fn: ctor, arg: v } };
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && !('__extn' in v) && 'fn' in v) {
        return { __extn: v as { fn: string; arg: CedarValueJson } };
      }
      return v;
    }
    if (base === 'Entity' || (this.shapes.has(t.type) && base !== 'Record' && base !== 'Set')) {
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && !('__entity' in v) && 'type' in v && 'id' in v) {
        return { __entity: v as unknown as TypeAndId };
      }
      return v;
    }
    if (base === 'Set' && Array.isArray(v)) return v.map((x) => this.coerce(x, t.element));
    if (base === 'Record' && typeof v === 'object' && v !== null && !Array.isArray(v)) return this.coerceRecord(v as Record<string, CedarValueJson>, t.attributes);
    return v;
  }

  private coerceRecord(obj: Record<string, CedarValueJson> | undefined, attrs: Record<string, SchemaType> | undefined): Record<string, CedarValueJson> {
    if (obj === undefined) return {};
    if (attrs === undefined) return obj;
    const out: Record<string, CedarValueJson> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = this.coerce(v, attrs[k]);
    return out;
  }

  /** Entities made explicit, plus the schema's action entities that the data does not declare. */
  normaliseEntities(entities: readonly EntityJson[]): EntityJson[] {
    const key = (u: EntityUid): string => {
      const t = '__entity' in u ? u.__entity : u;
      return `${t.type}\u0000${t.id}`;
    };
    const out = entities.map((e) => {
      const t = '__entity' in e.uid ? e.uid.__entity : e.uid;
      const s = this.shapes.get(t.type);
      const n: EntityJson = { uid: e.uid, attrs: this.coerceRecord(e.attrs, this.resolve(s?.shape)?.attributes), parents: e.parents ?? [] };
      if (e.tags !== undefined) {
        const tagType = s?.tags;
        n.tags = Object.fromEntries(Object.entries(e.tags).map(([k, v]) => [k, this.coerce(v, tagType)]));
      }
      return n;
    });
    const present = new Set(out.map((e) => key(e.uid)));
    for (const a of this.actionEntities) if (!present.has(key(a.uid))) out.push(a);
    return out;
  }

  normaliseContext(action: EntityUid, context: Record<string, CedarValueJson>): Record<string, CedarValueJson> {
    const t = '__entity' in action ? action.__entity : action;
    const ctxType = this.resolve(this.contexts.get(`${t.type}\u0000${t.id}`));
    return this.coerceRecord(context, ctxType?.attributes);
  }
}
