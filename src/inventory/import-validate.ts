/**
 * The bulk-import fast path for deviceInputSchema: a hand-written check of the common case, so a
 * million records do not each pay for a schema parse. It is conservative by construction: it
 * returns a record only when deviceInputSchema certainly accepts the input and would return the
 * same value; for anything else (an error, an unusual but valid shape) it returns undefined and the
 * caller parses with the schema itself, which also writes the error messages. So the schema stays
 * the one definition of a valid record (test: import-validate.test.ts, a differential check).
 */
import { ID_PATTERN } from '../common/ids.js';
import { DEVICE_INPUT_LIMITS, DEVICE_TYPE_PATTERN, SEGMENT_PATTERN, type DeviceInput } from './model.js';

const KNOWN_KEYS = new Set(['id', 'name', 'type', 'vendor', 'model', 'firmware', 'owner', 'site', 'segment', 'tags']);
const LABEL_KEYS = ['vendor', 'model', 'firmware', 'owner', 'site'] as const;

/** z.string().trim().min(1).max(max): the trimmed string, or undefined when it would not parse. */
function trimmed(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t.length >= 1 && t.length <= max ? t : undefined;
}

/** deviceInputSchema.parse(rec) when that certainly succeeds; otherwise undefined (ask the schema). */
export function quickDeviceInput(rec: unknown): DeviceInput | undefined {
  if (typeof rec !== 'object' || rec === null) return undefined;
  const proto: unknown = Object.getPrototypeOf(rec);
  if (proto !== Object.prototype && proto !== null) return undefined;
  // strictObject: every enumerable key must be declared (zod walks keys with for...in too).
  for (const key in rec) if (!KNOWN_KEYS.has(key)) return undefined;
  const r = rec as Record<string, unknown>;
  // An explicit undefined is valid for optional keys, but leave that case to the schema.
  for (const key in r) if (r[key] === undefined) return undefined;

  const name = trimmed(r['name'], DEVICE_INPUT_LIMITS.labelChars);
  const type = r['type'];
  if (name === undefined || typeof type !== 'string' || !DEVICE_TYPE_PATTERN.test(type)) return undefined;
  const out: DeviceInput = { name, type };

  if ('id' in r) {
    const id = r['id'];
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) return undefined;
    out.id = id;
  }
  for (const key of LABEL_KEYS) {
    if (!(key in r)) continue;
    const v = r[key];
    if (v === null) {
      out[key] = null;
    } else {
      const t = trimmed(v, DEVICE_INPUT_LIMITS.labelChars);
      if (t === undefined) return undefined;
      out[key] = t;
    }
  }
  if ('segment' in r) {
    const s = r['segment'];
    if (s === null) out.segment = null;
    else if (typeof s === 'string' && SEGMENT_PATTERN.test(s)) out.segment = s;
    else return undefined;
  }
  if ('tags' in r) {
    const tags = r['tags'];
    if (!Array.isArray(tags) || Object.getPrototypeOf(tags) !== Array.prototype || tags.length > DEVICE_INPUT_LIMITS.tags) return undefined;
    const list: string[] = [];
    for (let i = 0; i < tags.length; i++) {
      if (!(i in tags)) return undefined; // a hole: leave it to the schema
      const t = trimmed(tags[i], DEVICE_INPUT_LIMITS.tagChars);
      if (t === undefined) return undefined;
      list.push(t);
    }
    out.tags = list;
  }
  return out;
}
