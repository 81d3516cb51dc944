/**
 * EST enrollment, renewal, revocation, CRL and OCSP end to end, with clients nobody here wrote:
 * openssl makes the keys and CSRs and checks every result, curl speaks EST.
 * Ordered steps; teardown always runs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, execFileP, zeta, type TestServer } from './helpers.js';
import { ManualClock } from '../src/common/clock.js';

async function sh(cmd: string, args: string[], input?: Buffer): Promise<{ stdout: string; stderr: string }> {
  if (input === undefined) return execFileP(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args);
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${cmd} exited ${code}: ${stderr}`))));
    c.stdin.end(input);
  });
}

describe('EST with openssl and curl', () => {
  let s: TestServer;
  const work = tempDir('zeta-est-');
  const clock = new ManualClock(Date.now());
  const W = (f: string): string => join(work.path, f);
  let api: string;

  async function curl(args: string[]): Promise<{ status: number; body: string }> {
    const r = await execFileP('curl', ['-sS', '--cacert', s.caBundlePath, '-o', '-', '-w', '\n%{http_code}', ...args], { maxBuffer: 8 * 1024 * 1024 });
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }

  async function addDevice(name: string, type = 'camera'): Promise<{ id: string; enrollmentToken: string }> {
    const r = await curl(['-H', `authorization: Bearer ${s.adminToken}`, '-H', 'content-type: application/json', '-d', JSON.stringify({ name, type, segment: 'cams' }), `${api}/api/v1/devices`]);
    assert.equal(r.status, 201, r.body);
    return JSON.parse(r.body) as { id: string; enrollmentToken: string };
  }

  async function opensslCsr(name: string, keyArgs: string[]): Promise<void> {
    await sh('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', W(`${name}.key`), '-out', W(`${name}.csr.der`), '-outform', 'DER', '-subj', '/CN=ignored-by-server/O=evil']);
    writeFileSync(W(`${name}.csr.b64`), readFileSync(W(`${name}.csr.der`)).toString('base64'));
  }

  async function certCount(): Promise<number> {
    const r = await s.cp.store.db.selectFrom('certificates').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async function enrollCurl(auth: string[], csrFile: string): Promise<{ status: number; body: string }> {
    return curl([...auth, '-H', 'content-type: application/pkcs10', '--data-binary', `@${csrFile}`, `${api}/.well-known/est/simpleenroll`]);
  }

  async function pkcs7ToPem(b64: string, out: string): Promise<string> {
    const der = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
    const r = await sh('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], der);
    writeFileSync(out, r.stdout);
    return r.stdout;
  }

  let dev: { id: string; enrollmentToken: string };

  before(async () => {
    s = await startTestServer({}, clock);
    api = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    // root and issuing CA as separate files for openssl
    writeFileSync(W('root.pem'), s.cp.authority.root.row.cert_pem);
    writeFileSync(W('issuing.pem'), s.cp.authority.activeIssuing.row.cert_pem);
  });
  after(async () => {
    await s?.close();
    work.cleanup();
  });

  it('serves /cacerts as a base64 certs-only PKCS#7 that openssl reads', async () => {
    const r = await curl([`${api}/.well-known/est/cacerts`]);
    assert.equal(r.status, 200);
    const pem = await pkcs7ToPem(r.body, W('cacerts.pem'));
    assert.equal((pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  });

  it('enrolls a P-256 key with the one-time token as HTTP Basic password; openssl verifies the result', async () => {
    dev = await addDevice('lobby cam');
    await opensslCsr('p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const r = await enrollCurl(['-u', `${dev.id}:${dev.enrollmentToken}`], W('p256.csr.b64'));
    assert.equal(r.status, 200, r.body);
    await pkcs7ToPem(r.body, W('p256.crt'));
    const v = await sh('openssl', ['verify', '-CAfile', W('root.pem'), '-untrusted', W('issuing.pem'), '-purpose', 'sslclient', W('p256.crt')]);
    assert.match(v.stdout, /OK/);
    const text = (await sh('openssl', ['x509', '-in', W('p256.crt'), '-noout', '-text'])).stdout;
    assert.match(text, new RegExp(`URI:spiffe://zeta\\.local/device/${dev.id}`));
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /OCSP - URI:http:\/\/localhost:\d+\/ocsp/);
    assert.match(text, /CA Issuers - URI:http:\/\/localhost:\d+\/ca\//);
    assert.match(text, /X509v3 CRL Distribution Points/);
    // The identity comes from the device record, never from the CSR.
    assert.doesNotMatch(text, /ignored-by-server|evil/);
    const d = await s.cp.inventory.get(dev.id);
    assert.equal(d.state, 'active');
    assert.ok(d.certificate !== null);
  });

  it('refuses the same token twice, and leaves no certificate behind', async () => {
    const n = await certCount();
    await opensslCsr('again', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const r = await enrollCurl(['-u', `${dev.id}:${dev.enrollmentToken}`], W('again.csr.b64'));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).code, 'ZETA_ERR_TOKEN_INVALID');
    assert.ok(JSON.parse(r.body).requestId);
    assert.equal(await certCount(), n);
  });

  it('accepts the token as a Bearer token; P-384 and Ed25519 keys', async () => {
    const a = await addDevice('thermo', 'thermostat');
    await opensslCsr('p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const r1 = await enrollCurl(['-H', `authorization: Bearer ${a.enrollmentToken}`], W('p384.csr.b64'));
    assert.equal(r1.status, 200, r1.body);
    await pkcs7ToPem(r1.body, W('p384.crt'));
    assert.match((await sh('openssl', ['verify', '-CAfile', W('root.pem'), '-untrusted', W('issuing.pem'), W('p384.crt')])).stdout, /OK/);
    const b = await addDevice('lock', 'lock');
    await opensslCsr('ed', ['-newkey', 'ed25519']);
    const r2 = await enrollCurl(['-u', `${b.id}:${b.enrollmentToken}`], W('ed.csr.b64'));
    assert.equal(r2.status, 200, r2.body);
    await pkcs7ToPem(r2.body, W('ed.crt'));
    assert.match((await sh('openssl', ['x509', '-in', W('ed.crt'), '-noout', '-text'])).stdout, /ED25519/);
  });

  it('refuses bad input with a clear error, and the token still works afterwards', async () => {
    const d = await addDevice('victim');
    const n = await certCount();
    const auth = ['-u', `${d.id}:${d.enrollmentToken}`];
    const cases: { name: string; file: string; code: string; status: number }[] = [];
    writeFileSync(W('garbage.b64'), 'this is not base64 !!!');
    cases.push({ name: 'garbage', file: W('garbage.b64'), code: 'ZETA_ERR_CSR_MALFORMED', status: 400 });
    writeFileSync(W('empty.b64'), '');
    cases.push({ name: 'empty', file: W('empty.b64'), code: 'ZETA_ERR_CSR_MALFORMED', status: 400 });
    await opensslCsr('trunc', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    writeFileSync(W('trunc.b64'), readFileSync(W('trunc.csr.der')).subarray(0, 60).toString('base64'));
    cases.push({ name: 'truncated', file: W('trunc.b64'), code: 'ZETA_ERR_CSR_MALFORMED', status: 400 });
    const tampered = Buffer.from(readFileSync(W('trunc.csr.der')));
    tampered[tampered.length - 5]! ^= 0x01;
    writeFileSync(W('tampered.b64'), tampered.toString('base64'));
    cases.push({ name: 'signature by another key / tampered', file: W('tampered.b64'), code: 'ZETA_ERR_CSR_SIGNATURE', status: 400 });
    await opensslCsr('rsa1024', ['-newkey', 'rsa:1024']);
    cases.push({ name: 'RSA-1024', file: W('rsa1024.csr.b64'), code: 'ZETA_ERR_KEY_REFUSED', status: 400 });
    await opensslCsr('k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
    cases.push({ name: 'secp256k1', file: W('k1.csr.b64'), code: 'ZETA_ERR_KEY_REFUSED', status: 400 });
    writeFileSync(W('huge.b64'), Buffer.alloc(200 * 1024, 0x41).toString('base64'));
    cases.push({ name: 'oversized', file: W('huge.b64'), code: 'ZETA_ERR_PAYLOAD_TOO_LARGE', status: 413 });
    for (const c of cases) {
      const r = await enrollCurl(auth, c.file);
      assert.equal(r.status, c.status, `${c.name}: ${r.body}`);
      const p = JSON.parse(r.body) as { code: string; requestId: string; detail: string };
      assert.equal(p.code, c.code, c.name);
      assert.ok(p.requestId.length > 0);
    }
    assert.equal(await certCount(), n, 'no certificate issued by any bad request');
    // wrong content type
    const ct = await curl([...auth, '-H', 'content-type: application/json', '--data-binary', `@${W('trunc.csr.b64')}`, `${api}/.well-known/est/simpleenroll`]);
    assert.equal(ct.status, 415);
    // another device's token
    const other = await addDevice('other');
    await opensslCsr('good', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const wrong = await enrollCurl(['-u', `${d.id}:${other.enrollmentToken}`], W('good.csr.b64'));
    assert.equal(wrong.status, 401);
    // none of it burned the victim's token
    const ok = await enrollCurl(auth, W('good.csr.b64'));
    assert.equal(ok.status, 200, ok.body);
    // refused attempts are in the audit log
    const refused = (await s.cp.audit.list({ action: 'est.enroll', limit: 1000 })).filter((e) => e.outcome === 'refused');
    for (const c of cases) assert.ok(refused.some((e) => e.details.code === c.code), `refusal ${c.name} (${c.code}) not audited`);
    assert.ok(refused.some((e) => e.details.code === 'ZETA_ERR_UNSUPPORTED_MEDIA_TYPE'), 'wrong content type not audited');
  });

  it('refuses an expired token', async () => {
    const d = await addDevice('late');
    clock.advance(73 * 3600_000);
    await opensslCsr('late', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const r = await enrollCurl(['-u', `${d.id}:${d.enrollmentToken}`], W('late.csr.b64'));
    clock.advance(-73 * 3600_000);
    assert.equal(r.status, 401);
  });

  it('re-enrolls over mTLS with the current certificate (same key and new key)', async () => {
    // same key
    const r1 = await curl(['--cert', W('p256.crt'), '--key', W('p256.key'), '-H', 'content-type: application/pkcs10', '--data-binary', `@${W('p256.csr.b64')}`, `${api}/.well-known/est/simplereenroll`]);
    assert.equal(r1.status, 200, r1.body);
    await pkcs7ToPem(r1.body, W('p256-renewed.crt'));
    assert.match((await sh('openssl', ['verify', '-CAfile', W('root.pem'), '-untrusted', W('issuing.pem'), W('p256-renewed.crt')])).stdout, /OK/);
    // new key
    await opensslCsr('newkey', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const r2 = await curl(['--cert', W('p256-renewed.crt'), '--key', W('p256.key'), '-H', 'content-type: application/pkcs10', '--data-binary', `@${W('newkey.csr.b64')}`, `${api}/.well-known/est/simplereenroll`]);
    assert.equal(r2.status, 200, r2.body);
    await pkcs7ToPem(r2.body, W('newkey.crt'));
    const mod = (await sh('openssl', ['x509', '-in', W('newkey.crt'), '-noout', '-pubkey'])).stdout;
    const keyPub = (await sh('openssl', ['pkey', '-in', W('newkey.key'), '-pubout'])).stdout;
    assert.equal(mod.trim(), keyPub.trim());
    // without a client certificate
    const r3 = await curl(['-H', 'content-type: application/pkcs10', '--data-binary', `@${W('newkey.csr.b64')}`, `${api}/.well-known/est/simplereenroll`]);
    assert.equal(r3.status, 401);
  });

  it('revocation shows at once in OCSP (openssl ocsp) and the CRL (openssl crl)', async () => {
    const good = await sh('openssl', ['ocsp', '-issuer', W('issuing.pem'), '-cert', W('newkey.crt'), '-url', `${s.h.pkiUrl}/ocsp`, '-CAfile', W('root.pem'), '-resp_text']);
    assert.match(good.stdout, /newkey\.crt: good/);
    assert.match(good.stderr + good.stdout, /Response verify OK/);
    // revoke with the CLI on the data directory, as an operator would while the server runs
    const rv = await zeta(['device', 'revoke', '--data', s.dataDir, dev.id, '--reason', 'keyCompromise', '--json']);
    assert.equal(rv.code, 0, rv.stderr + rv.stdout);
    const revoked = await sh('openssl', ['ocsp', '-issuer', W('issuing.pem'), '-cert', W('newkey.crt'), '-url', `${s.h.pkiUrl}/ocsp`, '-CAfile', W('root.pem')]);
    assert.match(revoked.stdout, /newkey\.crt: revoked/);
    assert.match(revoked.stdout, /Reason: keyCompromise/);
    assert.match(revoked.stdout, /Revocation Time/);
    // GET form (RFC 6960 A.1)
    await sh('openssl', ['ocsp', '-issuer', W('issuing.pem'), '-cert', W('newkey.crt'), '-reqout', W('req.der'), '-no_nonce']);
    const get = await execFileP('curl', ['-sS', '-o', W('resp-get.der'), '-w', '%{http_code}', `${s.h.pkiUrl}/ocsp/${encodeURIComponent(readFileSync(W('req.der')).toString('base64'))}`]);
    assert.equal(get.stdout, '200');
    const getText = await sh('openssl', ['ocsp', '-respin', W('resp-get.der'), '-issuer', W('issuing.pem'), '-cert', W('newkey.crt'), '-CAfile', W('root.pem')]);
    assert.match(getText.stdout, /revoked/);
    // unknown: a certificate this CA never issued (the server's own TLS cert is from the CA but not a device cert)
    const crlUrl = `${s.h.pkiUrl}/crl/${s.cp.authority.activeIssuing.id}.crl`;
    await execFileP('curl', ['-sS', '-o', W('crl.der'), crlUrl]);
    const crlCheck = await sh('openssl', ['crl', '-inform', 'DER', '-in', W('crl.der'), '-CAfile', W('cacerts.pem'), '-noout']);
    assert.match(crlCheck.stderr + crlCheck.stdout, /verify OK/);
    const crlText = (await sh('openssl', ['crl', '-inform', 'DER', '-in', W('crl.der'), '-noout', '-text'])).stdout;
    const serial = (await sh('openssl', ['x509', '-in', W('newkey.crt'), '-noout', '-serial'])).stdout.trim().split('=')[1]!;
    assert.match(crlText.toUpperCase(), new RegExp(serial.replace(/^0+/, '')));
    assert.match(crlText, /Key Compromise/);
  });

  it('refuses re-enrollment with a revoked certificate', async () => {
    const r = await curl(['--cert', W('newkey.crt'), '--key', W('newkey.key'), '-H', 'content-type: application/pkcs10', '--data-binary', `@${W('newkey.csr.b64')}`, `${api}/.well-known/est/simplereenroll`]);
    assert.equal(r.status, 401, r.body);
    assert.equal(JSON.parse(r.body).code, 'ZETA_ERR_CERT_INVALID');
  });

  it('refuses re-enrollment with an expired certificate (by the server clock)', async () => {
    clock.advance(31 * 86400_000);
    try {
      const r = await curl(['--cert', W('p384.crt'), '--key', W('p384.key'), '-H', 'content-type: application/pkcs10', '--data-binary', `@${W('p384.csr.b64')}`, `${api}/.well-known/est/simplereenroll`]);
      assert.equal(r.status, 401, r.body);
    } finally {
      clock.advance(-31 * 86400_000);
    }
  });
});
