import { randomBytes } from 'node:crypto';
import type { Clock } from '../common/clock.js';

export const NONCE_BYTES = 32;

export type NonceUse = 'ok' | 'unknown' | 'replayed' | 'expired';

/**
 * One-time attestation nonces. A nonce is issued to one device, valid for `ttlMs`, and consumed
 * by the first quote that verifies with it: a second quote with the same nonce is a replay.
 * In memory: a multi-replica control plane needs a shared store with the same contract.
 */
export class NonceRegistry {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxOutstanding: number;
  readonly #issued = new Map<string, { deviceId: string; expires: number }>();
  /** Consumed nonces are remembered until they would have expired, to name the replay. */
  readonly #used = new Map<string, number>();

  constructor(o: { clock: Clock; ttlMs?: number; maxOutstanding?: number }) {
    this.#clock = o.clock;
    this.#ttlMs = o.ttlMs ?? 5 * 60 * 1000;
    this.#maxOutstanding = o.maxOutstanding ?? 100000;
  }

  issue(deviceId: string): Buffer {
    this.#sweep();
    if (this.#issued.size >= this.#maxOutstanding) {
      // Bounded: drop the oldest challenge rather than grow without limit.
      const oldest = this.#issued.keys().next().value;
      if (oldest !== undefined) this.#issued.delete(oldest);
    }
    const nonce = randomBytes(NONCE_BYTES);
    this.#issued.set(nonce.toString('hex'), { deviceId, expires: this.#clock.now().getTime() + this.#ttlMs });
    return nonce;
  }

  consume(deviceId: string, nonce: Buffer): NonceUse {
    const k = nonce.toString('hex');
    const now = this.#clock.now().getTime();
    const used = this.#used.get(k);
    if (used !== undefined) return 'replayed';
    const e = this.#issued.get(k);
    if (e === undefined || e.deviceId !== deviceId) return 'unknown';
    this.#issued.delete(k);
    if (now > e.expires) return 'expired';
    this.#used.set(k, e.expires);
    return 'ok';
  }

  #sweep(): void {
    const now = this.#clock.now().getTime();
    for (const [k, v] of this.#issued) if (now > v.expires) this.#issued.delete(k);
    for (const [k, exp] of this.#used) if (now > exp) this.#used.delete(k);
  }
}
