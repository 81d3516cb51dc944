/**
 * The change feed: every state change that a live component must react to (revocation, suspension,
 * segment moves, policy changes) writes a row to `changes` in the same transaction as the change.
 * Any process sharing the database — `zeta serve`, or a CLI run with `--data` beside it — sees it
 * by polling for rows past the last sequence it saw. Store.writeTx serializes writers, so sequence
 * numbers become visible in order and a poller never skips one.
 */
import { EventEmitter } from 'node:events';
import type { Store, Tx } from './db.js';

export interface Change {
  seq: number;
  ts: string;
  kind: string;
  subject: string;
  data: Record<string, unknown>;
}

export async function emitChange(tx: Tx, ts: Date, kind: string, subject: string, data: Record<string, unknown> = {}): Promise<void> {
  await tx.insertInto('changes').values({ ts: ts.toISOString(), kind, subject, data: JSON.stringify(data) }).execute();
}

export class ChangeFeed extends EventEmitter<{ change: [Change]; error: [unknown] }> {
  readonly #store: Store;
  readonly #intervalMs: number;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(store: Store, intervalMs: number) {
    super();
    this.#store = store;
    this.#intervalMs = intervalMs;
  }

  /** Starts from the current end of the feed: only changes after start() are delivered. */
  async start(): Promise<void> {
    const row = await this.#store.db.selectFrom('changes').select((eb) => eb.fn.max('seq').as('max')).executeTakeFirst();
    this.#last = Number(row?.max ?? 0);
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  get lastSeq(): number {
    return this.#last;
  }

  /** One poll; also called directly after an in-process write so local changes apply at once. */
  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      for (;;) {
        const rows = await this.#store.db.selectFrom('changes').selectAll().where('seq', '>', this.#last).orderBy('seq').limit(500).execute();
        for (const r of rows) {
          this.#last = r.seq;
          let data: Record<string, unknown> = {};
          try {
            data = JSON.parse(r.data) as Record<string, unknown>;
          } catch {
            data = {};
          }
          this.emit('change', { seq: r.seq, ts: r.ts, kind: r.kind, subject: r.subject, data });
        }
        if (rows.length < 500) break;
      }
    } catch (e) {
      this.emit('error', e);
    } finally {
      this.#polling = false;
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
