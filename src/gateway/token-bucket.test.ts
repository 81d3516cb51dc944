import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedRateLimiter, TokenBucket } from './token-bucket.js';

describe('token buckets', () => {
  it('allows the burst, then the rate', () => {
    const b = new TokenBucket(10, 3, 0);
    assert.equal([b.take(1, 0), b.take(1, 0), b.take(1, 0), b.take(1, 0)].filter(Boolean).length, 3);
    assert.equal(b.waitMs(1, 0), 100);
    assert.equal(b.take(1, 100), true);
  });

  it('keeps a bounded number of keys', () => {
    const l = new KeyedRateLimiter(1, 1, 2);
    assert.equal(l.take('a', 0), true);
    assert.equal(l.take('a', 0), false);
    l.take('b', 0);
    l.take('c', 0);
    assert.equal(l.size, 2);
  });
});
