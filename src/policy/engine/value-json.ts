/**
 * Cedar JSON values (entity attributes, tags, context, EST `Value` literals) → runtime values. This
 * is Cedar's restricted-expression evaluation: literals, sets, records, `__entity` and `__extn`
 * escapes (Cedar docs, "JSON entity format").
 */
import { callExtension } from './extensions.js';
import type { TypeAndId } from './types.js';
import { CedarRecord, CedarSet, EntityRef, fail, longFromBigInt, type Value } from './values.js';

function isTypeAndId(x: unknown): x is TypeAndId {
  return typeof x === 'object' && x !== null && typeof (x as TypeAndId).type === 'string' && typeof (x as TypeAndId).id === 'string';
}

export function entityRefFromJson(uid: unknown): EntityRef {
  if (typeof uid === 'object' && uid !== null && '__entity' in uid) {
    const inner = (uid as { __entity: unknown }).__entity;
    if (isTypeAndId(inner)) return new EntityRef(inner.type, inner.id);
  } else if (isTypeAndId(uid)) {
    return new EntityRef(uid.type, uid.id);
  }
  return fail(`not an entity reference: ${safeJson(uid)}`);
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(x);
  } catch {
    return String(x);
  }
}

export function valueFromJson(json: unknown): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      if (!Number.isSafeInteger(json)) return fail(`not a Cedar Long (i64): ${json}`);
      return json === 0 ? 0 : json;
    case 'bigint':
      return longFromBigInt(json) ?? fail(`integer out of i64 range: ${json}`);
    case 'object': {
      if (json === null) return fail('null is not a Cedar value');
      if (Array.isArray(json)) return new CedarSet(json.map((x: unknown) => valueFromJson(x)));
      const obj = json as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length === 1) {
        if (keys[0] === '__entity') return entityRefFromJson(obj);
        if (keys[0] === '__extn') return extnFromJson(obj.__extn);
        if (keys[0] === '__expr') return fail('the `__expr` escape is not supported (removed in Cedar 4)');
      }
      const map = new Map<string, Value>();
      for (const k of keys) map.set(k, valueFromJson(obj[k]));
      return new CedarRecord(map);
    }
    default:
      return fail(`not a Cedar value: ${safeJson(json)}`);
  }
}

function extnFromJson(x: unknown): Value {
  if (typeof x !== 'object' || x === null || typeof (x as { fn?: unknown }).fn !== 'string') {
    return fail(`malformed __extn escape: ${safeJson(x)}`);
  }
  const { fn, arg, args } = x as { fn: string; arg?: unknown; args?: unknown };
  if (arg !== undefined && args === undefined) return callExtension(fn, [valueFromJson(arg)]);
  if (Array.isArray(args) && arg === undefined) return callExtension(fn, args.map((a: unknown) => valueFromJson(a)));
  return fail(`malformed __extn escape: ${safeJson(x)}`);
}
