/**
 * JSON Canonicalization Scheme (RFC 8785). The audit hash chain hashes this text, so two parties
 * that hold the same entry must produce the same bytes: sorted keys, no whitespace, ECMAScript
 * number and string serialization.
 *
 * Stricter than JSON.stringify on purpose: anything JSON.stringify would silently change (NaN →
 * null, Date → string via toJSON, undefined in arrays → null, Map → {}) is refused, so what is
 * hashed is exactly what is stored and read back.
 */
import { ZetaError } from '../common/errors.js';

/** Bounds recursion before any work is done on untrusted input (stack exhaustion). */
const MAX_DEPTH = 64;

// A lone surrogate cannot be encoded as UTF-8; I-JSON (RFC 7493 §2.1) and RFC 8785 §3.1 refuse it.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function canonicalJson(value: unknown): string {
  return serialize(value, '$', 0, new Set());
}

function serialize(value: unknown, path: string, depth: number, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // RFC 8785 §3.2.2.3: ECMAScript Number serialization; NaN and ±Infinity are not JSON.
      if (!Number.isFinite(value)) throw refuse(path, `is ${String(value)}, which JSON cannot represent`);
      return JSON.stringify(value); // -0 → "0", 1e21 → "1e+21", as the RFC requires
    case 'string':
      if (LONE_SURROGATE.test(value)) throw refuse(path, 'contains a lone UTF-16 surrogate');
      // RFC 8785 §3.2.2.2 is exactly ECMAScript's JSON string escaping (lower-case \u00xx).
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw refuse(path, `is a ${typeof value}, which is not JSON`);
  }

  const obj = value as object;
  if (depth >= MAX_DEPTH) throw refuse(path, `is nested deeper than ${MAX_DEPTH} levels`);
  if (ancestors.has(obj)) throw refuse(path, 'is circular');
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        const item: unknown = obj[i];
        if (item === undefined) throw refuse(`${path}[${i}]`, 'is undefined (arrays cannot drop items)');
        parts.push(serialize(item, `${path}[${i}]`, depth + 1, ancestors));
      }
      return `[${parts.join(',')}]`;
    }
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: unknown } }).constructor?.name;
      throw refuse(path, `is a ${typeof name === 'string' ? name : 'non-plain object'}; pass plain JSON (e.g. a Date as an ISO string)`);
    }
    const record = obj as Record<string, unknown>;
    // RFC 8785 §3.2.3: sort by UTF-16 code units, which is what Array#sort does for strings.
    const keys = Object.keys(record).sort();
    const parts: string[] = [];
    for (const key of keys) {
      const v = record[key];
      if (v === undefined) continue;
      if (LONE_SURROGATE.test(key)) throw refuse(path, `has a key with a lone UTF-16 surrogate`);
      parts.push(`${JSON.stringify(key)}:${serialize(v, `${path}.${key}`, depth + 1, ancestors)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}

function refuse(path: string, why: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', `cannot canonicalize ${path}: it ${why}`, { fields: { path } });
}
