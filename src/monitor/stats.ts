/**
 * Constant-memory streaming statistics used by the detectors. None of them keeps samples.
 */

/** FNV-1a, 32-bit: cheap and good enough to spread keys over a bitmap (not a security hash). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so that similar strings land on distant bits.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Mix a small integer (a port) into a well-spread 32-bit hash. */
export function hashInt(x: number): number {
  let h = Math.imul(x ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * Linear counting (Whang et al. 1990) over `words * 32` bits: distinct-count estimate with fixed
 * memory. Accurate to a few percent while fewer than ~2× the bit count items were added.
 */
export function linearCount(bits: Uint32Array, offset: number, words: number): number {
  let zeros = 0;
  for (let i = 0; i < words; i++) zeros += 32 - popcount32(bits[offset + i] ?? 0);
  const m = words * 32;
  if (zeros === 0) return m * Math.log(m); // saturated: report the ceiling
  return -m * Math.log(zeros / m);
}

/** Set the bit for hash `h` in the `words`-word bitmap at `offset`; returns true if it was new. */
export function setBit(bits: Uint32Array, offset: number, words: number, h: number): boolean {
  const bit = h % (words * 32);
  const w = offset + (bit >>> 5);
  const mask = 1 << (bit & 31);
  const old = bits[w] ?? 0;
  if ((old & mask) !== 0) return false;
  bits[w] = old | mask;
  return true;
}

/**
 * A robust streaming location/scale estimate: EWMA of the level and EWMA of the absolute
 * deviation, with Huber-style clipping of each update so a burst of outliers cannot drag the
 * baseline (the streaming stand-in for median/MAD). `scale` ≈ 0.8 σ for Gaussian data, so z-scores
 * divide by 1.25·scale.
 */
export class RobustEwma {
  level = 0;
  scale = 0;
  n = 0;
  constructor(
    readonly alpha: number,
    /** Scale never drops below this (absolute), so a constant signal does not give infinite z. */
    readonly minScale: number,
    /** … nor below this fraction of |level|. */
    readonly relScale = 0.01,
  ) {}

  effectiveScale(): number {
    return Math.max(this.scale, this.minScale, Math.abs(this.level) * this.relScale);
  }

  /** Signed z-score of x against the current estimate (0 before any update). */
  z(x: number): number {
    if (this.n === 0) return 0;
    return (x - this.level) / (1.25 * this.effectiveScale());
  }

  update(x: number): void {
    this.n++;
    if (this.n === 1) {
      this.level = x;
      this.scale = 0;
      return;
    }
    // Faster start: plain averaging until 1/alpha samples, then the EWMA.
    const a = Math.max(this.alpha, 1 / this.n);
    const s = this.effectiveScale();
    const d = x - this.level;
    const clip = this.n > 10 ? 4 * s : Infinity;
    const dc = d > clip ? clip : d < -clip ? -clip : d;
    this.level += a * dc;
    this.scale += a * (Math.min(Math.abs(d), clip) - this.scale);
  }
}

/** A count that decays exponentially with time constant `tauMs` (event time). */
export class DecayingCount {
  value = 0;
  at = 0;
  constructor(readonly tauMs: number) {}
  add(tsMs: number, w = 1): number {
    this.value = this.valueAt(tsMs) + w;
    this.at = Math.max(this.at, tsMs);
    return this.value;
  }
  valueAt(tsMs: number): number {
    const dt = tsMs - this.at;
    return dt <= 0 ? this.value : this.value * Math.exp(-dt / this.tauMs);
  }
}

/** Map a non-negative evidence ratio (observed / threshold) into [0, 1): 0.5 at the threshold. */
export function soften(ratio: number): number {
  if (!(ratio > 0)) return 0;
  return 1 - Math.exp(-Math.LN2 * ratio);
}
