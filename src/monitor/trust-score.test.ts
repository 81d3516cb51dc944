import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trustScore, type TrustInput } from './trust-score.js';

const NOW = Date.UTC(2026, 0, 5);
const H = 3600_000;
const good: TrustInput = {
  identity: { certValid: true, keyType: 'ecdsa-p256', attestation: 'verified', tpmResident: true },
  posture: { firmwareAgeDays: 30, vulnerableFirmware: false, certAgeDays: 20 },
  behavior: { recentScores: [], nowMs: NOW },
};

describe('trustScore', () => {
  it('a healthy, attested device scores 100 and every factor is listed', () => {
    const r = trustScore(good);
    assert.equal(r.score, 100);
    assert.deepEqual(r.factors.map((f) => f.name), ['identity.cert', 'identity.keyType', 'identity.attestation', 'identity.tpm', 'posture.firmwareAge', 'posture.certAge', 'behavior']);
    assert.ok(r.factors.every((f) => f.points <= 0));
  });

  it('applies the documented weights', () => {
    const r = trustScore({ ...good, identity: { certValid: true, keyType: 'rsa-2048', attestation: 'unknown', tpmResident: false }, posture: { vulnerableFirmware: true, firmwareAgeDays: 730, certAgeDays: 400 } });
    // 100 − 5 (RSA) − 10 (unknown) − 5 (no TPM) − 20 (vulnerable) − 10 (fw 2 y) − 5 (cert > 1 y)
    assert.equal(r.score, 45);
    assert.equal(trustScore({ ...good, identity: { ...good.identity, attestation: 'failed' } }).score, 60);
    assert.equal(trustScore({ ...good, identity: { ...good.identity, keyType: 'dsa-1024' } }).score, 85);
  });

  it('a software attestation key verifies but counts less than a TPM one', () => {
    const soft = trustScore({ ...good, identity: { ...good.identity, tpmResident: false, attestationMethod: 'software' } });
    // 100 − 10 (software key) − 5 (not TPM-resident)
    assert.equal(soft.score, 85);
    assert.equal(trustScore({ ...good, identity: { ...good.identity, attestationMethod: 'tpm' } }).score, 100);
    // A failed attestation costs the same whatever key made it.
    assert.equal(trustScore({ ...good, identity: { ...good.identity, attestation: 'failed', attestationMethod: 'software' } }).score, 60);
  });

  it('an invalid certificate caps the score at 20', () => {
    assert.equal(trustScore({ ...good, identity: { ...good.identity, certValid: false } }).score, 20);
  });

  it('behaviour scores decay with a 24 h half-life and combine without exceeding 40 points', () => {
    const at = (ageH: number, score = 1): TrustInput => ({ ...good, behavior: { nowMs: NOW, recentScores: [{ score, atMs: NOW - ageH * H }] } });
    assert.equal(trustScore(at(0)).score, 60);
    assert.equal(trustScore(at(24)).score, 80);
    assert.equal(trustScore(at(48)).score, 90);
    const many = trustScore({ ...good, behavior: { nowMs: NOW, recentScores: Array.from({ length: 100 }, () => ({ score: 0.9, atMs: NOW })) } });
    assert.equal(many.score, 60);
    // Future timestamps (skew) count as now; garbage is ignored.
    assert.equal(trustScore({ ...good, behavior: { nowMs: NOW, recentScores: [{ score: 1, atMs: NOW + 5 * H }, { score: Number.NaN, atMs: NOW }] } }).score, 60);
  });

  it('is pure: same input, same output, input untouched', () => {
    const input = structuredClone(at2());
    const a = trustScore(input);
    assert.deepEqual(trustScore(input), a);
    assert.deepEqual(input, at2());
  });
});

function at2(): TrustInput {
  return { ...good, behavior: { nowMs: NOW, recentScores: [{ score: 0.7, atMs: NOW - H }] } };
}
