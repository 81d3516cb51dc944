import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_KEY_FILE, checkpointMessage, ensureAuditKey, verifyCheckpointSignature } from './index.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'zeta-audit-key-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ensureAuditKey', () => {
  it('creates a PKCS#8 Ed25519 key, mode 0600 in a 0700 directory, once', () => {
    withDir((dir) => {
      const data = join(dir, 'data');
      const first = ensureAuditKey(data);
      const file = join(data, 'keys', AUDIT_KEY_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(join(data, 'keys')).mode & 0o777, 0o700);
      const pem = readFileSync(file, 'utf8');
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
      assert.equal(createPrivateKey(pem).asymmetricKeyType, 'ed25519');
      const der = createPublicKey(first.publicKeyPem).export({ type: 'spki', format: 'der' });
      assert.equal(first.keyId, createHash('sha256').update(der).digest('hex').slice(0, 16));
      assert.deepEqual(ensureAuditKey(data), first, 'an existing key is kept');
      assert.equal(readFileSync(file, 'utf8'), pem);
    });
  });

  it('refuses a key file other users can read (fail closed)', () => {
    withDir((dir) => {
      ensureAuditKey(dir);
      chmodSync(join(dir, 'keys', AUDIT_KEY_FILE), 0o644);
      assert.throws(() => ensureAuditKey(dir), { code: 'ZETA_ERR_CONFIG' });
    });
  });

  it('a checkpoint signature does not survive any change to the claim', () => {
    withDir((dir) => {
      const { publicKeyPem, keyId } = ensureAuditKey(dir);
      const privateKey = createPrivateKey(readFileSync(join(dir, 'keys', AUDIT_KEY_FILE), 'utf8'));
      const publicKey = createPublicKey(publicKeyPem);
      const claim = { seq: 7, hash: 'ab'.repeat(32), ts: '2026-01-01T00:00:00.000Z', keyId };
      assert.equal(checkpointMessage(claim).toString(), `{"hash":"${'ab'.repeat(32)}","keyId":"${keyId}","seq":7,"ts":"2026-01-01T00:00:00.000Z","type":"zeta.audit.checkpoint.v1"}`);
      const signature = sign(null, checkpointMessage(claim), privateKey).toString('base64');
      assert.equal(verifyCheckpointSignature(publicKey, claim, signature), true);
      for (const changed of [{ seq: 8 }, { hash: 'ac'.repeat(32) }, { ts: '2026-01-01T00:00:01.000Z' }, { keyId: '0'.repeat(16) }]) {
        assert.equal(verifyCheckpointSignature(publicKey, { ...claim, ...changed }, signature), false, JSON.stringify(changed));
      }
      assert.equal(verifyCheckpointSignature(publicKey, claim, 'not base64 at all'), false);
      assert.equal(verifyCheckpointSignature(publicKey, claim, ''), false);
    });
  });
});
