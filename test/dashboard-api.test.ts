/**
 * The server side of the dashboard, over real HTTPS: the app shell and its security headers, the
 * SPA fallback that never swallows API paths, the page shown when the app is not built, the
 * overview, trust history (bounded), device sorting, and the live stream (events, and its end
 * when the credential ends).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { startTestServer, tempDir, PG_URL, pgSchemaName, type TestServer } from './helpers.js';
import { call, ensureWebBuilt, DIST } from './dashboard-helpers.js';
import { registerDashboard } from '../src/api/dashboard-static.js';
import { TRUST_HISTORY_PER_DEVICE } from '../src/inventory/index.js';
import { createOperator, loginWithTotp, https } from './iam-helpers.js';

describe('dashboard server side', () => {
  let s: TestServer;
  const get = (path: string, token?: string, headers?: Record<string, string>) => call(s.h.apiUrl, s.caBundlePath, 'GET', path, { ...(token === undefined ? {} : { token }), ...(headers === undefined ? {} : { headers }) });

  before(async () => {
    await ensureWebBuilt();
    s = await startTestServer({ streamHeartbeatMs: 200 });
    await s.cp.inventory.importDevices([
      { id: 'cam-1', name: 'Lobby camera', type: 'camera', segment: 'cameras', site: 'hq' },
      { id: 'cam-2', name: 'Dock camera', type: 'camera', segment: 'cameras', site: 'dock' },
      { id: 'th-1', name: 'Attic thermostat', type: 'thermostat', segment: 'hvac', site: 'hq' },
    ], 'test');
  });
  after(async () => { await s?.close(); });

  it('serves the app shell at / with strict security headers and no inline script or data', async () => {
    const r = await get('/');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['cache-control'], 'no-cache');
    // Every script is an external file from this origin; the shell carries no fleet data.
    for (const m of r.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(m[1]!, /src="\/assets\//);
      assert.equal(m[2]!.trim(), '');
    }
    assert.doesNotMatch(r.body, /cam-1|Lobby camera/);
  });

  it('answers client-side routes with the shell, hashed assets with a long cache, and keeps API paths as API 404s', async () => {
    const shell = await get('/');
    const deep = await get('/devices/cam-1?x=1');
    assert.equal(deep.status, 200);
    assert.equal(deep.body, shell.body);
    const asset = readdirSync(join(DIST, 'assets')).find((f) => f.endsWith('.js'))!;
    const a = await get(`/assets/${asset}`);
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /javascript/);
    assert.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(a.body, readFileSync(join(DIST, 'assets', asset), 'utf8'));
    // A stale tab asking for an old hash gets a 404, never HTML served as script.
    const stale = await get('/assets/index-00000000.js');
    assert.equal(stale.status, 404);
    const api = await get('/api/v1/no-such-thing');
    assert.equal(api.status, 404);
    assert.match(String(api.headers['content-type']), /application\/problem\+json/);
    assert.equal(api.json().code, 'ZETA_ERR_NOT_FOUND');
    const traversal = await get('/..%2f..%2fpackage.json');
    assert.notEqual(traversal.status, 500);
    assert.doesNotMatch(traversal.body, /"devDependencies"/);
  });

  it('without a built app, / tells the operator to run npm run build:web', async () => {
    const empty = tempDir();
    const app = Fastify();
    registerDashboard(app, { distDir: empty.path });
    try {
      const r = await app.inject({ method: 'GET', url: '/' });
      assert.equal(r.statusCode, 200);
      assert.match(r.body, /npm run build:web/);
      assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
    } finally {
      await app.close();
      empty.cleanup();
    }
  });

  it('the overview counts devices by state and segment, and refuses an unauthenticated caller', async () => {
    await s.cp.inventory.quarantine('cam-2', 'test', 'suspicious');
    await s.cp.inventory.setPosture('cam-1', { trustScore: 85 });
    const r = await get('/api/v1/overview', s.adminToken);
    assert.equal(r.status, 200, r.body);
    const o = r.json<{ devices: { total: number; byState: Record<string, number>; bySegment: Record<string, number> }; trust: { buckets: number[]; unscored: number }; enforcement: { policyVersion: number | null; changeFeed: { latestSeq: number } } }>();
    assert.equal(o.devices.total, 3);
    assert.equal(o.devices.byState.quarantined, 1);
    assert.equal(o.devices.byState.registered, 2);
    assert.equal(o.devices.bySegment.cameras, 2);
    assert.equal(o.trust.buckets[8], 1);
    assert.equal(o.trust.unscored, 2);
    assert.ok(o.enforcement.changeFeed.latestSeq > 0);
    const anon = await get('/api/v1/overview');
    assert.equal(anon.status, 401);
    assert.doesNotMatch(anon.body, /cam-/);
  });

  it('trust history records each change of score, oldest first, bounded per device', async () => {
    await s.cp.inventory.setPosture('th-1', { trustScore: 90 });
    await s.cp.inventory.setPosture('th-1', { trustScore: 90 }); // unchanged: no new point
    await s.cp.inventory.setPosture('th-1', { trustScore: 40, trustFactors: { behavior: -50 } });
    const r = await get('/api/v1/devices/th-1/trust-history', s.adminToken);
    assert.equal(r.status, 200);
    const points = r.json<{ points: { score: number; factors: Record<string, unknown> }[] }>().points;
    assert.deepEqual(points.map((p) => p.score), [90, 40]);
    assert.deepEqual(points[1]!.factors, { behavior: -50 });
    assert.equal((await get('/api/v1/devices/nope/trust-history', s.adminToken)).status, 404);
    assert.equal((await get('/api/v1/devices/th-1/trust-history?limit=0', s.adminToken)).json().code, 'ZETA_ERR_VALIDATION');
    for (let i = 0; i < TRUST_HISTORY_PER_DEVICE + 5; i++) await s.cp.inventory.setPosture('cam-1', { trustScore: i % 2 === 0 ? 10 : 20 });
    const n = await s.cp.store.db.selectFrom('trust_history').select((eb) => eb.fn.countAll<number>().as('n')).where('device_id', '=', 'cam-1').executeTakeFirst();
    assert.equal(Number(n?.n), TRUST_HISTORY_PER_DEVICE);
  });

  it('device lists sort server-side with a stable tie-break, and refuse an unknown sort key', async () => {
    const r = await get('/api/v1/devices?sort=name&order=desc', s.adminToken);
    assert.deepEqual(r.json<{ devices: { name: string }[] }>().devices.map((d) => d.name), ['Lobby camera', 'Dock camera', 'Attic thermostat']);
    const bySite = await get('/api/v1/devices?sort=site&limit=2&offset=1', s.adminToken);
    assert.deepEqual(bySite.json<{ devices: { id: string }[]; total: number }>().devices.map((d) => d.id), ['cam-1', 'th-1']);
    const bad = await get('/api/v1/devices?sort=posture', s.adminToken);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().code, 'ZETA_ERR_VALIDATION');
  });

  it('the stream sends change-feed rows as server-sent events and ends when its token is revoked', async () => {
    const t = await s.cp.tokens.create({ name: 'stream', role: 'auditor' }, 'test');
    // Without Accept: text/event-stream the route answers its position as JSON at once.
    const pos = await get('/api/v1/stream', t.token);
    assert.equal(pos.status, 200);
    assert.equal(typeof pos.json().seq, 'number');
    assert.equal((await get('/api/v1/stream', undefined, { accept: 'text/event-stream' })).status, 401);

    const url = new URL('/api/v1/stream', s.h.apiUrl.replace('127.0.0.1', 'localhost'));
    let text = '';
    let headers: Record<string, unknown> = {};
    const ended = new Promise<void>((resolve, reject) => {
      const req = request(url, { ca: readFileSync(s.caBundlePath), headers: { authorization: `Bearer ${t.token}`, accept: 'text/event-stream' } }, (res) => {
        headers = res.headers;
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    const waitFor = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 200 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(text, re);
    };
    await waitFor(/retry: 3000/);
    assert.match(String(headers['content-type']), /^text\/event-stream/);
    await s.cp.inventory.suspend('th-1', 'test', 'maintenance');
    await waitFor(/event: change\ndata: \{[^\n]*"kind":"device\.state"[^\n]*"subject":"th-1"/);
    await waitFor(/: heartbeat/);
    await s.cp.tokens.revoke(t.info.id, 'test');
    await ended;
    assert.match(text, /event: end\ndata: \{"reason":"session ended"\}/);
  });
});

describe('dashboard stream with a cookie session', () => {
  let s: TestServer;
  let closed = false;
  before(async () => { s = await startTestServer({ streamHeartbeatMs: 200 }); });
  after(async () => { if (!closed) await s?.close(); });

  it('ends with the session at logout, and sends a scoped operator no subjects', async () => {
    const ca = readFileSync(s.caBundlePath);
    const open = (cookie: string): { text: () => string; ended: Promise<void> } => {
      let text = '';
      const ended = new Promise<void>((resolve, reject) => {
        const req = request(new URL('/api/v1/stream', s.h.apiUrl.replace('127.0.0.1', 'localhost')), { ca, headers: { cookie, accept: 'text/event-stream' } }, (res) => {
          res.on('data', (d: Buffer) => { text += d.toString(); });
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
      return { text: () => text, ended };
    };
    const waitFor = async (f: () => string, re: RegExp): Promise<void> => {
      for (let i = 0; i < 200 && !re.test(f()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(f(), re);
    };
    await s.cp.inventory.importDevices([{ id: 'hq-1', name: 'HQ sensor', type: 'sensor', site: 'hq' }, { id: 'far-1', name: 'Far sensor', type: 'sensor', site: 'far' }], 'test');
    const full = await createOperator(s, { username: 'olga', role: 'secops', password: 'correct horse olga', totp: true });
    const scoped = await createOperator(s, { username: 'sid', role: 'devops', password: 'correct horse sid', totp: true, scope: { sites: ['hq'] } });
    const a = await loginWithTotp(s.h.apiUrl, ca, { username: full.username, password: full.password, totpSecret: full.totpSecret! });
    const b = await loginWithTotp(s.h.apiUrl, ca, { username: scoped.username, password: scoped.password, totpSecret: scoped.totpSecret! });
    const sa = open(a.cookie);
    const sb = open(b.cookie);
    await waitFor(sa.text, /retry: 3000/);
    await waitFor(sb.text, /retry: 3000/);
    await s.cp.inventory.suspend('far-1', 'test');
    await waitFor(sa.text, /"subject":"far-1"/);
    await waitFor(sb.text, /event: change\ndata: \{[^\n]*"kind":"device\.state"/);
    assert.doesNotMatch(sb.text(), /far-1/);
    // The scoped overview counts only the scope.
    const o = await https(s.h.apiUrl, ca, 'GET', '/api/v1/overview', { cookie: b.cookie });
    assert.equal(o.json<{ devices: { total: number } }>().devices.total, 1);
    const out = await https(s.h.apiUrl, ca, 'POST', '/api/v1/auth/logout', { cookie: a.cookie, csrf: a.csrfToken, body: {} });
    assert.equal(out.status, 204);
    await sa.ended;
    assert.match(sa.text(), /event: end/);
    await https(s.h.apiUrl, ca, 'POST', '/api/v1/auth/logout', { cookie: b.cookie, csrf: b.csrfToken, body: {} });
    await sb.ended;
    // A stream still open when the server shuts down is ended by it (close() does not wait on it).
    const again = await loginWithTotp(s.h.apiUrl, ca, { username: full.username, password: full.password, totpSecret: full.totpSecret! });
    const sc = open(again.cookie);
    await waitFor(sc.text, /retry: 3000/);
    closed = true;
    await s.close();
    await sc.ended;
    assert.doesNotMatch(sc.text(), /event: end/); // cut by the shutdown, not by the session
  });
});

describe('dashboard server side on PostgreSQL', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer({ databaseUrl: PG_URL, databaseSchema: pgSchemaName('zt_dash') }); });
  after(async () => { await s?.close(); });

  it('overview histogram, trust history bound and sorting work on PostgreSQL too', async () => {
    await s.cp.inventory.importDevices([
      { id: 'a-1', name: 'Alpha', type: 'sensor', segment: 'lab', site: 'hq' },
      { id: 'b-1', name: 'Bravo', type: 'sensor', segment: 'lab' },
    ], 'test');
    await s.cp.inventory.setPosture('a-1', { trustScore: 100 });
    await s.cp.inventory.setPosture('b-1', { trustScore: 35.5 });
    const o = (await call(s.h.apiUrl, s.caBundlePath, 'GET', '/api/v1/overview', { token: s.adminToken })).json<{ trust: { buckets: number[]; unscored: number }; devices: { bySegment: Record<string, number> } }>();
    assert.equal(o.trust.buckets[9], 1);
    assert.equal(o.trust.buckets[3], 1);
    assert.equal(o.trust.unscored, 0);
    assert.equal(o.devices.bySegment.lab, 2);
    for (let i = 0; i < TRUST_HISTORY_PER_DEVICE + 3; i++) await s.cp.inventory.setPosture('b-1', { trustScore: i % 2 === 0 ? 10 : 20 });
    const h = (await call(s.h.apiUrl, s.caBundlePath, 'GET', '/api/v1/devices/b-1/trust-history', { token: s.adminToken })).json<{ points: { score: number }[] }>();
    assert.equal(h.points.length, TRUST_HISTORY_PER_DEVICE);
    assert.equal(h.points.at(-1)!.score, 10);
    const sorted = (await call(s.h.apiUrl, s.caBundlePath, 'GET', '/api/v1/devices?sort=site&order=asc', { token: s.adminToken })).json<{ devices: { id: string }[] }>();
    assert.equal(sorted.devices.length, 2);
  });
});
