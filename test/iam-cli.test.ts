/**
 * `zeta operator ...` and `zeta approval list` on a data directory and against a running server,
 * all with --json; bad input is refused with a clear error and leaves nothing behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, zeta, type TestServer } from './helpers.js';

describe('zeta operator CLI', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s?.close(); });
  const data = (...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> => zeta([...a, '--data', s.dataDir, '--json']);
  const remote = (...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    zeta([...a, '--server', s.h.apiUrl.replace('127.0.0.1', 'localhost'), '--ca-file', s.caBundlePath, '--token', s.adminToken, '--json']);

  it('adds, lists, rescopes, disables, re-enables, resets MFA and unlocks', async () => {
    const add = await zeta(['operator', 'add', 'olga', '--role', 'devops', '--site', 'hq,branch', '--data', s.dataDir, '--json']);
    assert.equal(add.code, 0, add.stderr);
    const o = JSON.parse(add.stdout) as { id: string; password: string; scope: { sites: string[] } };
    assert.deepEqual(o.scope.sites, ['branch', 'hq']);
    assert.ok(o.password.length >= 20, 'a generated password is printed once');
    const list = JSON.parse((await data('operator', 'list')).stdout) as { operators: { username: string }[] };
    assert.ok(list.operators.some((x) => x.username === 'olga'));
    const role = JSON.parse((await data('operator', 'set-role', 'olga', 'secops', '--unscoped')).stdout) as { role: string; scope: { sites: string[] } };
    assert.equal(role.role, 'secops');
    assert.deepEqual(role.scope.sites, []);
    assert.equal(JSON.parse((await data('operator', 'disable', 'olga')).stdout).disabled, true);
    assert.equal(JSON.parse((await remote('operator', 'disable', 'olga', '--enable')).stdout).disabled, false);
    assert.equal(JSON.parse((await remote('operator', 'reset-mfa', o.id)).stdout).mfa.totp, false);
    assert.equal(JSON.parse((await remote('operator', 'unlock', 'olga')).stdout).username, 'olga');
    const overApi = await remote('operator', 'add', 'pavel', '--role', 'auditor');
    assert.equal(overApi.code, 0, overApi.stderr);
    assert.ok((JSON.parse((await remote('operator', 'list')).stdout) as { operators: { username: string }[] }).operators.some((x) => x.username === 'pavel'));
    const actions = (await s.cp.audit.list({ subject: 'olga', limit: 50 })).map((e) => e.action);
    for (const a of ['operator.create', 'operator.set-role', 'operator.disable', 'operator.enable', 'operator.mfa-reset', 'operator.unlock']) assert.ok(actions.includes(a), a);
    assert.equal((await remote('approval', 'list')).code, 0);
  });

  it('refuses bad input with a clear error and creates nothing', async () => {
    const before = (await s.cp.iam.operators.list()).length;
    const badRole = await zeta(['operator', 'add', 'quinn', '--role', 'operator', '--data', s.dataDir]);
    assert.notEqual(badRole.code, 0);
    assert.match(badRole.stderr, /Allowed choices are admin, secops, devops, auditor/);
    const weak = await zeta(['operator', 'add', 'quinn', '--role', 'auditor', '--password-stdin', '--data', s.dataDir], {}, 'short\n');
    assert.notEqual(weak.code, 0);
    assert.match(weak.stderr, /at least 12 characters/);
    const badName = await zeta(['operator', 'add', 'Quinn Smith!', '--role', 'auditor', '--data', s.dataDir]);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /username/);
    const dup = await zeta(['operator', 'add', 'olga', '--role', 'auditor', '--data', s.dataDir]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already exists/);
    assert.equal((await s.cp.iam.operators.list()).length, before);
    const unknown = await data('operator', 'set-role', 'nobody', 'auditor');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stdout + unknown.stderr, /no operator nobody/);
  });
});
