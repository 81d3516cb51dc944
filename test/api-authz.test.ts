/**
 * The authorization matrix: every route in the table, with no token (401), with a bad token (401),
 * and with each role (403 exactly where the table says so). Plus problem+json shape, the OpenAPI
 * document matching the table, and refused attempts landing in the audit log.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from './helpers.js';
import { createOperator, loginWithTotp } from './iam-helpers.js';
import { ROUTES, ROLES, rolesFor, type Role } from '../src/api/index.js';

interface Res { status: number; headers: Record<string, unknown>; body: string; json: () => Record<string, unknown> }

function call(s: TestServer, method: string, path: string, token?: string, body?: unknown): Promise<Res> {
  const url = new URL(path, s.h.apiUrl.replace('127.0.0.1', 'localhost'));
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method, ca: readFileSync(s.caBundlePath),
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) },
    }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => { b += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b) as Record<string, unknown> }));
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

describe('API authorization matrix', () => {
  let s: TestServer;
  const tokens = new Map<Role, string>();
  let deviceId = '';

  before(async () => {
    s = await startTestServer();
    tokens.set('admin', s.adminToken);
    for (const role of ['secops', 'devops', 'auditor'] as const) {
      const r = await s.cp.tokens.create({ name: role, role }, 'test');
      tokens.set(role, r.token);
    }
    const d = await s.cp.inventory.add({ name: 'matrix', type: 'sensor' }, 'test');
    deviceId = d.device.id;
  });
  after(async () => { await s?.close(); });

  const concrete = (p: string): string => p.replace(':id', deviceId || 'x');

  it('every route answers 401 without a token and with an unknown token, as problem+json with a request id', async () => {
    for (const r of ROUTES) {
      for (const token of [undefined, 'zta_not-a-real-token-000000000000000000000000']) {
        const res = await call(s, r.method, concrete(r.path), token, r.method === 'GET' ? undefined : r.exampleBody ?? {});
        assert.equal(res.status, 401, `${r.method} ${r.path} without valid token`);
        assert.match(String(res.headers['content-type']), /application\/problem\+json/);
        const p = res.json();
        assert.equal(p.code, 'ZETA_ERR_UNAUTHENTICATED');
        assert.equal(typeof p.requestId, 'string');
        assert.equal(res.headers['x-request-id'], p.requestId);
      }
    }
  });

  it('every route answers 403 for each role the table does not list, and never 401/403 for one it lists', async () => {
    for (const r of ROUTES) {
      for (const role of ROLES) {
        // Destructive routes are exercised for the allowed roles elsewhere; here a non-existent id keeps them side-effect free.
        const path = r.path.replace(':id', 'no-such-device');
        const res = await call(s, r.method, path, tokens.get(role), r.method === 'GET' ? undefined : r.exampleBody ?? {});
        if (rolesFor(r).includes(role)) {
          assert.notEqual(res.status, 401, `${role} ${r.method} ${r.path}: ${res.body}`);
          assert.notEqual(res.status, 403, `${role} ${r.method} ${r.path}: ${res.body}`);
        } else {
          assert.equal(res.status, 403, `${role} ${r.method} ${r.path} should be forbidden: ${res.body}`);
          assert.equal(res.json().code, 'ZETA_ERR_FORBIDDEN');
        }
      }
    }
  });

  it('the default role policy grants exactly this matrix (pinned: a policy edit must change this test)', () => {
    const expected: Record<string, Role[]> = {
      viewFleet: ['admin', 'secops', 'devops', 'auditor'], viewDevice: ['admin', 'secops', 'devops', 'auditor'],
      manageDevice: ['admin', 'secops', 'devops'], quarantineDevice: ['admin', 'secops', 'devops'], revokeDevice: ['admin', 'secops'],
      decommissionDevice: ['admin'], importDevices: ['admin'], readAudit: ['admin', 'secops', 'auditor'], applyPolicy: ['admin', 'secops'],
      manageSegments: ['admin', 'secops'], rotateCa: ['admin', 'secops'], manageAccess: ['admin'], approve: ['admin', 'secops'], ingest: ['admin', 'secops'],
    };
    for (const r of ROUTES) assert.deepEqual(rolesFor(r), expected[r.action], `${r.method} ${r.path} (${r.action})`);
  });

  it('cookie sessions get the same matrix as tokens (with CSRF header and a fresh step-up), and no CSRF header is refused', async () => {
    const ca = readFileSync(s.caBundlePath);
    for (const role of ROLES) {
      const op = await createOperator(s, { username: `matrix-${role}`, role, password: `matrix-${role}-password`, totp: true });
      const { cookie, csrfToken } = await loginWithTotp(s.h.apiUrl, ca, { username: op.username, password: op.password, totpSecret: op.totpSecret! });
      for (const r of ROUTES) {
        const path = r.path.replace(':id', 'no-such-device');
        const body = r.method === 'GET' ? undefined : JSON.stringify(r.exampleBody ?? {});
        const send = (csrf: string | undefined): Promise<Res> => new Promise((resolve, reject) => {
          const req = request(new URL(path, s.h.apiUrl.replace('127.0.0.1', 'localhost')), {
            method: r.method, ca,
            headers: { cookie, ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }), ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) },
          }, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => { b += d.toString(); });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b) as Record<string, unknown> }));
          });
          req.on('error', reject);
          if (body !== undefined) req.write(body);
          req.end();
        });
        if (r.method !== 'GET') {
          const noCsrf = await send(undefined);
          assert.equal(noCsrf.status, 403, `${role} ${r.method} ${r.path} without CSRF: ${noCsrf.body}`);
          assert.equal(noCsrf.json().code, 'ZETA_ERR_CSRF');
        }
        const res = await send(csrfToken);
        if (rolesFor(r).includes(role)) {
          assert.ok(res.status !== 401 && res.status !== 403, `${role} ${r.method} ${r.path} (session): ${res.status} ${res.body}`);
        } else {
          assert.equal(res.status, 403, `${role} ${r.method} ${r.path} (session) should be forbidden: ${res.body}`);
          assert.equal(res.json().code, 'ZETA_ERR_FORBIDDEN');
        }
      }
    }
  });

  it('a revoked token stops working at once', async () => {
    const t = await s.cp.tokens.create({ name: 'short-lived', role: 'devops' }, 'test');
    assert.equal((await call(s, 'GET', '/api/v1/devices', t.token)).status, 200);
    await s.cp.tokens.revoke(t.info.id, 'test');
    assert.equal((await call(s, 'GET', '/api/v1/devices', t.token)).status, 401);
  });

  it('refused API calls are audited', async () => {
    const refused = await s.cp.audit.list({ action: 'api.refused', limit: 1000 });
    assert.ok(refused.length >= ROUTES.length * 2, `only ${refused.length} refusals audited`);
  });

  it('publishes an OpenAPI 3.1 document listing exactly the table, with the roles', async () => {
    const res = await call(s, 'GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, { 'x-zeta-roles'?: string[] }>> };
    assert.equal(doc.openapi, '3.1.0');
    for (const r of ROUTES) {
      const op = doc.paths[r.path.replace(/:([a-zA-Z]+)/g, '{$1}')]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.path} missing from OpenAPI`);
      assert.deepEqual(op['x-zeta-roles'], rolesFor(r));
    }
  });

  it('validation errors name the field and change nothing', async () => {
    const before = await s.cp.inventory.list({});
    const res = await call(s, 'POST', '/api/v1/devices', s.adminToken, { name: 'x', type: 'Not A Type!', color: 'red' });
    assert.equal(res.status, 400);
    const p = res.json();
    assert.equal(p.code, 'ZETA_ERR_VALIDATION');
    assert.match(String(p.detail), /type/);
    assert.match(String(p.detail), /color/);
    const bad = await call(s, 'POST', '/api/v1/devices/' + deviceId + '/revoke', s.adminToken, { reason: 'because' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json().detail), /keyCompromise/);
    assert.equal((await s.cp.inventory.get(deviceId)).state, 'registered');
    const after = await s.cp.inventory.list({});
    assert.equal(after.total, before.total);
    const unknown = await call(s, 'GET', '/api/v1/nope', s.adminToken);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, 'ZETA_ERR_NOT_FOUND');
  });
});
