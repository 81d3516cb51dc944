// Wycheproof vectors (/work/shared/data/wycheproof, as-is) through Zeta's TPM signature path:
// each signature is wrapped as the TPMT_SIGNATURE a TPM would send, parsed, and checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkTpmSignature, parseTpmSignature, TPM_ALG } from '../src/attest/index.js';

const DATA = process.env.ZETA_SHARED_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');

interface Vector {
  tcId: number;
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Group {
  publicKeyDer: string;
  sha: string;
  tests: Vector[];
}

function load(name: string): Group[] {
  return (JSON.parse(readFileSync(join(DATA, 'wycheproof', name), 'utf8')) as { testGroups: Group[] }).testGroups;
}

function spki(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.from(hex, 'hex'), format: 'der', type: 'spki' });
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

const tpm2b = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);

/** Strict DER ECDSA-Sig-Value → (r, s); null for anything a DER decoder must refuse. */
function derRS(sig: Buffer): [Buffer, Buffer] | null {
  const readLen = (at: number): [number, number] | null => {
    const first = sig[at];
    if (first === undefined) return null;
    if (first < 0x80) return [first, at + 1];
    if (first !== 0x81) return null;
    const l = sig[at + 1];
    if (l === undefined || l < 0x80) return null;
    return [l, at + 2];
  };
  if (sig[0] !== 0x30) return null;
  const seq = readLen(1);
  if (seq === null || seq[1] + seq[0] !== sig.length) return null;
  let at = seq[1];
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (sig[at] !== 0x02) return null;
    const l = readLen(at + 1);
    if (l === null || l[0] === 0) return null;
    const v = sig.subarray(l[1], l[1] + l[0]);
    if (v.length !== l[0]) return null;
    if ((v[0] ?? 0) & 0x80) return null; // negative
    if (v.length > 1 && v[0] === 0 && ((v[1] ?? 0) & 0x80) === 0) return null; // non-minimal
    ints.push(v);
    at = l[1] + l[0];
  }
  if (at !== sig.length) return null;
  const [r, s] = ints;
  return r === undefined || s === undefined ? null : [r, s];
}

/** Runs the vector through parseTpmSignature + checkTpmSignature; true = accepted. */
function accepted(key: KeyObject, msg: Buffer, tpmtSignature: Buffer): boolean {
  let parsed;
  try {
    parsed = parseTpmSignature(tpmtSignature);
  } catch {
    return false;
  }
  return checkTpmSignature(key, msg, parsed) === null;
}

function expectOutcome(v: Vector, ok: boolean): void {
  if (v.result === 'valid') assert.equal(ok, true, `tcId ${v.tcId} is valid but was refused`);
  if (v.result === 'invalid') assert.equal(ok, false, `tcId ${v.tcId} is invalid but was accepted`);
}

describe('Wycheproof through the TPMT_SIGNATURE path', () => {
  it('ECDSA P-256 SHA-256 (TPM_ALG_ECDSA, r and s as TPM2B)', () => {
    let n = 0;
    for (const g of load('ecdsa_secp256r1_sha256_test.json')) {
      const key = spki(g.publicKeyDer);
      for (const v of g.tests) {
        const rs = derRS(Buffer.from(v.sig, 'hex'));
        // Not a DER signature at all: nothing for a TPM to have produced; Wycheproof agrees.
        if (rs === null) {
          assert.notEqual(v.result, 'valid', `tcId ${v.tcId}`);
          continue;
        }
        const tpmt = Buffer.concat([u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), tpm2b(rs[0]), tpm2b(rs[1])]);
        expectOutcome(v, accepted(key, Buffer.from(v.msg, 'hex'), tpmt));
        n++;
      }
    }
    assert.ok(n > 250, `${n} vectors ran`);
  });

  it('RSASSA-PKCS1-v1_5 2048 SHA-256 (TPM_ALG_RSASSA)', () => {
    let n = 0;
    for (const g of load('rsa_signature_2048_sha256_test.json')) {
      const key = spki(g.publicKeyDer);
      for (const v of g.tests) {
        const tpmt = Buffer.concat([u16(TPM_ALG.RSASSA), u16(TPM_ALG.SHA256), tpm2b(Buffer.from(v.sig, 'hex'))]);
        expectOutcome(v, accepted(key, Buffer.from(v.msg, 'hex'), tpmt));
        n++;
      }
    }
    assert.ok(n > 200, `${n} vectors ran`);
  });

  it('RSASSA-PSS 2048 SHA-256 MGF1 salt 32 (TPM_ALG_RSAPSS)', () => {
    let n = 0;
    for (const g of load('rsa_pss_2048_sha256_mgf1_32_test.json')) {
      const key = spki(g.publicKeyDer);
      for (const v of g.tests) {
        const tpmt = Buffer.concat([u16(TPM_ALG.RSAPSS), u16(TPM_ALG.SHA256), tpm2b(Buffer.from(v.sig, 'hex'))]);
        expectOutcome(v, accepted(key, Buffer.from(v.msg, 'hex'), tpmt));
        n++;
      }
    }
    assert.ok(n > 100, `${n} vectors ran`);
  });

  it('refuses a scheme that does not fit the key: RSA signature header on an ECC key', () => {
    const g = load('ecdsa_secp256r1_sha256_test.json')[0];
    assert.ok(g !== undefined);
    const tpmt = Buffer.concat([u16(TPM_ALG.RSASSA), u16(TPM_ALG.SHA256), tpm2b(Buffer.alloc(64, 1))]);
    assert.equal(accepted(spki(g.publicKeyDer), Buffer.alloc(0), tpmt), false);
  });
});
