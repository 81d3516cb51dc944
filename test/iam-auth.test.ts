/**
 * Operator login end to end over HTTPS: password → TOTP enrolment → session; MFA login; session
 * fixation; CSRF; step-up; TOTP replay; recovery codes; lockout and the per-address rate limit;
 * idle timeout and logout. The server's clock is a ManualClock (TOTP codes follow it), so time
 * moves only when the test says so.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../src/common/clock.js';
import { startTestServer, zeta, type TestServer } from './helpers.js';
import { createOperator, https, cookieFrom, totpNow, type HttpResult } from './iam-helpers.js';

describe('operator authentication', () => {
  let s: TestServer;
  let ca: Buffer;
  const clock = new ManualClock(Date.now());
  const call = (method: string, path: string, o: Parameters<typeof https>[4] = {}): Promise<HttpResult> => https(s.h.apiUrl, ca, method, path, o);
  // Each code is single use: step the clock one period before every code the test sends.
  const code = async (secret: string): Promise<string> => { clock.advance(30_000); return totpNow(secret, clock.now()); };

  before(async () => {
    s = await startTestServer({ iamLockoutThreshold: 3, iamLockoutMinutes: 10 }, clock);
    ca = readFileSync(s.caBundlePath);
  });
  after(async () => { await s?.close(); });

  async function loginTotp(username: string, password: string, secret: string): Promise<{ cookie: string; csrf: string; res: HttpResult }> {
    const l = await call('POST', '/api/v1/auth/login', { body: { username, password } });
    assert.equal(l.status, 200, l.body);
    const res = await call('POST', '/api/v1/auth/totp', { body: { code: await code(secret) }, cookie: cookieFrom(l, '__Host-zeta_pre')! });
    assert.equal(res.status, 200, res.body);
    return { cookie: cookieFrom(res, '__Host-zeta_session')!, csrf: res.json<{ csrfToken: string }>().csrfToken, res };
  }

  it('first login enrols TOTP, returns 10 recovery codes once, and opens a session with secure cookies', async () => {
    await createOperator(s, { username: 'alice', role: 'devops', password: 'alice-long-password' });
    const l = await call('POST', '/api/v1/auth/login', { body: { username: 'Alice', password: 'alice-long-password' } });
    assert.equal(l.status, 200, l.body);
    assert.deepEqual(l.json(), { stage: 'enroll-mfa' });
    const setCookie = String(l.headers['set-cookie']);
    assert.match(setCookie, /__Host-zeta_pre=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=300/);
    const pre = cookieFrom(l, '__Host-zeta_pre')!;
    // The pre-authentication cookie is not a session.
    assert.equal((await call('GET', '/api/v1/auth/me', { cookie: pre.replace('__Host-zeta_pre', '__Host-zeta_session') })).status, 401);
    const setup = await call('POST', '/api/v1/auth/totp/setup', { cookie: pre, body: {} });
    assert.equal(setup.status, 200, setup.body);
    const { secret, otpauthUrl } = setup.json<{ secret: string; otpauthUrl: string }>();
    assert.match(otpauthUrl, /^otpauth:\/\/totp\/.*secret=/);
    const wrong = await call('POST', '/api/v1/auth/totp', { cookie: pre, body: { code: '000000' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().code, 'ZETA_ERR_MFA_FAILED');
    const ok = await call('POST', '/api/v1/auth/totp', { cookie: pre, body: { code: await code(secret) } });
    assert.equal(ok.status, 200, ok.body);
    const body = ok.json<{ operator: { username: string; role: string; scope: unknown }; csrfToken: string; recoveryCodes: string[] }>();
    assert.equal(body.operator.username, 'alice');
    assert.equal(body.operator.role, 'devops');
    assert.equal(body.recoveryCodes.length, 10);
    assert.equal(new Set(body.recoveryCodes).size, 10);
    assert.match(String(ok.headers['set-cookie']), /__Host-zeta_session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict/);
    const cookie = cookieFrom(ok, '__Host-zeta_session')!;
    const me = await call('GET', '/api/v1/auth/me', { cookie });
    assert.equal(me.status, 200, me.body);
    const m = me.json<{ operator: { username: string }; csrfToken: string; mfa: { totp: boolean; passkeys: number }; stepUpUntil: string | null }>();
    assert.equal(m.operator.username, 'alice');
    assert.equal(m.csrfToken, body.csrfToken);
    assert.deepEqual(m.mfa, { totp: true, passkeys: 0 });
    // The secret is sealed at rest: the database never holds it in clear.
    const row = await s.cp.store.db.selectFrom('operators').select(['totp_secret']).where('username', '=', 'alice').executeTakeFirstOrThrow();
    assert.ok(row.totp_secret !== null && !row.totp_secret.includes(secret));
    const audit = await s.cp.audit.list({ subject: 'alice', limit: 100 });
    assert.ok(audit.some((e) => e.action === 'operator.mfa-enrol'));
    assert.ok(audit.some((e) => e.action === 'auth.login' && e.outcome === 'ok'));
  });

  it('unknown users and wrong passwords get the same 401, and both are audited', async () => {
    const a = await call('POST', '/api/v1/auth/login', { body: { username: 'nobody', password: 'whatever-password' } });
    const b = await call('POST', '/api/v1/auth/login', { body: { username: 'alice', password: 'not-her-password' } });
    for (const r of [a, b]) {
      assert.equal(r.status, 401);
      assert.equal(r.json().code, 'ZETA_ERR_LOGIN_FAILED');
      assert.equal(r.json().detail, 'user name or password not accepted');
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const refused = await s.cp.audit.list({ action: 'auth.login', limit: 100 });
    assert.ok(refused.some((e) => e.subject === 'nobody' && e.outcome === 'refused'));
    assert.ok(refused.some((e) => e.subject === 'alice' && e.outcome === 'refused'));
    const bad = await call('POST', '/api/v1/auth/login', { body: { username: 'alice' } });
    assert.equal(bad.status, 400);
  });

  it('never adopts a session id the client brings (fixation), and issues a new one at every login', async () => {
    const bob = await createOperator(s, { username: 'bob', role: 'secops', password: 'bob-long-password', totp: true });
    const planted = '__Host-zeta_session=' + 'A'.repeat(43);
    const l = await call('POST', '/api/v1/auth/login', { body: { username: 'bob', password: bob.password }, cookie: planted });
    const t = await call('POST', '/api/v1/auth/totp', { body: { code: await code(bob.totpSecret!) }, cookie: `${planted}; ${cookieFrom(l, '__Host-zeta_pre')!}` });
    assert.equal(t.status, 200, t.body);
    const first = cookieFrom(t, '__Host-zeta_session')!;
    assert.notEqual(first, planted);
    assert.equal((await call('GET', '/api/v1/auth/me', { cookie: planted })).status, 401);
    const second = await loginTotp('bob', bob.password, bob.totpSecret!);
    assert.notEqual(second.cookie, first);
    assert.notEqual(second.csrf, t.json<{ csrfToken: string }>().csrfToken);
  });

  it('refuses a replayed TOTP code', async () => {
    const carol = await createOperator(s, { username: 'carol', role: 'auditor', password: 'carol-long-password', totp: true });
    const c = await code(carol.totpSecret!);
    const l1 = await call('POST', '/api/v1/auth/login', { body: { username: 'carol', password: carol.password } });
    assert.equal((await call('POST', '/api/v1/auth/totp', { body: { code: c }, cookie: cookieFrom(l1, '__Host-zeta_pre')! })).status, 200);
    const l2 = await call('POST', '/api/v1/auth/login', { body: { username: 'carol', password: carol.password } });
    const replay = await call('POST', '/api/v1/auth/totp', { body: { code: c }, cookie: cookieFrom(l2, '__Host-zeta_pre')! });
    assert.equal(replay.status, 401);
    assert.equal(replay.json().code, 'ZETA_ERR_MFA_FAILED');
    await s.cp.iam.operators.unlock('carol', 'test');
  });

  it('accepts a recovery code exactly once', async () => {
    const dave = await createOperator(s, { username: 'dave', role: 'auditor', password: 'dave-long-password', totp: true });
    const rc = dave.recoveryCodes![0]!;
    const l1 = await call('POST', '/api/v1/auth/login', { body: { username: 'dave', password: dave.password } });
    assert.deepEqual(l1.json(), { stage: 'mfa', methods: ['totp', 'recovery'] });
    const ok = await call('POST', '/api/v1/auth/recovery', { body: { code: rc.toUpperCase() }, cookie: cookieFrom(l1, '__Host-zeta_pre')! });
    assert.equal(ok.status, 200, ok.body);
    const l2 = await call('POST', '/api/v1/auth/login', { body: { username: 'dave', password: dave.password } });
    const again = await call('POST', '/api/v1/auth/recovery', { body: { code: rc }, cookie: cookieFrom(l2, '__Host-zeta_pre')! });
    assert.equal(again.status, 401);
    // Without a password step there is nothing to complete.
    assert.equal((await call('POST', '/api/v1/auth/recovery', { body: { code: dave.recoveryCodes![1]! } })).json().code, 'ZETA_ERR_PRE_AUTH_REQUIRED');
    await s.cp.iam.operators.unlock('dave', 'test');
  });

  it('CSRF: a cookie request that changes state needs the session token; Bearer requests do not', async () => {
    const erin = await createOperator(s, { username: 'erin', role: 'secops', password: 'erin-long-password', totp: true });
    const { cookie, csrf } = await loginTotp('erin', erin.password, erin.totpSecret!);
    const device = { name: 'csrf cam', type: 'camera' };
    const none = await call('POST', '/api/v1/devices', { cookie, body: device });
    assert.equal(none.status, 403);
    assert.equal(none.json().code, 'ZETA_ERR_CSRF');
    const wrong = await call('POST', '/api/v1/devices', { cookie, csrf: 'x'.repeat(43), body: device });
    assert.equal(wrong.json().code, 'ZETA_ERR_CSRF');
    assert.equal((await s.cp.inventory.list({ q: 'csrf cam' })).total, 0);
    const right = await call('POST', '/api/v1/devices', { cookie, csrf, body: device });
    assert.equal(right.status, 201, right.body);
    // Reads need no CSRF header; Bearer writes need none.
    assert.equal((await call('GET', '/api/v1/devices', { cookie })).status, 200);
    assert.equal((await call('POST', '/api/v1/devices', { token: s.adminToken, body: { name: 'bearer cam', type: 'camera' } })).status, 201);
  });

  it('step-up: destructive routes need a fresh second factor within 5 minutes', async () => {
    const frank = await createOperator(s, { username: 'frank', role: 'devops', password: 'frank-long-password', totp: true });
    const d = await s.cp.inventory.add({ name: 'stepup cam', type: 'camera' }, 'test');
    const { cookie, csrf } = await loginTotp('frank', frank.password, frank.totpSecret!);
    // The login itself was a fresh second factor: quarantine works at once.
    assert.equal((await call('POST', `/api/v1/devices/${d.device.id}/quarantine`, { cookie, csrf, body: {} })).status, 200);
    clock.advance(6 * 60_000);
    const refused = await call('POST', `/api/v1/devices/${d.device.id}/resume`, { cookie, csrf, body: {} });
    assert.equal(refused.status, 200, 'resume is not destructive');
    const need = await call('POST', `/api/v1/devices/${d.device.id}/suspend`, { cookie, csrf, body: {} });
    assert.equal(need.status, 403);
    assert.equal(need.json().code, 'ZETA_ERR_STEP_UP_REQUIRED');
    assert.equal((await s.cp.inventory.get(d.device.id)).state, 'registered');
    assert.equal((await call('GET', '/api/v1/auth/me', { cookie })).json().stepUpUntil, null);
    const bad = await call('POST', '/api/v1/auth/step-up', { cookie, csrf, body: { code: '123456' } });
    assert.equal(bad.status, 401);
    const up = await call('POST', '/api/v1/auth/step-up', { cookie, csrf, body: { code: await code(frank.totpSecret!) } });
    assert.equal(up.status, 200, up.body);
    assert.ok(Date.parse(up.json<{ stepUpUntil: string }>().stepUpUntil) > clock.now().getTime());
    assert.equal((await call('POST', `/api/v1/devices/${d.device.id}/suspend`, { cookie, csrf, body: {} })).status, 200);
    // Bearer tokens are not cookie sessions: no step-up.
    const d2 = await s.cp.inventory.add({ name: 'stepup cam 2', type: 'camera' }, 'test');
    assert.equal((await call('POST', `/api/v1/devices/${d2.device.id}/suspend`, { token: s.adminToken, body: {} })).status, 200);
  });

  it('sessions end after the idle timeout and at logout', async () => {
    const gina = await createOperator(s, { username: 'gina', role: 'auditor', password: 'gina-long-password', totp: true });
    const a = await loginTotp('gina', gina.password, gina.totpSecret!);
    assert.equal((await call('GET', '/api/v1/devices', { cookie: a.cookie })).status, 200);
    clock.advance(31 * 60_000);
    assert.equal((await call('GET', '/api/v1/devices', { cookie: a.cookie })).status, 401);
    const b = await loginTotp('gina', gina.password, gina.totpSecret!);
    assert.equal((await call('POST', '/api/v1/auth/logout', { cookie: b.cookie })).json().code, 'ZETA_ERR_CSRF');
    const out = await call('POST', '/api/v1/auth/logout', { cookie: b.cookie, csrf: b.csrf });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /__Host-zeta_session=; .*Max-Age=0/);
    assert.equal((await call('GET', '/api/v1/auth/me', { cookie: b.cookie })).status, 401);
  });

  it('locks a user name after repeated failures, the same for unknown names; audited; unlock clears it', async () => {
    await createOperator(s, { username: 'hank', role: 'auditor', password: 'hank-long-password', totp: true });
    for (const name of ['hank', 'ghost']) {
      for (let i = 0; i < 3; i++) assert.equal((await call('POST', '/api/v1/auth/login', { body: { username: name, password: 'wrong-password' } })).status, 401);
      const locked = await call('POST', '/api/v1/auth/login', { body: { username: name, password: name === 'hank' ? 'hank-long-password' : 'x' } });
      assert.equal(locked.status, 429, locked.body);
      assert.equal(locked.json().code, 'ZETA_ERR_LOCKED');
      assert.ok(Number(locked.headers['retry-after']) > 0);
    }
    const lockouts = await s.cp.audit.list({ action: 'auth.lockout', limit: 10 });
    assert.deepEqual(lockouts.map((e) => e.subject).sort(), ['ghost', 'hank']);
    const r = await zeta(['operator', 'unlock', 'hank', '--data', s.dataDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await call('POST', '/api/v1/auth/login', { body: { username: 'hank', password: 'hank-long-password' } })).status, 200);
    // The lockout ends by itself after iamLockoutMinutes.
    clock.advance(11 * 60_000);
    assert.notEqual((await call('POST', '/api/v1/auth/login', { body: { username: 'ghost', password: 'x' } })).status, 429);
  });
});

describe('login rate limit per address', () => {
  let s: TestServer;
  after(async () => { await s?.close(); });
  it('answers 429 with Retry-After once an address exceeds its logins per minute, whatever the name', async () => {
    s = await startTestServer({ iamLoginRatePerMinute: 3 });
    const ca = readFileSync(s.caBundlePath);
    const statuses: number[] = [];
    for (const name of ['a1', 'a2', 'a3', 'a4', 'a5']) {
      const r = await https(s.h.apiUrl, ca, 'POST', '/api/v1/auth/login', { body: { username: name, password: 'wrong-password' } });
      statuses.push(r.status);
      if (r.status === 429) {
        assert.equal(r.json().code, 'ZETA_ERR_RATE_LIMITED');
        assert.ok(Number(r.headers['retry-after']) > 0);
      }
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
  });
});

describe('session absolute timeout', () => {
  let s: TestServer;
  after(async () => { await s?.close(); });
  it('ends a session at iamSessionAbsoluteHours even while it is in use', async () => {
    const clock = new ManualClock(Date.now());
    s = await startTestServer({ iamSessionAbsoluteHours: 1, iamSessionIdleMinutes: 30 }, clock);
    const ca = readFileSync(s.caBundlePath);
    const op = await createOperator(s, { username: 'ivan', role: 'auditor', password: 'ivan-long-password', totp: true });
    const l = await https(s.h.apiUrl, ca, 'POST', '/api/v1/auth/login', { body: { username: 'ivan', password: op.password } });
    const t = await https(s.h.apiUrl, ca, 'POST', '/api/v1/auth/totp', { body: { code: await totpNow(op.totpSecret!, clock.now()) }, cookie: cookieFrom(l, '__Host-zeta_pre')! });
    const cookie = cookieFrom(t, '__Host-zeta_session')!;
    assert.match(String(t.headers['set-cookie']), /Max-Age=3600/);
    for (let i = 0; i < 2; i++) {
      clock.advance(25 * 60_000);
      assert.equal((await https(s.h.apiUrl, ca, 'GET', '/api/v1/devices', { cookie })).status, 200, 'used within the idle timeout');
    }
    clock.advance(25 * 60_000);
    assert.equal((await https(s.h.apiUrl, ca, 'GET', '/api/v1/devices', { cookie })).status, 401, 'past the absolute lifetime');
  });
});
