/**
 * Forensic walk over the hash chain, one row at a time in stored seq order, keeping only a bounded
 * window of recent rows. It does not stop at the first break: it works out what happened and names
 * the entry, so an operator can go to it.
 *
 * Two facts per row drive every conclusion:
 * - its written seq: the seq its stored hash was computed with. Usually the stored seq; if the
 *   content no longer hashes to the stored hash under any nearby seq, the row was changed.
 * - its link: prev_hash names the hash of the entry written just before it.
 * An intact row is "in place" when stored seq − written seq equals the running offset (0 unless an
 * earlier insertion or deletion renumbered the rows after it). Rows out of place were moved
 * (reordered), rows whose successor links past them were inserted, and written seqs that are
 * never seen were deleted.
 */
import { GENESIS_HASH, rowHasher } from './audit-entry.js';
import type { AuditRow } from '../store/index.js';

export type AuditProblemKind = 'changed' | 'deleted' | 'inserted' | 'reordered' | 'checkpoint' | 'head';

export interface AuditProblem {
  seq: number;
  kind: AuditProblemKind;
  message: string;
}

/** Looks up rows the window no longer holds. undefined = not searched (lookup budget spent). */
export type FindSeqByHash = (hash: string) => Promise<number | null | undefined>;

interface Placed {
  seq: number;
  /** Written seq, or null when the content matches no seq (changed). */
  written: number | null;
  hash: string;
  flagged: boolean;
}

interface Located {
  seq: number;
  written: number | null;
}

/** Rows kept for link lookups; links to older rows cost a database query. */
const WINDOW = 4096;
/** How far a renumbered row may have moved and still be recognised as intact. */
const NEAR = 8;
const FAR = 2048;
const MAX_FAR_SEARCHES = 64;

export class ChainWalker {
  readonly #find: FindSeqByHash;
  readonly #problems: AuditProblem[] = [];
  #entries = 0;
  #prev: Placed | undefined;
  /** INVARIANT: stored seq − written seq of the last row found in place. */
  #offset = 0;
  #lastInPlace = 0;
  #lastReorderedSeq = 0;
  #last: { seq: number; written: number; hash: string } | undefined;
  readonly #byWritten = new Map<number, Placed>();
  readonly #byHash = new Map<string, Placed>();
  #pending: { problem: AuditProblem; blamed: number; cancelled: boolean } | undefined;
  #farSearches = 0;
  /** Stored seq of the last row whose content matched some entry number. */
  #lastIdentifiedSeq = 0;

  constructor(find: FindSeqByHash) {
    this.#find = find;
  }

  get entries(): number {
    return this.#entries;
  }

  /** The row that stands for the highest entry number seen: what audit_head must match. */
  get last(): { seq: number; written: number; hash: string } | undefined {
    return this.#last;
  }

  /**
   * Feeds the next row. `page` and `index` give the rows already fetched after it, so links to a
   * row a little ahead (swaps) resolve without a query. Returns the entry number the row stands
   * for: its written seq, or for a changed row the seq its position implies.
   */
  async push(row: AuditRow, page: readonly AuditRow[], index: number): Promise<number> {
    this.#entries++;
    const s = row.seq;
    const prev = this.#prev;
    const pending = this.#pending;
    this.#pending = undefined;
    let located: Located | null | undefined;
    let didLocate = false;
    const locate = async (): Promise<Located | null | undefined> => {
      if (!didLocate) {
        located = await this.#locate(row.prev_hash, page, index);
        didLocate = true;
      }
      return located;
    };

    const hasher = rowHasher(row);
    let written: number | null = null;
    if (hasher !== null) {
      const tries = new Set<number>([s, s - this.#offset]);
      for (const n of tries) if (n > 0 && hasher(n) === row.hash) { written = n; break; }
      if (written === null) {
        const t = await locate();
        const n = t === null || t === undefined ? null : (t.written ?? t.seq) + 1;
        if (n !== null && !tries.has(n) && hasher(n) === row.hash) written = n;
      }
      if (written === null) written = this.#search(hasher, row.hash, s);
    }

    const cur: Placed = { seq: s, written, hash: row.hash, flagged: false };
    if (written === null) {
      cur.flagged = true;
      const why = hasher === null ? 'its details are not a JSON object' : 'stored hash does not match its content';
      this.#add('changed', s, `entry ${s} was changed: ${why}`);
      const from = (prev?.seq ?? 0) + 1;
      if (s > from) this.#addMissing(from, s - 1, '');
    } else {
      await this.#place(row, cur, written, prev, locate, pending);
    }

    if (pending !== undefined && !pending.cancelled) this.#problems.push(pending.problem);
    if (written !== null) this.#lastIdentifiedSeq = s;
    this.#remember(cur);
    const w = written ?? s - this.#offset;
    if (this.#last === undefined || w >= this.#last.written) this.#last = { seq: s, written: w, hash: row.hash };
    return w;
  }

  async #place(
    row: AuditRow,
    cur: Placed,
    written: number,
    prev: Placed | undefined,
    locate: () => Promise<Located | null | undefined>,
    pending: { blamed: number; cancelled: boolean } | undefined,
  ): Promise<void> {
    const s = row.seq;
    const expected = s - this.#offset;
    const before = written === 1 ? { seq: 0, written: 0, hash: GENESIS_HASH, flagged: false } : this.#byWritten.get(written - 1);
    const linked = before !== undefined && before.hash === row.prev_hash;
    const as = written === s ? '' : ` (written as entry ${written})`;

    if (written === expected) {
      if (!linked && !(prev !== undefined && prev.written === null && prev.hash === row.prev_hash)) {
        const t = await locate();
        if (t === undefined) {
          this.#add('changed', s, `entry ${s} does not link to entry ${written - 1} and was not traced further (too many breaks in this log to look each one up)`);
        } else if (t === null) {
          if (written === 1) {
            this.#add('changed', s, `entry ${s} was changed and its hash recomputed: it no longer links to the start of the log`);
          } else if (written - 1 > this.#lastInPlace) {
            this.#addMissing(this.#lastInPlace + 1, written - 1, '');
          } else if (before === undefined || !before.flagged) {
            // Its predecessor is here but hashes differently: rewritten with a recomputed hash. The
            // blame waits one row: if the next row links past this one, this one was inserted.
            const blamed = before?.seq ?? prev?.seq ?? s - 1;
            const now = before === undefined ? '' : ` (entry ${blamed} now hashes to ${short(before.hash)})`;
            this.#pending = {
              blamed,
              cancelled: false,
              problem: {
                kind: 'changed',
                seq: blamed,
                message: `entry ${blamed} was changed and its hash recomputed: entry ${s} links to hash ${short(row.prev_hash)}, which no entry has${now}`,
              },
            };
          }
        } else if (t.seq > s) {
          // Its predecessor sits later; that row is reported when the walk reaches it.
        } else if (t.written !== null && t.written !== written - 1) {
          this.#add('changed', s, `entry ${s} links to entry ${t.seq} instead of entry ${written - 1}`);
        }
      }
      this.#lastInPlace = Math.max(this.#lastInPlace, written);
      return;
    }

    if (written > expected) {
      const t = linked ? before : await locate();
      if (t !== undefined && t !== null && t.seq > s) {
        this.#reordered(cur, `entry ${s} is out of order: the row at seq ${s} holds entry ${written} and links to entry ${t.seq}, which comes after it`);
      } else if (t === null) {
        // Its predecessor is gone and the rows were shifted down to close the gap.
        this.#addMissing(this.#lastInPlace + 1, written - 1, `; the entries after it were renumbered down by ${written - s} to hide the gap`);
        this.#offset = s - written;
        this.#lastInPlace = written;
      } else {
        this.#reordered(cur, `entry ${s} is out of order: the row at seq ${s} holds entry ${written}`);
      }
      return;
    }

    // Behind its position: something was inserted before it, or it was moved back.
    const t: Located | null | undefined = linked ? before : await locate();
    if (t !== undefined && t !== null && t.seq < s && prev !== undefined && this.#lastReorderedSeq <= t.seq && (linked || t.written === written - 1)) {
      // Inserted rows claim this row's entry number, or match no entry number at all; intact
      // entries in between mean this row was moved back instead.
      const claimant = this.#byWritten.get(written);
      const forged = (claimant !== undefined && claimant.seq > t.seq && claimant.seq < s) || this.#lastIdentifiedSeq <= t.seq;
      if (prev.seq > t.seq && forged) {
        const from = t.seq + 1;
        const to = prev.seq;
        this.#retractChanged(from, to);
        if (pending !== undefined && pending.blamed === t.seq) pending.cancelled = true;
        const what = from === to ? `entry ${from} was inserted` : `entries ${from} to ${to} were inserted`;
        this.#add('inserted', from, `${what}: entry ${s}${as} links past ${from === to ? 'it' : 'them'} to ${t.seq === 0 ? 'the start of the log' : `entry ${t.seq}`}`);
      } else if (prev.seq === t.seq) {
        this.#add('changed', s, `entry ${written} was renumbered to seq ${s} (and the entries after it by the same amount); its content is intact`);
      } else {
        this.#reordered(cur, `entry ${s} is out of order: the row at seq ${s} holds entry ${written}, which belongs right after ${t.seq === 0 ? 'the start of the log' : `entry ${t.seq}`}`);
        return;
      }
      this.#offset = s - written;
      this.#lastInPlace = Math.max(this.#lastInPlace, written);
      return;
    }
    const after = t === undefined || t === null || t.seq >= s ? 'earlier' : `right after ${t.seq === 0 ? 'the start of the log' : `entry ${t.seq}`}`;
    this.#reordered(cur, `entry ${s} is out of order: the row at seq ${s} holds entry ${written}, which belongs ${after}`);
  }

  /** Compares the walk's end with audit_head (seq, hash). Call once, after the last row. */
  finish(head: { seq: number; hash: string }): void {
    if (this.#pending !== undefined && !this.#pending.cancelled) this.#problems.push(this.#pending.problem);
    this.#pending = undefined;
    const lastWritten = this.#last?.written ?? 0;
    const lastHash = this.#last?.hash ?? GENESIS_HASH;
    if (head.seq > lastWritten) {
      const from = lastWritten + 1;
      const which = from === head.seq ? `entry ${from} is` : `entries ${from} to ${head.seq} are`;
      this.#add('head', from, `${which} missing from the end of the log (truncated): audit_head records entry ${head.seq} but ${lastWritten === 0 ? 'the log is empty' : `the last entry is ${lastWritten}`}`);
    } else if (head.seq < lastWritten) {
      const from = head.seq + 1;
      const which = from === lastWritten ? `entry ${from} comes` : `entries ${from} to ${lastWritten} come`;
      this.#add('inserted', from, `${which} after the recorded head (entry ${head.seq}): written directly to the database, not through the audit log`);
    } else if (head.hash !== lastHash) {
      this.#add('head', head.seq, `audit_head does not match entry ${head.seq}: it records hash ${short(head.hash)}, the entry has ${short(lastHash)} (the entry was rewritten with a recomputed hash, or audit_head was altered)`);
    }
  }

  /** Problems found so far, in seq order. */
  problems(): AuditProblem[] {
    return [...this.#problems].sort((a, b) => a.seq - b.seq);
  }

  addProblem(kind: AuditProblemKind, seq: number, message: string): void {
    this.#add(kind, seq, message);
  }

  #add(kind: AuditProblemKind, seq: number, message: string): void {
    this.#problems.push({ kind, seq, message });
  }

  #reordered(cur: Placed, message: string): void {
    cur.flagged = true;
    this.#lastReorderedSeq = cur.seq;
    this.#add('reordered', cur.seq, message);
  }

  /** Reports the written seqs in [from, to] not seen anywhere in the window, as contiguous ranges. */
  #addMissing(from: number, to: number, note: string): void {
    const emit = (a: number, b: number): void => {
      const which = a === b ? `entry ${a} is` : `entries ${a} to ${b} are`;
      this.#add('deleted', a, `${which} missing (deleted)${note}`);
    };
    if (to - from > WINDOW) return emit(from, to);
    let start: number | null = null;
    for (let n = from; n <= to + 1; n++) {
      const gone = n <= to && !this.#byWritten.has(n);
      if (gone && start === null) start = n;
      if (!gone && start !== null) {
        emit(start, n - 1);
        start = null;
      }
    }
  }

  #retractChanged(from: number, to: number): void {
    for (let i = this.#problems.length - 1; i >= 0; i--) {
      const p = this.#problems[i];
      if (p !== undefined && p.kind === 'changed' && p.seq >= from && p.seq <= to) this.#problems.splice(i, 1);
    }
  }

  async #locate(hash: string, page: readonly AuditRow[], index: number): Promise<Located | null | undefined> {
    if (hash === GENESIS_HASH) return { seq: 0, written: 0 };
    const near = this.#byHash.get(hash);
    if (near !== undefined) return { seq: near.seq, written: near.written };
    for (let i = index + 1; i < page.length; i++) {
      const r = page[i];
      if (r !== undefined && r.hash === hash) return { seq: r.seq, written: null };
    }
    const seq = await this.#find(hash);
    return seq === undefined || seq === null ? seq : { seq, written: null };
  }

  /** Tries nearby seqs, then (a bounded number of times) far ones, for a renumbered row. */
  #search(hasher: (seq: number) => string, hash: string, s: number): number | null {
    const reach = this.#farSearches < MAX_FAR_SEARCHES ? FAR : NEAR;
    if (reach === FAR) this.#farSearches++;
    for (let d = 1; d <= reach; d++) {
      if (hasher(s + d) === hash) return s + d;
      if (s - d > 0 && hasher(s - d) === hash) return s - d;
    }
    return null;
  }

  #remember(cur: Placed): void {
    this.#prev = cur;
    if (cur.written !== null) this.#byWritten.set(cur.written, cur);
    this.#byHash.set(cur.hash, cur);
    if (this.#byHash.size > WINDOW) {
      const oldest = this.#byHash.values().next().value;
      if (oldest !== undefined) {
        this.#byHash.delete(oldest.hash);
        if (oldest.written !== null && this.#byWritten.get(oldest.written) === oldest) this.#byWritten.delete(oldest.written);
      }
    }
  }
}

export function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}
