/**
 * Browser sessions, DB-backed so every server sharing the database honours a logout at once. The
 * cookie carries 256 random bits; only their SHA-256 is stored (a database read does not yield a
 * usable cookie). One table holds both the pre-authentication state between password and second
 * factor (stage `mfa` / `enroll`, 5 minutes) and full sessions (idle and absolute timeouts).
 */
import { randomBytes } from 'node:crypto';
import type { Store, Tx } from '../store/index.js';
import type { Clock } from '../common/clock.js';
import { hashSecret } from '../common/ids.js';
import type { SessionsTable } from '../store/index.js';

export type SessionStage = 'mfa' | 'enroll' | 'full';
export const PRE_AUTH_MINUTES = 5;
export type SessionRow = SessionsTable;

export interface SessionTimeouts {
  idleMinutes: number;
  absoluteHours: number;
  stepUpMinutes: number;
}

export class Sessions {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #t: SessionTimeouts;

  constructor(store: Store, clock: Clock, timeouts: SessionTimeouts) {
    this.#store = store;
    this.#clock = clock;
    this.#t = timeouts;
  }

  get timeouts(): SessionTimeouts {
    return this.#t;
  }

  /** A fresh id every time (no fixation: an id the client brought is never adopted). */
  async create(tx: Tx, operatorId: string, stage: SessionStage, address: string, stepUp = false): Promise<{ id: string; csrfToken: string; row: SessionRow }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.#clock.now();
    const expires = stage === 'full' ? now.getTime() + this.#t.absoluteHours * 3600_000 : now.getTime() + PRE_AUTH_MINUTES * 60_000;
    const row: SessionRow = {
      id_hash: hashSecret(id), operator_id: operatorId, stage, csrf_token: randomBytes(32).toString('base64url'), challenge: null,
      address, created_at: now.toISOString(), last_seen_at: now.toISOString(), expires_at: new Date(expires).toISOString(),
      // A login that just proved the second factor counts as a step-up.
      step_up_until: stepUp ? new Date(now.getTime() + this.#t.stepUpMinutes * 60_000).toISOString() : null,
    };
    await tx.insertInto('sessions').values(row).execute();
    return { id, csrfToken: row.csrf_token, row };
  }

  /**
   * The live session for a cookie value at one of the given stages, else undefined. Expired rows
   * are deleted on sight. A full session's idle clock restarts here.
   */
  async lookup(id: string | undefined, stages: readonly SessionStage[]): Promise<SessionRow | undefined> {
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const idHash = hashSecret(id);
    const row = await this.#store.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    if (row === undefined || !(stages as readonly string[]).includes(row.stage)) return undefined;
    const now = this.#clock.now();
    const idleDeadline = new Date(row.last_seen_at).getTime() + this.#t.idleMinutes * 60_000;
    if (row.expires_at <= now.toISOString() || (row.stage === 'full' && idleDeadline <= now.getTime())) {
      await this.#store.writeTx(async (tx) => { await tx.deleteFrom('sessions').where('id_hash', '=', idHash).execute(); });
      return undefined;
    }
    if (row.stage === 'full' && now.getTime() - new Date(row.last_seen_at).getTime() > 15_000) {
      // Coarse touch: at most one write per session per 15 s keeps reads cheap.
      await this.#store.db.updateTable('sessions').set({ last_seen_at: now.toISOString() }).where('id_hash', '=', idHash).execute();
      row.last_seen_at = now.toISOString();
    }
    return row;
  }

  async delete(tx: Tx, idHash: string): Promise<void> {
    await tx.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async setStepUp(tx: Tx, idHash: string): Promise<string> {
    const until = new Date(this.#clock.now().getTime() + this.#t.stepUpMinutes * 60_000).toISOString();
    await tx.updateTable('sessions').set({ step_up_until: until }).where('id_hash', '=', idHash).execute();
    return until;
  }

  async setChallenge(idHash: string, challenge: string | null): Promise<void> {
    await this.#store.db.updateTable('sessions').set({ challenge }).where('id_hash', '=', idHash).execute();
  }

  /** Takes the pending challenge (single use), whatever happens next. */
  async takeChallenge(tx: Tx, idHash: string): Promise<string | undefined> {
    const row = await tx.selectFrom('sessions').select('challenge').where('id_hash', '=', idHash).executeTakeFirst();
    if (row?.challenge == null) return undefined;
    await tx.updateTable('sessions').set({ challenge: null }).where('id_hash', '=', idHash).execute();
    return row.challenge;
  }
}
