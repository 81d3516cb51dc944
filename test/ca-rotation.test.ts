/**
 * Issuing-CA rotation with overlap, on a running server, driven by the CLI from another process:
 * certificates of the retiring CA keep verifying, keep renewing over mTLS (and come back from the
 * new CA), and keep their CRL and OCSP; new enrollments get the new CA.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startTestServer, tempDir, zeta, execFileP } from './helpers.js';
import { enroll, renew, checkOcsp, connectDevice } from '../src/agent/index.js';
import { splitPemCerts, toPem } from '../src/pki/index.js';

it('rotates the issuing CA with an overlap in which old and new both verify', async () => {
  const s = await startTestServer();
  const work = tempDir('zeta-rot-');
  const W = (f: string): string => join(work.path, f);
  try {
    const api = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    const a = await s.cp.inventory.add({ id: 'rot-a', name: 'a', type: 'sensor' }, 'test');
    await enroll({ server: api, deviceId: 'rot-a', token: a.enrollmentToken, outDir: W('a') });
    const oldLeafPem = readFileSync(W('a/cert.pem'), 'utf8');
    const oldIssuer = s.cp.authority.activeIssuing;

    const r = await zeta(['ca', 'rotate', '--data', s.dataDir, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rot = JSON.parse(r.stdout) as { newIssuingId: string; retiringId: string };
    assert.equal(rot.retiringId, oldIssuer.id);

    // The running server picks the rotation up from the change feed.
    const t0 = Date.now();
    while (s.cp.authority.activeIssuing.id !== rot.newIssuingId && Date.now() - t0 < 3000) await new Promise((res) => setTimeout(res, 50));
    assert.equal(s.cp.authority.activeIssuing.id, rot.newIssuingId);
    await new Promise((res) => setTimeout(res, 200));
    const cacerts = await execFileP('curl', ['-sS', '--cacert', s.caBundlePath, `${api}/.well-known/est/cacerts`]);
    const bundle = (await import('node:child_process')).execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], { input: Buffer.from(cacerts.stdout.replace(/\s+/g, ''), 'base64') }).toString();
    assert.equal((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length, 3, 'root + retiring + new issuing CA');
    writeFileSync(W('all.pem'), bundle);

    // The old certificate still verifies (overlap) and OCSP still answers for it.
    writeFileSync(W('old-leaf.pem'), toPem(splitPemCerts(oldLeafPem)[0]!, 'CERTIFICATE'));
    const v = await execFileP('openssl', ['verify', '-CAfile', s.caBundlePath, '-untrusted', W('all.pem'), W('old-leaf.pem')]);
    assert.match(v.stdout, /OK/);
    assert.equal((await checkOcsp({ ocspUrl: `${s.h.pkiUrl}/ocsp`, certPem: oldLeafPem, issuerPem: oldIssuer.row.cert_pem })).status, 'good');

    // It renews over mTLS with the old certificate, and the new one comes from the new CA.
    const rn = await renew({ server: api, dir: W('a'), force: true });
    assert.equal(rn.renewed, true);
    const renewed = new X509Certificate(splitPemCerts(readFileSync(W('a/cert.pem'), 'utf8'))[0]!);
    const newIssuer = new X509Certificate(s.cp.authority.activeIssuing.certDer);
    assert.ok(renewed.checkIssued(newIssuer) && renewed.verify(newIssuer.publicKey), 'renewed certificate is from the new issuing CA');

    // The gateway trusts the new issuing CA too: the renewed device connects over mTLS.
    const { client } = await connectDevice({ server: `mqtts://localhost:${s.h.gateway!.port}`, dir: W('a') });
    client.end(true);

    // New enrollments get the new CA.
    const b = await s.cp.inventory.add({ id: 'rot-b', name: 'b', type: 'sensor' }, 'test');
    await enroll({ server: api, deviceId: 'rot-b', token: b.enrollmentToken, outDir: W('b') });
    const bCert = new X509Certificate(splitPemCerts(readFileSync(W('b/cert.pem'), 'utf8'))[0]!);
    assert.ok(bCert.checkIssued(newIssuer));

    // Revocation reaches both CAs' CRL and OCSP.
    await s.cp.inventory.revoke('rot-a', 'keyCompromise', 'test');
    assert.equal((await checkOcsp({ ocspUrl: `${s.h.pkiUrl}/ocsp`, certPem: oldLeafPem, issuerPem: oldIssuer.row.cert_pem })).status, 'revoked');
    assert.equal((await checkOcsp({ ocspUrl: `${s.h.pkiUrl}/ocsp`, certPem: readFileSync(W('a/cert.pem'), 'utf8'), issuerPem: s.cp.authority.activeIssuing.row.cert_pem })).status, 'revoked');
    await execFileP('curl', ['-sS', '-o', W('old.crl'), `${s.h.pkiUrl}/crl/${oldIssuer.id}.crl`]);
    const crl = await execFileP('openssl', ['crl', '-inform', 'DER', '-in', W('old.crl'), '-noout', '-text']);
    assert.match(crl.stdout.toLowerCase(), new RegExp(new X509Certificate(oldLeafPem).serialNumber.toLowerCase().replace(/^0+/, '')));
  } finally {
    await s.close();
    work.cleanup();
  }
});
