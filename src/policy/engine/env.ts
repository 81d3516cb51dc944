/**
 * What one request binds: the four Cedar variables and the store, plus per-request memos of the
 * principal's and resource's entity and ancestor set (the lookups nearly every policy repeats).
 * Lives for one decision only, so the memos can never go stale.
 */
import type { EntityStore, StoredEntity } from './entity-store.js';
import type { CedarRecord, EntityRef } from './values.js';

const UNSET = Symbol('unset');

export class Env {
  private pe: StoredEntity | undefined | typeof UNSET = UNSET;
  private re: StoredEntity | undefined | typeof UNSET = UNSET;
  private pa: ReadonlySet<string> | undefined;
  private ra: ReadonlySet<string> | undefined;

  constructor(
    readonly p: EntityRef,
    readonly a: EntityRef,
    readonly r: EntityRef,
    readonly c: CedarRecord,
    readonly s: EntityStore,
  ) {}

  entity(ref: EntityRef): StoredEntity | undefined {
    if (ref === this.p) return this.pe === UNSET ? (this.pe = this.s.get(ref.key)) : this.pe;
    if (ref === this.r) return this.re === UNSET ? (this.re = this.s.get(ref.key)) : this.re;
    return this.s.get(ref.key);
  }

  ancestors(ref: EntityRef): ReadonlySet<string> {
    if (ref === this.p) return (this.pa ??= this.s.ancestorsOf(ref.key));
    if (ref === this.r) return (this.ra ??= this.s.ancestorsOf(ref.key));
    return this.s.ancestorsOf(ref.key);
  }
}
