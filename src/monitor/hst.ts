/**
 * Half-Space Trees (Tan, Ting & Liu, "Fast Anomaly Detection for Streaming Data", IJCAI 2011):
 * an ensemble of random, fixed-structure binary trees over a perturbed work space. Each node counts
 * how many points of the *reference* window fell into it (`r`) and of the *latest* window (`l`);
 * when `windowSize` points have been learned the latest counts become the reference and the
 * latest counts restart, so the model follows concept drift with constant memory
 * (trees × 2^(depth+1) nodes). Features are expected in [0, 1].
 */
import { mulberry32 } from '../common/random.js';

/** Re-exported: the one seeded PRNG lives in src/common/random.ts. */
export { mulberry32 };

export interface HstOptions {
  readonly dims: number;
  readonly trees?: number;
  readonly depth?: number;
  readonly windowSize?: number;
  /** A node with less reference mass than this stops the descent (the paper's sizeLimit). */
  readonly sizeLimit?: number;
  readonly seed?: number;
}

const CACHE_SIZE = 4096;

/** log2(1 + m) for integer masses, so scoring needs no transcendental call per tree. */
let LOG2_1P = new Float64Array(0);
function log2Table(n: number): Float64Array {
  if (LOG2_1P.length <= n) {
    LOG2_1P = new Float64Array(n + 1);
    for (let m = 0; m <= n; m++) LOG2_1P[m] = Math.log2(1 + m);
  }
  return LOG2_1P;
}

export class HalfSpaceTrees {
  readonly dims: number;
  readonly trees: number;
  readonly depth: number;
  readonly windowSize: number;
  readonly sizeLimit: number;
  readonly #internal: number;
  readonly #nodes: number;
  readonly #splitDim: Uint8Array;
  readonly #splitVal: Float64Array;
  readonly #ref: Float64Array;
  readonly #latest: Float64Array;
  readonly #log: Float64Array;
  readonly #cacheGen = new Int32Array(CACHE_SIZE);
  readonly #cacheH1 = new Uint32Array(CACHE_SIZE);
  readonly #cacheH2 = new Uint32Array(CACHE_SIZE);
  readonly #cacheMass = new Float64Array(CACHE_SIZE);
  #learned = 0;
  /** Number of completed windows (0: no reference yet, scores are 0). */
  windows = 0;

  constructor(o: HstOptions) {
    this.dims = o.dims;
    this.trees = o.trees ?? 25;
    this.depth = o.depth ?? 10;
    this.windowSize = o.windowSize ?? 256;
    this.sizeLimit = o.sizeLimit ?? Math.max(1, Math.floor(0.02 * this.windowSize));
    if (this.dims < 1 || this.dims > 255) throw new RangeError('HalfSpaceTrees: dims must be 1..255');
    this.#internal = (1 << this.depth) - 1;
    this.#nodes = (1 << (this.depth + 1)) - 1;
    this.#splitDim = new Uint8Array(this.trees * this.#internal);
    this.#splitVal = new Float64Array(this.trees * this.#internal);
    this.#ref = new Float64Array(this.trees * this.#nodes);
    this.#latest = new Float64Array(this.trees * this.#nodes);
    this.#log = log2Table(this.windowSize);
    const rnd = mulberry32(o.seed ?? 0x5eed);
    const lo = new Float64Array(this.dims);
    const hi = new Float64Array(this.dims);
    for (let t = 0; t < this.trees; t++) {
      // Work space: a random point s in [0,1]^d, range s ± 2·max(s, 1 − s) per dimension (§3.1).
      for (let q = 0; q < this.dims; q++) {
        const s = rnd();
        const r = 2 * Math.max(s, 1 - s);
        lo[q] = s - r;
        hi[q] = s + r;
      }
      this.#build(t, 0, 0, lo, hi, rnd);
    }
  }

  #build(t: number, node: number, level: number, lo: Float64Array, hi: Float64Array, rnd: () => number): void {
    if (level >= this.depth) return;
    const q = Math.floor(rnd() * this.dims);
    const mid = ((lo[q] ?? 0) + (hi[q] ?? 1)) / 2;
    const i = t * this.#internal + node;
    this.#splitDim[i] = q;
    this.#splitVal[i] = mid;
    const saveHi = hi[q] ?? 1;
    hi[q] = mid;
    this.#build(t, 2 * node + 1, level + 1, lo, hi, rnd);
    hi[q] = saveHi;
    const saveLo = lo[q] ?? 0;
    lo[q] = mid;
    this.#build(t, 2 * node + 2, level + 1, lo, hi, rnd);
    lo[q] = saveLo;
  }

  /**
   * Normality: per tree log2(mass·2^depth) at the terminal node (≈ log2(1 + mass) + depth), averaged
   * over trees — the paper's Σ mass·2^depth on a log scale, so one tree cannot dominate. Higher = more normal.
   */
  mass(x: ArrayLike<number>): number {
    let sum = 0;
    for (let t = 0; t < this.trees; t++) {
      let node = 0;
      let level = 0;
      const ib = t * this.#internal;
      const nb = t * this.#nodes;
      while (level < this.depth) {
        const i = ib + node;
        const child = (x[this.#splitDim[i] ?? 0] ?? 0) < (this.#splitVal[i] ?? 0) ? 2 * node + 1 : 2 * node + 2;
        if ((this.#ref[nb + child] ?? 0) < this.sizeLimit) break;
        node = child;
        level++;
      }
      const m = this.#ref[nb + node] ?? 0;
      sum += m > 0 ? (this.#log[m] ?? Math.log2(1 + m)) + level : 0;
    }
    return sum / this.trees;
  }

  /**
   * `mass` through a direct-mapped cache keyed by the point quantised to 1/64 per dimension and
   * cleared at every window swap. IoT windows repeat (the same few connections every period), so most
   * windows hit; a hit returns the mass of an earlier point in the same 1/64 cell.
   */
  cachedMass(x: ArrayLike<number>): number {
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let q = 0; q < this.dims; q++) {
      const v = Math.floor((x[q] ?? 0) * 64);
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h2 = Math.imul(h2 + v, 0x5bd1e995) ^ (h2 >>> 15);
    }
    h1 >>>= 0;
    h2 >>>= 0;
    const slot = h1 & (CACHE_SIZE - 1);
    if (this.#cacheGen[slot] === this.windows + 1 && this.#cacheH1[slot] === h1 && this.#cacheH2[slot] === h2) return this.#cacheMass[slot] ?? 0;
    const m = this.mass(x);
    this.#cacheGen[slot] = this.windows + 1;
    this.#cacheH1[slot] = h1;
    this.#cacheH2[slot] = h2;
    this.#cacheMass[slot] = m;
    return m;
  }

  /** Add a point to the latest window; swap windows when it is full. */
  learn(x: ArrayLike<number>): void {
    for (let t = 0; t < this.trees; t++) {
      let node = 0;
      const ib = t * this.#internal;
      const nb = t * this.#nodes;
      this.#latest[nb] = (this.#latest[nb] ?? 0) + 1;
      for (let level = 0; level < this.depth; level++) {
        const i = ib + node;
        node = (x[this.#splitDim[i] ?? 0] ?? 0) < (this.#splitVal[i] ?? 0) ? 2 * node + 1 : 2 * node + 2;
        this.#latest[nb + node] = (this.#latest[nb + node] ?? 0) + 1;
      }
    }
    if (++this.#learned >= this.windowSize) {
      this.#ref.set(this.#latest);
      this.#latest.fill(0);
      this.#learned = 0;
      this.windows++;
    }
  }

  /** The largest possible `mass` (all reference mass in one leaf), for normalisation. */
  get maxMass(): number {
    return Math.log2(1 + this.windowSize) + this.depth;
  }
}
