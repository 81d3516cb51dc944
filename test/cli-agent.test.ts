/**
 * The `zeta` command as users run it (a child process, real files): init, serve-side changes made
 * with --data reaching the running server within a second, --server mode, bulk import, audit
 * verify catching tampering, and the device agent enrolling and renewing against a live server.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startTestServer, tempDir, zeta, execFileP, type TestServer } from './helpers.js';
import Database from 'better-sqlite3';

describe('zeta init', () => {
  it('creates the CA with 0600 keys and refuses to overwrite it', async () => {
    const d = tempDir();
    try {
      const r = await zeta(['init', '--data', d.path, '--trust-domain', 'acme.example', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { adminToken: string; trustDomain: string; caBundle: string; rootFingerprintSha256: string };
      assert.match(out.adminToken, /^zta_/);
      assert.equal(out.trustDomain, 'acme.example');
      const keysDir = join(d.path, 'keys');
      for (const f of (await import('node:fs')).readdirSync(keysDir)) {
        assert.equal(statSync(join(keysDir, f)).mode & 0o777, 0o600, f);
      }
      assert.equal(statSync(keysDir).mode & 0o777, 0o700);
      // the token is stored hashed only
      const db = new Database(join(d.path, 'zeta.db'), { fileMustExist: true });
      const rows = db.prepare('select token_hash from api_tokens').all() as { token_hash: string }[];
      db.close();
      assert.equal(rows.length, 1);
      assert.notEqual(rows[0]!.token_hash, out.adminToken);
      const again = await zeta(['init', '--data', d.path, '--json']);
      assert.equal(again.code, 2);
      assert.equal(JSON.parse(again.stdout).error.code, 'ZETA_ERR_CA_EXISTS');
      const show = await zeta(['ca', 'show', '--data', d.path, '--json']);
      assert.equal(JSON.parse(show.stdout).root.fingerprintSha256, out.rootFingerprintSha256);
    } finally {
      d.cleanup();
    }
  });

  it('explains what to do when there is no CA yet', async () => {
    const d = tempDir();
    try {
      const r = await zeta(['device', 'list', '--data', d.path]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /zeta init/);
    } finally {
      d.cleanup();
    }
  });
});

describe('zeta against a running server', () => {
  let s: TestServer;
  const work = tempDir('zeta-cli-');

  before(async () => { s = await startTestServer(); });
  after(async () => {
    await s?.close();
    work.cleanup();
  });

  it('device add --json prints id and enrollmentToken; the agent enrolls with only the token (CA pin inside)', async () => {
    const add = await zeta(['device', 'add', '--data', s.dataDir, '--name', 'door', '--type', 'lock', '--segment', 'doors', '--json']);
    assert.equal(add.code, 0, add.stderr);
    const d = JSON.parse(add.stdout) as { id: string; enrollmentToken: string; state: string };
    assert.equal(d.state, 'registered');
    const server = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    const out = join(work.path, 'door');
    const en = await zeta(['agent', 'enroll', '--server', server, '--device', d.id, '--token', d.enrollmentToken, '--out', out, '--json']);
    assert.equal(en.code, 0, en.stderr + en.stdout);
    for (const f of ['key.pem', 'cert.pem', 'ca.pem']) assert.ok(existsSync(join(out, f)), f);
    assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
    const v = await execFileP('openssl', ['verify', '-CAfile', join(out, 'ca.pem'), '-untrusted', join(out, 'cert.pem'), join(out, 'cert.pem')]);
    assert.match(v.stdout, /OK/);
    const show = JSON.parse((await zeta(['device', 'show', '--data', s.dataDir, d.id, '--json'])).stdout) as { state: string; certificate: { serial: string } };
    assert.equal(show.state, 'active');

    // renew: not due yet, then forced, over mTLS with the current certificate
    const notDue = JSON.parse((await zeta(['agent', 'renew', '--server', server, '--dir', out, '--json'])).stdout) as { renewed: boolean };
    assert.equal(notDue.renewed, false);
    const before = new X509Certificate(readFileSync(join(out, 'cert.pem')));
    const rn = await zeta(['agent', 'renew', '--server', server, '--dir', out, '--force', '--json']);
    assert.equal(rn.code, 0, rn.stderr + rn.stdout);
    const afterCert = new X509Certificate(readFileSync(join(out, 'cert.pem')));
    assert.notEqual(afterCert.serialNumber, before.serialNumber);
    assert.ok(!afterCert.publicKey.equals(before.publicKey), 'renewal rotates the key by default');
  });

  it('refuses to send the token to a server whose CA does not match the pin', async () => {
    const add = JSON.parse((await zeta(['device', 'add', '--data', s.dataDir, '--name', 'x', '--type', 'sensor', '--json'])).stdout) as { id: string; enrollmentToken: string };
    const forged = add.enrollmentToken.replace(/\.[0-9a-f]{64}$/, '.' + 'ab'.repeat(32));
    const r = await zeta(['agent', 'enroll', '--server', s.h.apiUrl, '--device', add.id, '--token', forged, '--out', join(work.path, 'x'), '--json']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /does not match the pin/);
    assert.ok(!existsSync(join(work.path, 'x', 'key.pem')));
    // the real token was never presented: it still works
    const ok = await zeta(['agent', 'enroll', '--server', s.h.apiUrl, '--device', add.id, '--token', add.enrollmentToken, '--out', join(work.path, 'x'), '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  it('a revoke made with --data reaches the running server within a second', async () => {
    const d = await s.cp.inventory.add({ name: 'feed', type: 'camera' }, 'test');
    const t0 = Date.now();
    const r = await zeta(['device', 'revoke', '--data', s.dataDir, d.device.id, '--reason', 'keyCompromise', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const cliDone = Date.now();
    let seenAt = 0;
    while (Date.now() - cliDone < 3000) {
      if (s.h.recentChanges.some((c) => c.subject === d.device.id && c.kind === 'device.state' && c.data.to === 'revoked')) { seenAt = Date.now(); break; }
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.ok(seenAt > 0, 'server never saw the revoke');
    assert.ok(seenAt - cliDone < 1000, `server saw it ${seenAt - cliDone} ms after the CLI finished`);
    void t0;
  });

  it('--server mode with an API token does the same through the API; roles hold', async () => {
    const base = ['--server', s.h.apiUrl.replace('127.0.0.1', 'localhost'), '--ca-file', s.caBundlePath, '--json'];
    const add = await zeta(['device', 'add', ...base, '--name', 'remote', '--type', 'sensor'], { ZETA_TOKEN: s.adminToken });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const id = (JSON.parse(add.stdout) as { id: string }).id;
    const audTok = JSON.parse((await zeta(['token', 'create', '--data', s.dataDir, '--name', 'aud', '--role', 'auditor', '--json'])).stdout) as { token: string };
    const list = await zeta(['device', 'list', ...base], { ZETA_TOKEN: audTok.token });
    assert.equal(list.code, 0);
    assert.ok((JSON.parse(list.stdout) as { devices: { id: string }[] }).devices.some((x) => x.id === id));
    const denied = await zeta(['device', 'suspend', ...base, id], { ZETA_TOKEN: audTok.token });
    assert.equal(denied.code, 2);
    assert.equal(JSON.parse(denied.stdout).error.code, 'ZETA_ERR_FORBIDDEN');
    const noTok = await zeta(['device', 'list', ...base]);
    assert.equal(JSON.parse(noTok.stdout).error.code, 'ZETA_ERR_UNAUTHENTICATED');
  });

  it('bulk import from CSV with a progress bar, tokens to a 0600 file; bad files import nothing', async () => {
    const csv = ['id,name,type,segment,site,tags', ...Array.from({ length: 10_000 }, (_, i) => `imp-${i},"sensor, no. ${i}",sensor,floor-${i % 10},hq,a;b`)].join('\n');
    writeFileSync(join(work.path, 'fleet.csv'), csv);
    const tokensOut = join(work.path, 'tokens.jsonl');
    const t0 = Date.now();
    const r = await zeta(['device', 'import', '--data', s.dataDir, join(work.path, 'fleet.csv'), '--tokens-out', tokensOut]);
    const secs = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /importing: 100% \(10000\/10000\)/);
    assert.match(r.stdout, /imported 10000 devices/);
    assert.ok(secs < 30, `10,000 devices took ${secs}s`);
    assert.equal(statSync(tokensOut).mode & 0o777, 0o600);
    assert.equal(readFileSync(tokensOut, 'utf8').trim().split('\n').length, 10_000);
    const d = await s.cp.inventory.get('imp-42');
    assert.equal(d.name, 'sensor, no. 42');
    assert.deepEqual(d.tags, ['a', 'b']);
    writeFileSync(join(work.path, 'bad.csv'), 'id,name,type,colour\nz-1,a,sensor,red\n');
    const bad = await zeta(['device', 'import', '--data', s.dataDir, join(work.path, 'bad.csv'), '--tokens-out', join(work.path, 't2.jsonl'), '--json']);
    assert.equal(bad.code, 2);
    assert.match(JSON.parse(bad.stdout).error.message, /colour/);
    assert.ok(!existsSync(join(work.path, 't2.jsonl')));
  });

  it('audit verify passes, then names the entry that was changed or deleted', async () => {
    const ok = await zeta(['audit', 'verify', '--data', s.dataDir, '--json']);
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(JSON.parse(ok.stdout).ok, true);
    const exp = await zeta(['audit', 'export', '--data', s.dataDir, '--format', 'jsonl']);
    const lines = exp.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; action: string });
    assert.ok(lines.length > 5);
    assert.ok(lines.some((l) => l.action === 'est.enroll'));
    const db = new Database(join(s.dataDir, 'zeta.db'));
    db.prepare("update audit_log set actor = 'mallory' where seq = 3").run();
    db.close();
    const bad = await zeta(['audit', 'verify', '--data', s.dataDir, '--json']);
    assert.equal(bad.code, 3);
    const rep = JSON.parse(bad.stdout) as { ok: boolean; problems: { seq: number; kind: string }[] };
    assert.equal(rep.ok, false);
    assert.ok(rep.problems.some((p) => p.seq === 3 && p.kind === 'changed'), JSON.stringify(rep.problems));
    const human = await zeta(['audit', 'verify', '--data', s.dataDir]);
    assert.match(human.stdout, /TAMPERED/);
  });
});
