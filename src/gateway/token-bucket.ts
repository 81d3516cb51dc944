/** Token buckets on the monotonic clock (rates are about real time, not the policy Clock). */
import { performance } from 'node:perf_hooks';

export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number = performance.now(),
  ) {
    this.#tokens = burst;
    this.#last = now;
  }

  #refill(now: number): void {
    const dt = now - this.#last;
    if (dt > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (dt * this.ratePerSecond) / 1000);
      this.#last = now;
    }
  }

  /** Takes `n` tokens if there are enough; a request larger than the burst is let through once the bucket is full. */
  take(n: number, now: number = performance.now()): boolean {
    this.#refill(now);
    const need = Math.min(n, this.burst);
    if (this.#tokens >= need) {
      this.#tokens -= n;
      return true;
    }
    return false;
  }

  /** Milliseconds until `take(n)` can succeed. */
  waitMs(n: number, now: number = performance.now()): number {
    this.#refill(now);
    const need = Math.min(n, this.burst) - this.#tokens;
    return need <= 0 ? 0 : Math.ceil((need * 1000) / this.ratePerSecond);
  }
}

/** One bucket per key (client address), with a bounded number of keys: oldest inserted forgotten first. */
export class KeyedRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    readonly maxKeys: number,
  ) {}

  take(key: string, now: number = performance.now()): boolean {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.maxKeys) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done !== true) this.#buckets.delete(oldest.value);
      }
      b = new TokenBucket(this.ratePerSecond, this.burst, now);
      this.#buckets.set(key, b);
    }
    return b.take(1, now);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
