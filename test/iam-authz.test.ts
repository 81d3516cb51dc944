/**
 * The operator model beyond the role matrix: site/segment scope decided on the device itself,
 * scoped lists, personal tokens (scopes within the owner's rights, mandatory bounded expiry,
 * revocation, the owner's disablement), the `ingest` scope, and separation of duties (a policy
 * apply or CA rotation waits for a different operator's approval; self-approval is refused).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../src/common/clock.js';
import { defaultPolicyText } from '../src/policy/index.js';
import { startTestServer, zeta, type TestServer } from './helpers.js';
import { createOperator, https, loginWithTotp, type HttpResult } from './iam-helpers.js';

describe('operator authorization model', () => {
  let s: TestServer;
  let ca: Buffer;
  const clock = new ManualClock(Date.now());
  const call = (method: string, path: string, o: Parameters<typeof https>[4] = {}): Promise<HttpResult> => https(s.h.apiUrl, ca, method, path, o);
  let hq = '';
  let branch = '';

  before(async () => {
    s = await startTestServer({ iamApprovalActions: 'policyApply,caRotate', iamTokenMaxDays: 30 }, clock);
    ca = readFileSync(s.caBundlePath);
    hq = (await s.cp.inventory.add({ name: 'hq cam', type: 'camera', site: 'hq' }, 'test')).device.id;
    branch = (await s.cp.inventory.add({ name: 'branch cam', type: 'camera', site: 'branch' }, 'test')).device.id;
  });
  after(async () => { await s?.close(); });

  it('a device operator scoped to a site acts there, gets 403 elsewhere, and lists only their site', async () => {
    const op = await createOperator(s.dataDir, { username: 'scoped', role: 'devops', password: 'scoped-long-password', scope: { sites: ['hq'] } });
    assert.ok(op.id.startsWith('op-'));
    const t = await s.cp.tokens.create({ name: 'scoped', role: 'devops', operatorId: op.id, expiresInDays: 1 }, 'test');
    const token = t.token;
    assert.equal((await call('POST', `/api/v1/devices/${hq}/quarantine`, { token, body: {} })).status, 200);
    const other = await call('POST', `/api/v1/devices/${branch}/quarantine`, { token, body: {} });
    assert.equal(other.status, 403);
    assert.equal(other.json().code, 'ZETA_ERR_FORBIDDEN');
    assert.equal((await s.cp.inventory.get(branch)).state, 'registered');
    assert.equal((await call('GET', `/api/v1/devices/${branch}`, { token })).status, 403);
    const list = (await call('GET', '/api/v1/devices', { token })).json<{ devices: { id: string }[]; total: number }>();
    assert.deepEqual(list.devices.map((d) => d.id), [hq]);
    assert.equal(list.total, 1);
    // Live lists (the change feed, alerts, gateway sessions/events) hold only in-scope devices too.
    const all = (await call('GET', '/api/v1/changes', { token: s.adminToken })).json<{ changes: { subject: string }[] }>().changes;
    assert.ok(all.some((c) => c.subject === branch), 'the admin sees the branch device change');
    const mine = (await call('GET', '/api/v1/changes', { token })).json<{ changes: { subject: string }[] }>().changes;
    assert.ok(mine.length > 0 && mine.every((c) => c.subject === hq), JSON.stringify(mine));
    // Creating or moving a device out of scope is refused too.
    assert.equal((await call('POST', '/api/v1/devices', { token, body: { name: 'x', type: 'camera', site: 'branch' } })).status, 403);
    assert.equal((await call('POST', '/api/v1/devices', { token, body: { name: 'y', type: 'camera', site: 'hq' } })).status, 201);
    assert.equal((await call('PATCH', `/api/v1/devices/${hq}`, { token, body: { site: 'branch' } })).status, 403);
    // Fleet-wide writes are not for scoped operators, even of a role that has them.
    assert.equal((await call('POST', '/api/v1/devices/import', { token, body: [{ name: 'z', type: 'sensor', site: 'hq' }] })).status, 403);
    const denied = await s.cp.audit.list({ action: 'api.refused', actor: `operator:scoped/token:${t.info.id}`, limit: 50 });
    assert.ok(denied.some((e) => JSON.stringify(e.details).includes('scope-sites')), 'the refusal names the determining policy');
  });

  it('personal tokens: scopes within the owner\'s rights, bounded expiry, revocable, die with the owner', async () => {
    const op = await createOperator(s, { username: 'tess', role: 'auditor', password: 'tess-long-password', totp: true });
    clock.set(Date.now()); // loginWithTotp computes codes from the real time
    const { cookie, csrfToken: csrf } = await loginWithTotp(s.h.apiUrl, ca, { username: 'tess', password: op.password, totpSecret: op.totpSecret! });
    const beyond = await call('POST', '/api/v1/me/tokens', { cookie, csrf, body: { name: 'x', scopes: ['manageDevice'], expiresInDays: 7 } });
    assert.equal(beyond.status, 403, beyond.body);
    const tooLong = await call('POST', '/api/v1/me/tokens', { cookie, csrf, body: { name: 'x', scopes: ['viewFleet'], expiresInDays: 31 } });
    assert.equal(tooLong.status, 400);
    const noExpiry = await call('POST', '/api/v1/me/tokens', { cookie, csrf, body: { name: 'x', scopes: ['viewFleet'] } });
    assert.equal(noExpiry.status, 400);
    const made = await call('POST', '/api/v1/me/tokens', { cookie, csrf, body: { name: 'laptop', scopes: ['viewFleet'], expiresInDays: 7 } });
    assert.equal(made.status, 201, made.body);
    const tok = made.json<{ id: string; token: string; expiresAt: string }>();
    assert.equal((await call('GET', '/api/v1/devices', { token: tok.token })).status, 200);
    // The auditor may read the audit log, but this token is scoped to viewFleet only.
    const scoped = await call('GET', '/api/v1/audit', { token: tok.token });
    assert.equal(scoped.status, 403);
    assert.match(String(scoped.json().detail), /not scoped for readAudit/);
    assert.ok((await s.cp.audit.list({ action: 'token.create', actor: 'operator:tess', limit: 5 })).length === 1);
    // Expiry: past it the token is refused.
    clock.advance(8 * 86400_000);
    assert.equal((await call('GET', '/api/v1/devices', { token: tok.token })).status, 401);
    clock.advance(-8 * 86400_000);
    // Revocation, and the owner's disablement, end it at once.
    const t2 = await s.cp.tokens.create({ name: 'cli', role: 'auditor', operatorId: op.id, scopes: ['viewFleet'], expiresInDays: 3 }, 'test');
    assert.equal((await call('GET', '/api/v1/devices', { token: t2.token })).status, 200);
    const off = await zeta(['operator', 'disable', 'tess', '--data', s.dataDir, '--json']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((await call('GET', '/api/v1/devices', { token: t2.token })).status, 401);
    assert.equal((await call('GET', '/api/v1/auth/me', { cookie })).status, 401);
  });

  it('the CLI creates a personal token with scopes and expiry; a role token may carry the ingest scope', async () => {
    await createOperator(s.dataDir, { username: 'sam', role: 'secops', password: 'sam-long-password' });
    const r = await zeta(['token', 'create', '--data', s.dataDir, '--name', 'sensor', '--operator', 'sam', '--scope', 'ingest', '--expires-in-days', '30', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as { scopes: string[]; expiresAt: string; token: string };
    assert.deepEqual(t.scopes, ['ingest']);
    // An ingest-only token reads nothing.
    assert.equal((await call('GET', '/api/v1/devices', { token: t.token })).status, 403);
    const tooLong = await zeta(['token', 'create', '--data', s.dataDir, '--name', 'sensor', '--operator', 'sam', '--scope', 'ingest', '--expires-in-days', '91']);
    assert.notEqual(tooLong.code, 0);
    assert.match(tooLong.stderr, /at most 90/);
    const auditorIngest = await zeta(['token', 'create', '--data', s.dataDir, '--name', 'bad', '--role', 'auditor', '--scope', 'ingest']);
    assert.notEqual(auditorIngest.code, 0);
    assert.match(auditorIngest.stderr, /does not grant: ingest/);
  });

  it('separation of duties: a policy apply waits for a different operator; self-approval is refused', async () => {
    const a = await createOperator(s, { username: 'sec-a', role: 'secops', password: 'sec-a-long-password', totp: true });
    const b = await createOperator(s, { username: 'sec-b', role: 'secops', password: 'sec-b-long-password', totp: true });
    clock.set(Date.now()); // loginWithTotp computes codes from the real time
    const sa = await loginWithTotp(s.h.apiUrl, ca, { username: 'sec-a', password: a.password, totpSecret: a.totpSecret! });
    const sb = await loginWithTotp(s.h.apiUrl, ca, { username: 'sec-b', password: b.password, totpSecret: b.totpSecret! });
    const before = (await s.cp.policies.active())!.version;
    const text = defaultPolicyText() + '\n// reviewed change\n';
    const bad = await call('POST', '/api/v1/policies', { cookie: sa.cookie, csrf: sa.csrfToken, body: 'permit(principal, action, resource) when { nonsense };' });
    assert.equal(bad.status, 400, 'an invalid set is refused before it is queued');
    const req = await call('POST', '/api/v1/policies', { cookie: sa.cookie, csrf: sa.csrfToken, body: text });
    assert.equal(req.status, 202, req.body);
    const ap = req.json<{ approval: { id: string; state: string; requestedBy: string; action: string } }>().approval;
    assert.equal(ap.state, 'pending');
    assert.equal(ap.action, 'policyApply');
    assert.equal(ap.requestedBy, 'operator:sec-a');
    assert.equal((await s.cp.policies.active())!.version, before, 'nothing applied yet');
    const self = await call('POST', `/api/v1/approvals/${ap.id}/approve`, { cookie: sa.cookie, csrf: sa.csrfToken, body: {} });
    assert.equal(self.status, 403);
    assert.equal(self.json().code, 'ZETA_ERR_SELF_APPROVAL');
    const pending = await call('GET', '/api/v1/approvals?state=pending', { cookie: sb.cookie });
    assert.ok(pending.json<{ approvals: { id: string }[] }>().approvals.some((x) => x.id === ap.id));
    const ok = await call('POST', `/api/v1/approvals/${ap.id}/approve`, { cookie: sb.cookie, csrf: sb.csrfToken, body: {} });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json().state, 'approved');
    assert.equal((await s.cp.policies.active())!.version, before + 1);
    const twice = await call('POST', `/api/v1/approvals/${ap.id}/reject`, { cookie: sb.cookie, csrf: sb.csrfToken, body: {} });
    assert.equal(twice.status, 409);
    // A CA rotation asked for and rejected is not carried out.
    const issuing = s.cp.authority.verifyingIssuers.length;
    const rot = await call('POST', '/api/v1/ca/rotate', { cookie: sb.cookie, csrf: sb.csrfToken, body: {} });
    assert.equal(rot.status, 202, rot.body);
    const rid = rot.json<{ approval: { id: string } }>().approval.id;
    const cli = await zeta(['approval', 'reject', rid, '--server', s.h.apiUrl.replace('127.0.0.1', 'localhost'), '--ca-file', s.caBundlePath, '--token', s.adminToken, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).state, 'rejected');
    await s.cp.authority.load();
    assert.equal(s.cp.authority.verifyingIssuers.length, issuing);
    const audit = await s.cp.audit.list({ action: 'approval.approve', limit: 10 });
    assert.ok(audit.some((e) => e.outcome === 'refused' && e.actor === 'operator:sec-a'));
    assert.ok(audit.some((e) => e.outcome === 'ok' && e.actor === 'operator:sec-b'));
  });
});
