/**
 * The tamper-evident audit log: a SHA-256 hash chain in audit_log, its head in audit_head, and
 * Ed25519-signed checkpoints of the head in audit_checkpoints.
 *
 * INVARIANT: an entry is appended only inside a Store.writeTx, which locks the audit_head row
 * first; seq = head.seq + 1 is read and the head is advanced in that same transaction, so appends
 * are serialized across processes and the chain never forks. An action is reported successful only
 * if its entry commits with it.
 *
 * What verify() can prove, and what it cannot (see also THREAT-MODEL.md in this folder):
 * - Any change, deletion, insertion or reordering of entries up to the last signed checkpoint is
 *   detected and located: the chain would have to be recomputed, and the checkpoint signature
 *   pins the hash it must reach.
 * - After the last checkpoint, only the chain and audit_head protect the tail. Someone who can
 *   write to the database but does not hold the audit key can still append well-formed entries,
 *   or rewrite or drop entries after the last checkpoint, recompute the hashes and set audit_head
 *   to match: nothing in the database can tell. Deleting checkpoint rows moves that boundary back.
 *   Only a copy of a checkpoint kept elsewhere (export, a witness) closes this gap.
 * - Whoever also holds the audit key can forge everything.
 */
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { ZetaError, isZetaError } from '../common/errors.js';
import type { Store, Tx, Db } from '../store/index.js';
import {
  GENESIS_HASH, computeEntryHash, normalizeEvent, parseDetails, rowHasher, rowToEntry,
  type AuditEntry, type AuditEvent,
} from './audit-entry.js';
import { canonicalJson } from './canonical-json.js';
import { loadAuditKey, signCheckpoint, verifyCheckpointSignature, type AuditKey } from './audit-key.js';
import { ChainWalker, short, type AuditProblem } from './chain-walker.js';

export interface AuditLogOptions {
  dataDir: string;
  clock?: Clock;
  /** Sign the head automatically every this many entries (default 256). */
  checkpointEvery?: number;
  /**
   * Called when the automatic checkpoint inside append() refuses to sign because the chain since the
   * last checkpoint is broken. The entry itself still commits: an action that matters (a
   * revocation) must not be blocked by damage to older entries. Default: a process warning.
   */
  onCheckpointRefused?: (error: ZetaError) => void;
}

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  signature: string;
  keyId: string;
  ts: string;
}

export interface AuditVerifyReport {
  ok: boolean;
  entries: number;
  checkpoints: number;
  lastSeq: number;
  problems: AuditProblem[];
  /** Problems found beyond MAX_PROBLEMS and not listed. */
  problemsOmitted: number;
}

export interface AuditListFilter {
  actor?: string;
  action?: string;
  subject?: string;
  fromSeq?: number;
  toSeq?: number;
  /** Default 100, at most 1000. */
  limit?: number;
  order?: 'asc' | 'desc';
}

const PAGE = 500;
const MAX_LIST = 1000;
const MAX_PROBLEMS = 1000;
/** Full-table lookups by hash (there is no index on it) allowed per verify. */
const MAX_HASH_LOOKUPS = 64;

export class AuditLog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #every: number;
  readonly #key: AuditKey;
  readonly #onRefused: (error: ZetaError) => void;

  constructor(store: Store, options: AuditLogOptions) {
    const every = options.checkpointEvery ?? 256;
    if (!Number.isSafeInteger(every) || every < 1) {
      throw new ZetaError('ZETA_ERR_CONFIG', `checkpointEvery must be a positive integer, got ${String(every)}`);
    }
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#every = every;
    this.#key = loadAuditKey(options.dataDir);
    this.#onRefused = options.onCheckpointRefused ?? ((e) => process.emitWarning(e.message, { code: e.code }));
  }

  get keyId(): string {
    return this.#key.keyId;
  }

  get publicKeyPem(): string {
    return this.#key.publicKeyPem;
  }

  /**
   * Appends inside the caller's transaction (the caller used store.writeTx, which already locked
   * the audit_head row). Returns seq and hash. An action is reported successful only if this
   * commits with it.
   */
  async append(tx: Tx, event: AuditEvent): Promise<{ seq: number; hash: string }> {
    const e = normalizeEvent(event); // refuse before any write; nothing is truncated
    const head = await readHead(tx);
    const seq = head.seq + 1;
    const ts = this.#clock.now().toISOString();
    const hash = computeEntryHash(head.hash, { seq, ts, actor: e.actor, action: e.action, outcome: e.outcome, subject: e.subject, details: e.details });
    try {
      await tx.insertInto('audit_log').values({
        seq, ts, actor: e.actor, action: e.action, outcome: e.outcome, subject: e.subject, details: e.detailsJson, prev_hash: head.hash, hash,
      }).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw broken(seq, `cannot append: entry ${seq} already exists, so audit_head (entry ${head.seq}) is behind the log`, err);
    }
    // The guard on seq makes a caller that skipped writeTx fail instead of forking the chain.
    const moved = await tx.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).where('seq', '=', head.seq).executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) {
      throw broken(seq, 'audit_head moved during append: append() must run inside store.writeTx');
    }
    if (seq % this.#every === 0) {
      try {
        await this.#checkpointIn(tx);
      } catch (err) {
        if (!isZetaError(err) || err.code !== 'ZETA_ERR_AUDIT_BROKEN') throw err;
        this.#onRefused(err);
      }
    }
    return { seq, hash };
  }

  /** Its own write transaction, for refused attempts and standalone events. */
  record(event: AuditEvent): Promise<{ seq: number; hash: string }> {
    return this.#store.writeTx((tx) => this.append(tx, event));
  }

  /**
   * Signs the current head (seq, hash, ts) with the audit key and stores it; returns the existing
   * checkpoint if the head is already signed, null for an empty log. Refuses (ZETA_ERR_AUDIT_BROKEN)
   * to sign a head the chain does not reach from the last valid checkpoint: a signature must never
   * bless a forged tail.
   */
  checkpoint(): Promise<AuditCheckpoint | null> {
    return this.#store.writeTx((tx) => this.#checkpointIn(tx));
  }

  async #checkpointIn(tx: Tx): Promise<AuditCheckpoint | null> {
    const head = await readHead(tx);
    if (head.seq === 0) return null;
    const existing = await tx.selectFrom('audit_checkpoints').selectAll().where('seq', '=', head.seq).executeTakeFirst();
    if (existing !== undefined) {
      return { seq: existing.seq, hash: existing.hash, signature: existing.signature, keyId: existing.key_id, ts: existing.ts };
    }
    await this.#checkSince(tx, head);
    const claim = { seq: head.seq, hash: head.hash, ts: this.#clock.now().toISOString(), keyId: this.#key.keyId };
    const signature = signCheckpoint(this.#key, claim);
    await tx.insertInto('audit_checkpoints').values({ seq: claim.seq, ts: claim.ts, hash: claim.hash, key_id: claim.keyId, signature }).execute();
    return { ...claim, signature };
  }

  /**
   * Re-checks the chain from the last checkpoint to the head before signing. Under automatic
   * checkpoints this is at most checkpointEvery entries; a log that never had one is walked once.
   */
  async #checkSince(tx: Tx, head: { seq: number; hash: string }): Promise<void> {
    const refuse = (seq: number, why: string): ZetaError =>
      broken(seq, `refusing to sign a checkpoint at entry ${head.seq}: ${why}; run \`zeta audit verify\``);
    const anchor = await tx.selectFrom('audit_checkpoints').selectAll().where('seq', '<=', head.seq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    let prevHash = GENESIS_HASH;
    let expected = 1;
    if (anchor !== undefined) {
      const claim = { seq: anchor.seq, hash: anchor.hash, ts: anchor.ts, keyId: anchor.key_id };
      if (anchor.key_id !== this.#key.keyId || !verifyCheckpointSignature(this.#key.publicKey, claim, anchor.signature)) {
        throw refuse(anchor.seq, `checkpoint ${anchor.seq} does not verify with the audit key ${this.#key.keyId}`);
      }
      const row = await tx.selectFrom('audit_log').select('hash').where('seq', '=', anchor.seq).executeTakeFirst();
      if (row?.hash !== anchor.hash) throw refuse(anchor.seq, `entry ${anchor.seq} no longer matches its signed checkpoint`);
      prevHash = anchor.hash;
      expected = anchor.seq + 1;
    }
    for (;;) {
      const page = await tx.selectFrom('audit_log').selectAll()
        .where('seq', '>=', expected).where('seq', '<=', head.seq).orderBy('seq').limit(PAGE).execute();
      for (const row of page) {
        if (row.seq !== expected) throw refuse(expected, `entry ${expected} is missing`);
        if (row.prev_hash !== prevHash) throw refuse(row.seq, `entry ${row.seq} does not link to entry ${row.seq - 1}`);
        if (rowHasher(row)?.(row.seq) !== row.hash) throw refuse(row.seq, `entry ${row.seq} does not match its hash`);
        prevHash = row.hash;
        expected++;
      }
      if (page.length < PAGE) break;
    }
    if (expected - 1 !== head.seq || prevHash !== head.hash) throw refuse(expected, `audit_head (entry ${head.seq}) does not match the last entry`);
    const beyond = await tx.selectFrom('audit_log').select('seq').where('seq', '>', head.seq).limit(1).executeTakeFirst();
    if (beyond !== undefined) throw refuse(beyond.seq, `entry ${beyond.seq} lies beyond audit_head`);
  }

  /**
   * Walks every entry in seq order, a page at a time, and every checkpoint, and reports each break
   * with its kind and entry. Runs outside a transaction so it never holds the writers up; entries
   * appended meanwhile are picked up before the head is compared.
   */
  async verify(): Promise<AuditVerifyReport> {
    const db = this.#store.db;
    let lookups = 0;
    const walker = new ChainWalker(async (hash) => {
      if (lookups >= MAX_HASH_LOOKUPS) return undefined;
      lookups++;
      const r = await db.selectFrom('audit_log').select('seq').where('hash', '=', hash).orderBy('seq').limit(1).executeTakeFirst();
      return r?.seq ?? null;
    });
    const cps = new CheckpointCursor(db);
    let checked = 0;
    const checkCheckpoint = (cp: CheckpointRow, entryHash: string | null): void => {
      checked++;
      const claim = { seq: cp.seq, hash: cp.hash, ts: cp.ts, keyId: cp.key_id };
      if (cp.key_id !== this.#key.keyId) {
        walker.addProblem('checkpoint', cp.seq, `checkpoint ${cp.seq} was signed by key ${cp.key_id}, not this log's audit key ${this.#key.keyId}: it cannot be verified`);
      } else if (!verifyCheckpointSignature(this.#key.publicKey, claim, cp.signature)) {
        walker.addProblem('checkpoint', cp.seq, `checkpoint ${cp.seq} has an invalid signature: the checkpoint row was altered or forged`);
      } else if (entryHash !== null && entryHash !== cp.hash) {
        walker.addProblem('checkpoint', cp.seq, `checkpoint ${cp.seq} does not match entry ${cp.seq}: it signed hash ${short(cp.hash)}, the entry has ${short(entryHash)}; entries up to ${cp.seq} were rewritten after it was signed`);
      }
    };

    let after = 0;
    let head = await readHead(db);
    for (let round = 0; ; round++) {
      for (;;) {
        const page = await db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(PAGE).execute();
        for (let i = 0; i < page.length; i++) {
          const row = page[i];
          if (row === undefined) continue;
          const entry = await walker.push(row, page, i);
          const cp = await cps.take(entry);
          if (cp !== undefined) checkCheckpoint(cp, row.hash);
          after = row.seq;
        }
        if (page.length < PAGE) break;
      }
      // The head is read before looking for more rows: an append commits its row with the head, so
      // once no row lies beyond what was walked, the head read before cannot be ahead of the walk.
      head = await readHead(db);
      const more = await db.selectFrom('audit_log').select('seq').where('seq', '>', after).limit(1).executeTakeFirst();
      if (more === undefined || round >= 100) break;
    }
    walker.finish(head);

    const lastWritten = walker.last?.written ?? 0;
    for (const cp of await cps.unmatched()) {
      // A checkpoint taken while verify ran may point at a row already walked: look once more.
      const row = await db.selectFrom('audit_log').select('hash').where('seq', '=', cp.seq).executeTakeFirst();
      if (row !== undefined && row.hash === cp.hash) {
        checkCheckpoint(cp, row.hash);
        continue;
      }
      checkCheckpoint(cp, null);
      const why = cp.seq > lastWritten
        ? `the log was truncated after entry ${lastWritten}`
        : 'that entry was deleted or moved';
      walker.addProblem('checkpoint', cp.seq, `checkpoint ${cp.seq} signs entry ${cp.seq}, which is not in the log: ${why}`);
    }

    const problems = walker.problems();
    return {
      ok: problems.length === 0,
      entries: walker.entries,
      checkpoints: checked,
      lastSeq: after,
      problems: problems.slice(0, MAX_PROBLEMS),
      problemsOmitted: Math.max(0, problems.length - MAX_PROBLEMS),
    };
  }

  /**
   * Writes entries as JSON lines (canonical JSON, one entry each, the AuditEntry shape), a page at
   * a time. Each line carries everything needed to recompute its hash and link. Returns the count.
   */
  async export(write: (line: string) => void | Promise<void>, options: { fromSeq?: number; toSeq?: number } = {}): Promise<number> {
    const from = seqOption(options.fromSeq, 'fromSeq') ?? 1;
    const to = seqOption(options.toSeq, 'toSeq');
    let after = from - 1;
    let count = 0;
    for (;;) {
      let q = this.#store.db.selectFrom('audit_log').selectAll().where('seq', '>', after);
      if (to !== undefined) q = q.where('seq', '<=', to);
      const page = await q.orderBy('seq').limit(PAGE).execute();
      for (const row of page) {
        // A tampered details text is exported as the raw string: the line then fails its hash
        // check, which is the truth about that entry.
        const details = parseDetails(row.details) ?? row.details;
        const line = { ...rowToEntry(row, {}), details };
        await write(canonicalLine(line));
        count++;
        after = row.seq;
      }
      if (page.length < PAGE) return count;
    }
  }

  /** Entries matching all given fields, in seq order. */
  async list(filter: AuditListFilter = {}): Promise<AuditEntry[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new ZetaError('ZETA_ERR_VALIDATION', `limit must be an integer from 1 to ${MAX_LIST}`, { fields: { field: 'limit' } });
    }
    const from = seqOption(filter.fromSeq, 'fromSeq');
    const to = seqOption(filter.toSeq, 'toSeq');
    let q = this.#store.db.selectFrom('audit_log').selectAll();
    if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
    if (filter.action !== undefined) q = q.where('action', '=', filter.action);
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    if (from !== undefined) q = q.where('seq', '>=', from);
    if (to !== undefined) q = q.where('seq', '<=', to);
    const rows = await q.orderBy('seq', filter.order === 'desc' ? 'desc' : 'asc').limit(limit).execute();
    // A details text that is not a JSON object (tampering; verify() names it) is shown, not hidden.
    return rows.map((row) => rowToEntry(row, parseDetails(row.details) ?? { $invalid_json: row.details }));
  }
}

type CheckpointRow = { seq: number; ts: string; hash: string; key_id: string; signature: string };

/**
 * Checkpoints in seq order, fetched a page at a time as the walk reaches them. Never re-fetches
 * once exhausted: a checkpoint created while verify runs is skipped rather than misreported.
 */
class CheckpointCursor {
  readonly #db: Db;
  readonly #pending = new Map<number, CheckpointRow>();
  #after = 0;
  #exhausted = false;

  constructor(db: Db) {
    this.#db = db;
  }

  async take(seq: number): Promise<CheckpointRow | undefined> {
    while (!this.#exhausted && this.#after < seq) {
      const page = await this.#db.selectFrom('audit_checkpoints').selectAll().where('seq', '>', this.#after).orderBy('seq').limit(PAGE).execute();
      for (const cp of page) this.#pending.set(cp.seq, cp);
      const last = page.at(-1);
      if (last !== undefined) this.#after = last.seq;
      if (page.length < PAGE) this.#exhausted = true;
    }
    const cp = this.#pending.get(seq);
    this.#pending.delete(seq);
    return cp;
  }

  /** Checkpoints no walked entry claimed, including all after the walk's end. */
  async unmatched(): Promise<CheckpointRow[]> {
    await this.take(Number.MAX_SAFE_INTEGER);
    return [...this.#pending.values()].sort((a, b) => a.seq - b.seq);
  }
}

async function readHead(db: Db | Tx): Promise<{ seq: number; hash: string }> {
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  if (head === undefined) throw broken(0, 'the audit_head row is missing');
  return head;
}

function broken(seq: number, message: string, cause?: unknown): ZetaError {
  return new ZetaError('ZETA_ERR_AUDIT_BROKEN', message, { fields: { seq }, ...(cause === undefined ? {} : { cause }) });
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function seqOption(v: number | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `${field} must be a non-negative integer`, { fields: { field } });
  }
  return v;
}

function canonicalLine(line: Omit<AuditEntry, 'details'> & { details: unknown }): string {
  try {
    return canonicalJson(line);
  } catch {
    return JSON.stringify(sortKeys(line)); // a tampered value canonicalJson refuses is still exported
  }
}

function sortKeys(line: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(line).sort().map((k) => [k, line[k]]));
}
