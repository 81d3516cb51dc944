import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HalfSpaceTrees, mulberry32 } from './hst.js';
import { DecayingCount, RobustEwma, hash32, linearCount, setBit, soften } from './stats.js';

describe('streaming statistics', () => {
  it('RobustEwma: an outlier burst does not drag the baseline; z-scores are calibrated', () => {
    const r = new RobustEwma(0.05, 1e-6);
    const rnd = mulberry32(1);
    for (let i = 0; i < 2000; i++) r.update(10 + (rnd() - 0.5) * 2);
    const before = r.level;
    for (let i = 0; i < 10; i++) r.update(1000);
    // A plain EWMA would be at ~400 now; the clipped update moves a few scales at most.
    assert.ok(Math.abs(r.level - before) < 3, `level moved to ${r.level}`);
    assert.ok(r.z(1000) > 50);
    assert.ok(Math.abs(r.z(10.2)) < 1);
  });

  it('linear counting estimates distinct counts within a few percent', () => {
    const bits = new Uint32Array(4);
    for (let i = 0; i < 60; i++) setBit(bits, 0, 4, hash32(`10.0.0.${i}`));
    const est = linearCount(bits, 0, 4);
    assert.ok(est > 50 && est < 72, String(est));
    for (let i = 0; i < 60; i++) assert.equal(setBit(bits, 0, 4, hash32(`10.0.0.${i}`)), false);
  });

  it('DecayingCount decays with its time constant; soften is 0.5 at the threshold', () => {
    const d = new DecayingCount(1000);
    d.add(0, 10);
    assert.ok(Math.abs(d.valueAt(1000) - 10 / Math.E) < 1e-9);
    assert.equal(soften(0), 0);
    assert.ok(Math.abs(soften(1) - 0.5) < 1e-12);
    assert.ok(soften(10) < 1);
  });
});

describe('HalfSpaceTrees', () => {
  const point = (rnd: () => number): number[] => [0.3 + rnd() * 0.05, 0.6 + rnd() * 0.05, 0.1 + rnd() * 0.02];

  it('scores 0 mass before the first reference window, then outliers below normal points', () => {
    const h = new HalfSpaceTrees({ dims: 3, windowSize: 64, seed: 3 });
    const rnd = mulberry32(9);
    assert.equal(h.mass(point(rnd)), 0);
    for (let i = 0; i < 64; i++) h.learn(point(rnd));
    assert.equal(h.windows, 1);
    const normal = h.mass(point(rnd));
    const outlier = h.mass([0.9, 0.05, 0.95]);
    assert.ok(normal > outlier + 2, `normal ${normal} vs outlier ${outlier}`);
    assert.ok(normal <= h.maxMass);
  });

  it('follows drift: after the latest window becomes the reference, the new regime is normal', () => {
    const h = new HalfSpaceTrees({ dims: 3, windowSize: 64, seed: 3 });
    const rnd = mulberry32(4);
    for (let i = 0; i < 64; i++) h.learn(point(rnd));
    const shifted = [0.8, 0.2, 0.7];
    const before = h.mass(shifted);
    for (let i = 0; i < 64; i++) h.learn(shifted.map((v) => v + rnd() * 0.01));
    assert.ok(h.mass(shifted) > before + 2);
  });

  it('is deterministic for a seed, and the cache returns the exact mass for a repeated point', () => {
    const a = new HalfSpaceTrees({ dims: 2, windowSize: 16, seed: 5 });
    const b = new HalfSpaceTrees({ dims: 2, windowSize: 16, seed: 5 });
    for (let i = 0; i < 16; i++) {
      a.learn([i / 16, 0.5]);
      b.learn([i / 16, 0.5]);
    }
    assert.equal(a.mass([0.4, 0.5]), b.mass([0.4, 0.5]));
    assert.equal(a.cachedMass([0.4, 0.5]), a.mass([0.4, 0.5]));
    assert.equal(a.cachedMass([0.4, 0.5]), a.mass([0.4, 0.5]));
  });
});
