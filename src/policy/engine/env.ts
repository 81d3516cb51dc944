/**
 * What one request binds: the four Cedar variables and the store, the principal's and resource's
 * entity (looked up once, at bind) and per-request memos of their ancestor sets (the lookups
 * nearly every policy repeats). Lives for one decision only, so the memos can never go stale.
 */
import type { EntityStore, Slot } from './entity-store.js';
import type { CedarRecord, EntityRef } from './values.js';

const NONE: ReadonlySet<string> = new Set();

export class Env {
  private pa: ReadonlySet<string> | undefined = undefined;
  private ra: ReadonlySet<string> | undefined = undefined;

  constructor(
    readonly p: EntityRef,
    readonly a: EntityRef,
    readonly r: EntityRef,
    readonly c: CedarRecord,
    readonly s: EntityStore,
    /** The stored entities of `p` and `r` (undefined: not in the store). */
    readonly pe: Slot | undefined,
    readonly re: Slot | undefined,
  ) {}

  entity(ref: EntityRef): Slot | undefined {
    if (ref === this.p) return this.pe;
    if (ref === this.r) return this.re;
    return this.s.get(ref.key);
  }

  ancestors(ref: EntityRef): ReadonlySet<string> {
    if (ref === this.p) return (this.pa ??= this.pe === undefined ? NONE : this.s.ancestorsOfSlot(this.pe));
    if (ref === this.r) return (this.ra ??= this.re === undefined ? NONE : this.s.ancestorsOfSlot(this.re));
    return this.s.ancestorsOf(ref.key);
  }
}
