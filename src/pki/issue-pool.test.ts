import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { describeCa, IssuancePool } from './index.js';
import { deviceRequest, makeHierarchy, makeTempDir, opensslOk, type Hierarchy, type TempDir } from './test-support.js';

const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const spki = (): Buffer => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

describe('bulk issuance on worker threads (IssuancePool)', () => {
  let dir: TempDir;
  let h: Hierarchy;
  let pool: IssuancePool;

  before(async () => {
    dir = makeTempDir();
    h = makeHierarchy(dir, now);
    pool = await IssuancePool.open({ id: h.issuing.id, certDer: h.issuing.certDer, keyRef: 'file:issuing.key.pem', baseDir: dir.path }, { threads: 2 });
  });
  after(async () => {
    await pool.close();
    dir.remove();
  });

  it('issues every certificate through the pipeline, in request order, verifiable by OpenSSL', async () => {
    const keys = Array.from({ length: 150 }, spki);
    const certs = await pool.issue(keys.map((k, i) => deviceRequest(k, now, { deviceId: `bulk-${i}` })));
    assert.equal(certs.length, 150);
    const issuer = new X509Certificate(h.issuing.certDer);
    certs.forEach((c, i) => {
      const x = new X509Certificate(c.der);
      assert.ok(x.verify(describeCa(h.issuing).publicKey) && x.checkIssued(issuer));
      assert.equal(x.subjectAltName, `URI:spiffe://test.zeta/device/bulk-${i}`);
      assert.ok(x.publicKey.export({ type: 'spki', format: 'der' }).equals(keys[i]!));
      assert.equal(c.notBefore.getTime(), now.getTime());
      assert.equal(x.fingerprint256.replace(/:/g, '').toLowerCase(), c.fingerprintSha256);
    });
    assert.equal(new Set(certs.map((c) => c.serialHex)).size, 150);
    opensslOk(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, dir.file('bulk-0.pem', certs[0]!.pem)]);
  });

  it('authorizes every request first and signs nothing when one is refused', async () => {
    const seen: string[] = [];
    await assert.rejects(
      pool.issue([deviceRequest(spki(), now, { deviceId: 'ok-1' }), deviceRequest(spki(), now, { deviceId: 'suspended-1' })], (r) => {
        seen.push(r.deviceId);
        if (r.deviceId.startsWith('suspended')) throw new ZetaError('ZETA_ERR_DEVICE_STATE', 'device is suspended');
      }),
      (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_ISSUANCE' && e.fields?.['stage'] === 'authorize' && e.fields['index'] === 1,
    );
    assert.deepEqual(seen, ['ok-1', 'suspended-1']);
  });

  it('names the request and stage that failed in a worker', async () => {
    await assert.rejects(
      pool.issue([deviceRequest(spki(), now, { deviceId: 'fine' }), deviceRequest(spki(), now, { deviceId: 'Bad_ID' })]),
      (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_ISSUANCE' && e.fields?.['stage'] === 'constraints' && e.fields['index'] === 1 && /device id/.test(e.message),
    );
  });

  it('refuses to start when the key reference does not open', async () => {
    await assert.rejects(IssuancePool.open({ id: 'x', certDer: h.issuing.certDer, keyRef: 'file:missing.pem', baseDir: dir.path }, { threads: 1 }),
      (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_CONFIG');
  });
});
