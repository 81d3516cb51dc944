/**
 * Brute-force limits on login. Two independent brakes:
 * - per client address: a sliding one-minute window in memory (bounded map), against one source
 *   spraying many names;
 * - per user name, in the database so every server sees it: after N failures within M minutes the
 *   name is locked for M minutes. Counted for every name typed, whether or not the account exists,
 *   so the lockout answer reveals nothing (no user enumeration).
 */
import type { Store } from '../store/index.js';
import type { Clock } from '../common/clock.js';

const MAX_TRACKED_ADDRESSES = 10_000;

export interface GuardOptions {
  threshold: number;
  lockoutMinutes: number;
  ratePerMinute: number;
}

export class LoginGuard {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #o: GuardOptions;
  readonly #byAddress = new Map<string, number[]>();

  constructor(store: Store, clock: Clock, options: GuardOptions) {
    this.#store = store;
    this.#clock = clock;
    this.#o = options;
  }

  /** Seconds to wait when this address is over its rate, else 0. Counts the attempt. */
  rateLimit(address: string): number {
    const now = this.#clock.now().getTime();
    const hits = (this.#byAddress.get(address) ?? []).filter((t) => t > now - 60_000);
    if (hits.length >= this.#o.ratePerMinute) {
      this.#byAddress.set(address, hits);
      return Math.max(1, Math.ceil((hits[0]! + 60_000 - now) / 1000));
    }
    hits.push(now);
    this.#byAddress.delete(address);
    this.#byAddress.set(address, hits);
    // Oldest-first eviction keeps memory bounded under an address-spraying attack.
    if (this.#byAddress.size > MAX_TRACKED_ADDRESSES) this.#byAddress.delete(this.#byAddress.keys().next().value!);
    return 0;
  }

  /** Seconds until the name unlocks, or 0. */
  async lockedFor(username: string): Promise<number> {
    const row = await this.#store.db.selectFrom('login_failures').selectAll().where('username', '=', username).executeTakeFirst();
    if (row?.locked_until == null) return 0;
    const left = new Date(row.locked_until).getTime() - this.#clock.now().getTime();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a failure; returns true when this failure locked the name. */
  async fail(username: string): Promise<boolean> {
    const now = this.#clock.now();
    let locked = false;
    await this.#store.writeTx(async (tx) => {
      const row = await tx.selectFrom('login_failures').selectAll().where('username', '=', username).executeTakeFirst();
      const windowStart = now.getTime() - this.#o.lockoutMinutes * 60_000;
      const fresh = row === undefined || new Date(row.first_at).getTime() < windowStart || (row.locked_until !== null && row.locked_until <= now.toISOString());
      const failures = fresh ? 1 : row.failures + 1;
      locked = failures >= this.#o.threshold;
      const values = {
        failures: locked ? 0 : failures, first_at: fresh ? now.toISOString() : row.first_at,
        locked_until: locked ? new Date(now.getTime() + this.#o.lockoutMinutes * 60_000).toISOString() : null,
      };
      if (row === undefined) await tx.insertInto('login_failures').values({ username, ...values }).execute();
      else await tx.updateTable('login_failures').set(values).where('username', '=', username).execute();
    });
    return locked;
  }

  async succeed(username: string): Promise<void> {
    await this.#store.writeTx(async (tx) => { await tx.deleteFrom('login_failures').where('username', '=', username).execute(); });
  }
}
