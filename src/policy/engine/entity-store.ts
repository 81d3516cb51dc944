/**
 * The entity store the evaluator reads: attributes, tags and the transitive closure of the parent
 * relation (Cedar spec, "Entities": `in` is reflexive and transitive over `parents`). Values are
 * converted once, at upsert; ancestor sets are memoised per entity and dropped lazily when the
 * hierarchy changes, so a change applies to the very next decision.
 */
import { ZetaError } from '../../common/errors.js';
import type { EntityJson, EntityUid } from './types.js';
import { entityRefFromJson, valueFromJson } from './value-json.js';
import { EntityRef, EvalError, mapArray, type Value } from './values.js';

export interface StoredEntity {
  readonly uid: EntityRef;
  readonly attrs: ReadonlyMap<string, Value>;
  readonly tags: ReadonlyMap<string, Value>;
  /** Keys (see `entityKey`) of the direct parents. */
  readonly parents: readonly string[];
}

/**
 * An entity's attributes as an object with own properties only (its prototype chain is one empty,
 * null-prototype object), so `bag[name]` is the attribute or undefined — never an inherited
 * property — and entities with the same attribute names share a V8 hidden class: generated code
 * reads an attribute with an inline-cached property load instead of a hash lookup.
 */
export type AttrBag = Readonly<Record<string, Value | undefined>>;

const BAG_PROTO: object = Object.create(null) as object;
function Bag(this: Record<string, Value>): void {}
Bag.prototype = BAG_PROTO;
const BagCtor = Bag as unknown as new () => Record<string, Value>;

const INDEX_LIKE = /^(0|[1-9][0-9]*)$/;

/**
 * Attributes converted straight into a bag. `order` is the JSON's key order when a bag would not
 * keep it (an integer-like name enumerates first), for the `attrs` map; otherwise undefined.
 */
function bagFromJson(obj: Record<string, unknown> | undefined): { bag: AttrBag; order: readonly string[] | undefined } {
  const o = new BagCtor();
  if (obj === undefined) return { bag: o, order: undefined };
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new EvalError('attrs must be an object');
  const keys = Object.keys(obj);
  let order: string[] | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    o[k] = valueFromJson(obj[k], true);
    if (order === undefined && INDEX_LIKE.test(k)) order = keys;
  }
  return { bag: o, order };
}

const NO_TAGS: ReadonlyMap<string, Value> = new Map();

/**
 * A stored entity plus what the evaluator derives from it. Internal to the engine. It is its own
 * uid (an EntityRef with an internalised key), so binding a request to a stored entity costs no
 * allocation and reading the principal's type or key touches no other object.
 */
export class Slot extends EntityRef implements StoredEntity {
  /** The transitive ancestors when more than ANCESTORS_INLINE, valid while `epoch` is the store's. */
  ancestors: ReadonlySet<string> | undefined = undefined;
  epoch = -1;
  /**
   * The first ANCESTORS_INLINE ancestors (internalised keys) and their count, kept with the slot
   * so an `in` test usually reads no other object (see `EntityStore.hasAncestor`).
   */
  a0: string | undefined = undefined;
  a1: string | undefined = undefined;
  a2: string | undefined = undefined;
  a3: string | undefined = undefined;
  an = 0;
  readonly uid: EntityRef = this;
  constructor(
    uid: EntityRef,
    /** The attributes (see AttrBag); the evaluator reads only this. */
    readonly o: AttrBag,
    private readonly attrOrder: readonly string[] | undefined,
    readonly tags: ReadonlyMap<string, Value>,
    readonly parents: readonly string[],
  ) {
    super(uid.type, uid.id, uid.key);
  }

  /** The attributes as a map, in their JSON order; built on demand (the evaluator reads `o`). */
  get attrs(): ReadonlyMap<string, Value> {
    const m = new Map<string, Value>();
    if (this.attrOrder !== undefined) for (const k of this.attrOrder) m.set(k, this.o[k] as Value);
    else for (const k in this.o) m.set(k, this.o[k] as Value);
    return m;
  }
}

const ANCESTORS_INLINE = 4;

const NO_ANCESTORS: ReadonlySet<string> = new Set();

function convertMap(obj: Record<string, unknown> | undefined, what: string): Map<string, Value> {
  const m = new Map<string, Value>();
  if (obj === undefined) return m;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new EvalError(`${what} must be an object`);
  for (const k of Object.keys(obj)) m.set(k, valueFromJson(obj[k], true));
  return m;
}

function parseEntity(json: EntityJson): Slot {
  let where = 'entity';
  try {
    const uid = entityRefFromJson(json.uid, true);
    where = `entity ${uid.toString()}`;
    const parents = (json.parents ?? []).map((p) => entityRefFromJson(p, true).key);
    const { bag, order } = bagFromJson(json.attrs);
    const tags = json.tags === undefined ? NO_TAGS : convertMap(json.tags, 'tags');
    return new Slot(uid, bag, order, tags.size === 0 ? NO_TAGS : tags, parents);
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
  /** The same slots by type, then id: a request's uid finds its entity without building a key. */
  private readonly byType = new Map<string, Map<string, Slot>>();
  /** Bumped when any entity's ancestor set may have changed; memoised closures from older epochs are stale. */
  private epoch = 0;

  /** Duplicate uids are refused, as Cedar refuses them in one entity file. */
  constructor(entitiesJson: readonly EntityJson[] = []) {
    for (const slot of mapArray(entitiesJson, parseEntity)) {
      if (this.entities.has(slot.uid.key)) {
        throw new ZetaError('ZETA_ERR_ENTITY_INVALID', `Duplicate entity ${slot.uid.toString()}.`);
      }
      this.put(slot);
    }
    // Close the hierarchy now, so first decisions do not pay for it.
    for (const slot of this.entities.values()) this.close(slot);
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
    const slots = mapArray(entitiesJson, parseEntity);
    for (const slot of slots) {
      const old = this.entities.get(slot.uid.key);
      if (old === undefined || !sameParents(old.parents, slot.parents)) this.epoch++;
      this.put(slot);
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
    for (const k of keys) {
      const slot = this.entities.get(k);
      if (slot === undefined) continue;
      this.entities.delete(k);
      this.byType.get(slot.uid.type)?.delete(slot.uid.id);
      n++;
    }
    if (n > 0) this.epoch++;
    return n;
  }

  private put(slot: Slot): void {
    this.entities.set(slot.uid.key, slot);
    let ids = this.byType.get(slot.uid.type);
    if (ids === undefined) this.byType.set(slot.uid.type, (ids = new Map()));
    ids.set(slot.uid.id, slot);
  }

  get(key: string): Slot | undefined {
    return this.entities.get(key);
  }

  /** The entity with this type and id, as `get(entityKey(type, id))`. */
  lookup(type: string, id: string): Slot | undefined {
    return this.byType.get(type)?.get(id);
  }

  /** `ancestorsOf(slot.key)` for a slot of this store, without the key lookup. */
  ancestorsOfSlot(slot: Slot): ReadonlySet<string> {
    this.close(slot);
    if (slot.an > ANCESTORS_INLINE) return slot.ancestors as ReadonlySet<string>;
    const out = new Set<string>();
    if (slot.an > 0) out.add(slot.a0 as string);
    if (slot.an > 1) out.add(slot.a1 as string);
    if (slot.an > 2) out.add(slot.a2 as string);
    if (slot.an > 3) out.add(slot.a3 as string);
    return out;
  }

  /** `ancestorsOfSlot(slot).has(key)`; `key` should be internalised (a literal of generated code). */
  hasAncestor(slot: Slot, key: string): boolean {
    if (slot.epoch !== this.epoch) this.close(slot);
    if (slot.a0 === key || slot.a1 === key || slot.a2 === key || slot.a3 === key) return true;
    return slot.an > ANCESTORS_INLINE && (slot.ancestors as ReadonlySet<string>).has(key);
  }

  /** All transitive ancestors of the entity (not itself); empty when it does not exist. */
  ancestorsOf(key: string): ReadonlySet<string> {
    const slot = this.entities.get(key);
    return slot === undefined ? NO_ANCESTORS : this.ancestorsOfSlot(slot);
  }

  /**
   * Memoise the slot's transitive ancestors for the current epoch: the first ANCESTORS_INLINE in
   * its inline fields, the full set only when there are more (most entities have a few).
   */
  private close(slot: Slot): void {
    if (slot.epoch === this.epoch) return;
    const out = new Set<string>();
    const stack = [...slot.parents];
    for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
      const p = this.entities.get(k);
      // the stored entity's own (internalised) key: one string object per ancestor store-wide
      const key = p === undefined ? k : p.key;
      if (out.has(key)) continue; // INVARIANT: terminates on cyclic data too
      out.add(key);
      if (p === undefined) continue; // a parent that is not in the store is an ancestor with no ancestors
      if (p.epoch === this.epoch) {
        if (p.an > ANCESTORS_INLINE) for (const a of p.ancestors as ReadonlySet<string>) out.add(a);
        else {
          if (p.an > 0) out.add(p.a0 as string);
          if (p.an > 1) out.add(p.a1 as string);
          if (p.an > 2) out.add(p.a2 as string);
          if (p.an > 3) out.add(p.a3 as string);
        }
      } else {
        for (const q of p.parents) stack.push(q);
      }
    }
    const it = out.values();
    slot.a0 = it.next().value;
    slot.a1 = it.next().value;
    slot.a2 = it.next().value;
    slot.a3 = it.next().value;
    slot.an = out.size;
    slot.ancestors = out.size > ANCESTORS_INLINE ? out : undefined;
    slot.epoch = this.epoch;
  }
}
