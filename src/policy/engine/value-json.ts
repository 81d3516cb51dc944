/**
 * Cedar JSON values (entity attributes, tags, context, EST `Value` literals) → runtime values. This
 * is Cedar's restricted-expression evaluation: literals, sets, records, `__entity` and `__extn`
 * escapes (Cedar docs, "JSON entity format").
 */
import { callExtension, callExtension1 } from './extensions.js';
import type { TypeAndId } from './types.js';
import { CedarRecord, CedarSet, EntityRef, entityKey, fail, intern, longFromBigInt, mapArray, type Value } from './values.js';

function isTypeAndId(x: unknown): x is TypeAndId {
  return typeof x === 'object' && x !== null && typeof (x as TypeAndId).type === 'string' && typeof (x as TypeAndId).id === 'string';
}

/** The `{type, id}` of an entity reference, with or without the `__entity` escape. */
export function typeAndIdFromJson(uid: unknown): TypeAndId {
  if (typeof uid === 'object' && uid !== null && '__entity' in uid) {
    const inner = (uid as { __entity: unknown }).__entity;
    if (isTypeAndId(inner)) return inner;
  } else if (isTypeAndId(uid)) {
    return uid;
  }
  return fail(`not an entity reference: ${safeJson(uid)}`);
}

/** `interned`: the key is internalised (see `intern`); for stored data, not per request. */
export function entityRefFromJson(uid: unknown, interned = false): EntityRef {
  const t = typeAndIdFromJson(uid);
  return interned ? new EntityRef(t.type, t.id, intern(entityKey(t.type, t.id))) : new EntityRef(t.type, t.id);
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(x);
  } catch {
    return String(x);
  }
}

/** `interned`: entity keys are internalised (stored data; see `intern`). */
export function valueFromJson(json: unknown, interned = false): Value {
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
      if (Array.isArray(json)) return new CedarSet(mapArray(json as unknown[], (x) => valueFromJson(x, interned)));
      const obj = json as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length === 1) {
        if (keys[0] === '__entity') return entityRefFromJson(obj, interned);
        if (keys[0] === '__extn') return extnFromJson(obj.__extn);
        if (keys[0] === '__expr') return fail('the `__expr` escape is not supported (removed in Cedar 4)');
      }
      const map = new Map<string, Value>();
      for (const k of keys) map.set(k, valueFromJson(obj[k], interned));
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
  if (arg !== undefined && args === undefined) return callExtension1(fn, valueFromJson(arg));
  if (Array.isArray(args) && arg === undefined) return callExtension(fn, mapArray(args as unknown[], (a) => valueFromJson(a)));
  return fail(`malformed __extn escape: ${safeJson(x)}`);
}
