/**
 * The entity store the evaluator reads: attributes, tags and the transitive closure of the parent
 * relation (Cedar spec, "Entities": `in` is reflexive and transitive over `parents`). Values are
 * converted once, at upsert; ancestor sets are memoised per entity and dropped lazily when the
 * hierarchy changes, so a change applies to the very next decision.
 */
import { ZetaError } from '../../common/errors.js';
import type { EntityJson, EntityUid } from './types.js';
import { entityRefFromJson, valueFromJson } from './value-json.js';
import { EvalError, type EntityRef, type Value } from './values.js';

export interface StoredEntity {
  readonly uid: EntityRef;
  readonly attrs: ReadonlyMap<string, Value>;
  readonly tags: ReadonlyMap<string, Value>;
  /** Keys (see `entityKey`) of the direct parents. */
  readonly parents: readonly string[];
}

class Slot implements StoredEntity {
  ancestors: ReadonlySet<string> | undefined = undefined;
  epoch = -1;
  constructor(
    readonly uid: EntityRef,
    readonly attrs: ReadonlyMap<string, Value>,
    readonly tags: ReadonlyMap<string, Value>,
    readonly parents: readonly string[],
  ) {}
}

const NO_ANCESTORS: ReadonlySet<string> = new Set();

function convertMap(obj: Record<string, unknown> | undefined, what: string): Map<string, Value> {
  const m = new Map<string, Value>();
  if (obj === undefined) return m;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new EvalError(`${what} must be an object`);
  for (const k of Object.keys(obj)) m.set(k, valueFromJson(obj[k]));
  return m;
}

function parseEntity(json: EntityJson): Slot {
  let where = 'entity';
  try {
    const uid = entityRefFromJson(json.uid);
    where = `entity ${uid.toString()}`;
    const parents = (json.parents ?? []).map((p) => entityRefFromJson(p).key);
    return new Slot(uid, convertMap(json.attrs, 'attrs'), convertMap(json.tags, 'tags'), parents);
  } catch (e) {
    throw new ZetaError('ZETA_ERR_ENTITY_INVALID', `Invalid ${where}.`, {
      internal: e instanceof EvalError ? e.message : String(e),
    });
  }
}

function sameParents(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((k) => s.has(k));
}

export class EntityStore {
  private readonly entities = new Map<string, Slot>();
  /** Bumped when any entity's ancestor set may have changed; memoised closures from older epochs are stale. */
  private epoch = 0;

  /** Duplicate uids are refused, as Cedar refuses them in one entity file. */
  constructor(entitiesJson: readonly EntityJson[] = []) {
    for (const slot of entitiesJson.map(parseEntity)) {
      if (this.entities.has(slot.uid.key)) {
        throw new ZetaError('ZETA_ERR_ENTITY_INVALID', `Duplicate entity ${slot.uid.toString()}.`);
      }
      this.entities.set(slot.uid.key, slot);
    }
    // Close the hierarchy now, so first decisions do not pay for it.
    for (const k of this.entities.keys()) this.ancestorsOf(k);
  }

  /** Changes whenever any ancestor set may have changed; lets callers key memos on the hierarchy. */
  get hierarchyEpoch(): number {
    return this.epoch;
  }

  get size(): number {
    return this.entities.size;
  }

  /** Insert or replace whole entities; all or nothing. A later duplicate in one call wins. */
  upsert(...entitiesJson: EntityJson[]): void {
    const slots = entitiesJson.map(parseEntity);
    for (const slot of slots) {
      const old = this.entities.get(slot.uid.key);
      if (old === undefined || !sameParents(old.parents, slot.parents)) this.epoch++;
      this.entities.set(slot.uid.key, slot);
    }
  }

  /** Remove entities; returns how many existed. */
  remove(...uids: EntityUid[]): number {
    const keys = uids.map((u) => {
      try {
        return entityRefFromJson(u).key;
      } catch (e) {
        throw new ZetaError('ZETA_ERR_ENTITY_INVALID', 'Invalid entity reference.', { internal: e instanceof EvalError ? e.message : String(e) });
      }
    });
    let n = 0;
    for (const k of keys) if (this.entities.delete(k)) n++;
    if (n > 0) this.epoch++;
    return n;
  }

  get(key: string): StoredEntity | undefined {
    return this.entities.get(key);
  }

  /** All transitive ancestors of the entity (not itself); empty when it does not exist. */
  ancestorsOf(key: string): ReadonlySet<string> {
    const slot = this.entities.get(key);
    if (slot === undefined) return NO_ANCESTORS;
    if (slot.epoch === this.epoch && slot.ancestors !== undefined) return slot.ancestors;
    const out = new Set<string>();
    const stack = [...slot.parents];
    for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
      if (out.has(k)) continue; // INVARIANT: terminates on cyclic data too
      out.add(k);
      const p = this.entities.get(k);
      if (p === undefined) continue; // a parent that is not in the store is an ancestor with no ancestors
      if (p.epoch === this.epoch && p.ancestors !== undefined) {
        for (const a of p.ancestors) out.add(a);
      } else {
        for (const q of p.parents) stack.push(q);
      }
    }
    slot.ancestors = out;
    slot.epoch = this.epoch;
    return out;
  }
}
