/**
 * One contract suite, two databases: everything the inventory, tokens, change feed and transactions
 * promise must hold on SQLite (embedded default) and on PostgreSQL (127.0.0.1:5432, own schema per run).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Store, ChangeFeed, emitChange, type Change } from '../src/store/index.js';
import { AuditLog } from '../src/audit/index.js';
import { Inventory, type CertificateRevoker } from '../src/inventory/index.js';
import { ApiTokens } from '../src/api/index.js';
import { ManualClock } from '../src/common/clock.js';
import { ZetaError } from '../src/common/errors.js';
import { tempDir, PG_URL, pgSchemaName } from './helpers.js';

const revoker: CertificateRevoker = {
  async revokeAllFor(tx, deviceId, reason, at) {
    const rows = await tx.selectFrom('certificates').select('serial').where('device_id', '=', deviceId).where('revoked_at', 'is', null).execute();
    await tx.updateTable('certificates').set({ revoked_at: at.toISOString(), revocation_reason: reason }).where('device_id', '=', deviceId).execute();
    return rows.map((r) => r.serial);
  },
  checkReason(reason) {
    if (!['keyCompromise', 'superseded', 'cessationOfOperation', 'unspecified'].includes(reason)) throw new ZetaError('ZETA_ERR_VALIDATION', `bad reason ${reason}`);
  },
};

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`store contract on ${dialect}`, () => {
    const dir = tempDir();
    let store: Store;
    let audit: AuditLog;
    let inv: Inventory;
    const clock = new ManualClock(Date.UTC(2026, 5, 1));

    before(async () => {
      store = await Store.open(dialect === 'sqlite'
        ? { dataDir: dir.path, databaseUrl: 'sqlite' }
        : { dataDir: dir.path, databaseUrl: PG_URL, databaseSchema: pgSchemaName('zt_store') });
      audit = new AuditLog(store, { dataDir: dir.path, clock });
      inv = new Inventory(store, audit, clock, { enrollmentTokenTtlHours: 72 });
      inv.setRevoker(revoker);
    });
    after(async () => {
      await store?.dropSchema();
      await store?.close();
      dir.cleanup();
    });

    it('migrations are idempotent', async () => {
      await store.migrate();
      await store.migrate();
    });

    it('adds, shows, filters, updates devices; lifecycle follows the transition table', async () => {
      const a = await inv.add({ name: 'cam 1', type: 'camera', segment: 'cams', site: 'hq', tags: ['a', 'a', 'b'] }, 'op');
      assert.match(a.enrollmentToken, /^zet_/);
      assert.deepEqual(a.device.tags, ['a', 'b']);
      await inv.add({ id: 'plc-7', name: 'press', type: 'plc', segment: 'ot' }, 'op');
      await assert.rejects(inv.add({ id: 'plc-7', name: 'dup', type: 'plc' }, 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_CONFLICT');
      assert.equal((await inv.list({ type: 'plc' })).total, 1);
      assert.equal((await inv.list({ segment: 'cams' })).devices[0]?.id, a.device.id);
      assert.equal((await inv.list({ q: 'pres' })).total, 1);
      assert.equal((await inv.list({ q: '%' })).total, 0, 'LIKE wildcards are escaped');
      const u = await inv.update('plc-7', { site: 'plant', segment: 'ot-2' }, 'op');
      assert.equal(u.site, 'plant');
      await assert.rejects(inv.update('plc-7', { nope: 1 }, 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_VALIDATION' && /nope/.test(e.message));
      await inv.suspend('plc-7', 'op', 'maintenance');
      await assert.rejects(inv.suspend('plc-7', 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_STATE');
      assert.equal((await inv.resume('plc-7', 'op')).state, 'registered');
      await inv.quarantine('plc-7', 'op');
      const r = await inv.revoke('plc-7', 'keyCompromise', 'op');
      assert.equal(r.device.state, 'revoked');
      await assert.rejects(inv.resume('plc-7', 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_STATE');
      assert.equal((await inv.decommission('plc-7', 'op')).state, 'decommissioned');
      await assert.rejects(inv.update('plc-7', { name: 'x' }, 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_STATE');
      await assert.rejects(inv.get('nope'), (e: ZetaError) => e.code === 'ZETA_ERR_NOT_FOUND');
    });

    it('a revoke with an invalid reason changes nothing', async () => {
      const d = await inv.add({ name: 'x', type: 'sensor' }, 'op');
      const before = await audit.list({ subject: d.device.id });
      await assert.rejects(inv.revoke(d.device.id, 'because', 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_VALIDATION');
      assert.equal((await inv.get(d.device.id)).state, 'registered');
      assert.equal((await audit.list({ subject: d.device.id })).length, before.length);
    });

    it('enrollment tokens: single use, bound to one device, expiring', async () => {
      const d = await inv.add({ name: 't', type: 'sensor' }, 'op');
      const other = await inv.add({ name: 'o', type: 'sensor' }, 'op');
      const now = clock.now();
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, other.device.id, d.enrollmentToken, now)), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, d.device.id, d.enrollmentToken, new Date(now.getTime() + 73 * 3600_000))), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      await store.writeTx((tx) => inv.redeemEnrollmentToken(tx, d.device.id, d.enrollmentToken, now));
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, d.device.id, d.enrollmentToken, now)), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      // a fresh token replaces unused ones
      const t2 = await inv.newEnrollmentToken(other.device.id, 'op');
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, other.device.id, other.enrollmentToken, now)), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      await store.writeTx((tx) => inv.redeemEnrollmentToken(tx, null, t2.enrollmentToken, now));
    });

    it('a transaction that fails leaves no partial state (device, token, audit, change)', async () => {
      const count = async (t: 'devices' | 'enrollment_tokens' | 'audit_log' | 'changes'): Promise<number> =>
        Number((await store.db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      const before = await Promise.all([count('devices'), count('enrollment_tokens'), count('audit_log'), count('changes')]);
      await assert.rejects(store.writeTx(async (tx) => {
        await tx.insertInto('devices').values({ id: 'ghost', name: 'g', type: 'sensor', vendor: null, model: null, firmware: null, owner: null, site: null, segment: null, tags: '[]', state: 'registered', cert_serial: null, cert_fingerprint: null, cert_not_after: null, last_seen: null, posture: '{}', created_at: 'x', updated_at: 'x' }).execute();
        await audit.append(tx, { actor: 'op', action: 'device.add', subject: 'ghost' });
        throw new Error('boom');
      }));
      const after = await Promise.all([count('devices'), count('enrollment_tokens'), count('audit_log'), count('changes')]);
      assert.deepEqual(after, before);
      assert.equal((await audit.verify()).ok, true);
    });

    it('concurrent write transactions commit or fail each on its own (SQLite commits them as a group)', async () => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => store.writeTx(async (tx) => {
        await audit.append(tx, { actor: 'op', action: 'test.concurrent', subject: `c-${i}` });
        await emitChange(tx, clock.now(), 'test.concurrent', `c-${i}`);
        if (i % 3 === 1) throw new ZetaError('ZETA_ERR_CONFLICT', `refused ${i}`);
        return i;
      })));
      results.forEach((r, i) => {
        if (i % 3 === 1) assert.ok(r.status === 'rejected' && (r.reason as ZetaError).message === `refused ${i}`, `call ${i}`);
        else assert.deepEqual(r, { status: 'fulfilled', value: i });
      });
      const kept = Array.from({ length: 12 }, (_, i) => i).filter((i) => i % 3 !== 1).map((i) => `c-${i}`);
      // Commit order may differ from call order (PostgreSQL); audit entries and changes agree on it.
      const audited = (await audit.list({ action: 'test.concurrent' })).map((e) => e.subject);
      assert.deepEqual([...audited].sort(), [...kept].sort());
      assert.deepEqual((await store.db.selectFrom('changes').select('subject').where('kind', '=', 'test.concurrent').orderBy('seq').execute()).map((c) => c.subject), audited);
      assert.equal((await audit.verify()).ok, true);
    });

    it('bulk import is all or nothing and names the bad records', async () => {
      const total = (await inv.list({})).total;
      await assert.rejects(inv.importDevices([{ name: 'ok', type: 'sensor' }, { name: '', type: 'sensor' }, { type: 'x' }], 'op'),
        (e: ZetaError) => e.code === 'ZETA_ERR_IMPORT' && /record 2/.test(e.message) && /record 3/.test(e.message));
      await assert.rejects(inv.importDevices([{ id: 'dup-1', name: 'a', type: 'sensor' }, { id: 'dup-1', name: 'b', type: 'sensor' }], 'op'),
        (e: ZetaError) => e.code === 'ZETA_ERR_IMPORT' && /duplicate id dup-1/.test(e.message));
      assert.equal((await inv.list({})).total, total);
      const records = Array.from({ length: 2500 }, (_, i) => ({ id: `bulk-${i}`, name: `sensor ${i}`, type: 'sensor', segment: i % 2 === 0 ? 'even' : 'odd' }));
      let progress = 0;
      const r = await inv.importDevices(records, 'op', (d) => { progress = d; });
      assert.equal(r.imported, 2500);
      assert.equal(progress, 2500);
      assert.equal(new Set(r.tokens.map((t) => t.enrollmentToken)).size, 2500);
      assert.equal((await inv.list({ segment: 'even' })).total, 1250);
      // Imported tokens are stored hashed like single ones: each redeems once, for its own device.
      const t7 = r.tokens[7]!;
      assert.equal(t7.id, 'bulk-7');
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, 'bulk-8', t7.enrollmentToken, clock.now())), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      assert.equal((await store.writeTx((tx) => inv.redeemEnrollmentToken(tx, 'bulk-7', t7.enrollmentToken, clock.now()))).id, 'bulk-7');
      await assert.rejects(store.writeTx((tx) => inv.redeemEnrollmentToken(tx, 'bulk-7', t7.enrollmentToken, clock.now())), (e: ZetaError) => e.code === 'ZETA_ERR_TOKEN_INVALID');
      // importing an id that exists refuses the whole file
      await assert.rejects(inv.importDevices([{ id: 'new-1', name: 'n', type: 'sensor' }, { id: 'bulk-3', name: 'b', type: 'sensor' }], 'op'), (e: ZetaError) => /bulk-3/.test(e.message));
      await assert.rejects(inv.get('new-1'));
      // ... naming each existing id (up to five), and leaving no token of the refused file behind
      const tokensBefore = Number((await store.db.selectFrom('enrollment_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      await assert.rejects(inv.importDevices([{ id: 'new-2', name: 'n', type: 'sensor' }, { id: 'bulk-4', name: 'b', type: 'sensor' }, { id: 'bulk-9', name: 'b', type: 'sensor' }], 'op'),
        (e: ZetaError) => e.code === 'ZETA_ERR_IMPORT' && /already exist: .*bulk-4/.test(e.message) && /bulk-9/.test(e.message));
      assert.equal(Number((await store.db.selectFrom('enrollment_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n), tokensBefore);
      const entries = await audit.list({ action: 'device.import' });
      assert.equal(entries.length, 1);
      assert.equal(entries[0]?.details.count, 2500);
    });

    it('expiring-within filter uses the certificate notAfter', async () => {
      const d = await inv.add({ name: 'exp', type: 'sensor' }, 'op');
      const now = clock.now();
      await store.writeTx((tx) => inv.attachCertificate(tx, d.device.id, { serial: 'ab', fingerprintSha256: 'cd', notAfter: new Date(now.getTime() + 5 * 86400_000).toISOString() }, now));
      assert.ok((await inv.list({ expiringWithinDays: 7 })).devices.some((x) => x.id === d.device.id));
      assert.ok(!(await inv.list({ expiringWithinDays: 3 })).devices.some((x) => x.id === d.device.id));
      assert.equal((await inv.get(d.device.id)).state, 'active');
    });

    it('the change feed delivers every change in order, including ones from another connection', async () => {
      const feed = new ChangeFeed(store, 50);
      const got: Change[] = [];
      feed.on('change', (c) => got.push(c));
      await feed.start();
      const other = await Store.open(dialect === 'sqlite' ? { dataDir: dir.path, databaseUrl: 'sqlite' } : { dataDir: dir.path, databaseUrl: PG_URL, databaseSchema: (await schemaOf(store)) });
      const inv2 = new Inventory(other, new AuditLog(other, { dataDir: dir.path, clock }), clock, { enrollmentTokenTtlHours: 1 });
      const d = await inv2.add({ name: 'feed', type: 'lock' }, 'op2');
      await inv2.suspend(d.device.id, 'op2');
      await other.close();
      const t0 = Date.now();
      while (got.filter((c) => c.subject === d.device.id).length < 2 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
      feed.stop();
      const mine = got.filter((c) => c.subject === d.device.id);
      assert.deepEqual(mine.map((c) => c.kind), ['device.added', 'device.state']);
      assert.deepEqual(mine[1]?.data.to, 'suspended');
      for (let i = 1; i < got.length; i++) assert.ok(got[i]!.seq > got[i - 1]!.seq);
    });

    it('API tokens are stored hashed, carry a role, expire and revoke', async () => {
      const tokens = new ApiTokens(store, audit, clock);
      const t = await tokens.create({ name: 'x', role: 'auditor', expiresInDays: 1 }, 'op');
      const raw = await store.db.selectFrom('api_tokens').selectAll().where('id', '=', t.info.id).executeTakeFirstOrThrow();
      assert.notEqual(raw.token_hash, t.token);
      assert.ok(!JSON.stringify(raw).includes(t.token));
      assert.equal((await tokens.authenticate(t.token))?.role, 'auditor');
      clock.advance(2 * 86400_000);
      assert.equal(await tokens.authenticate(t.token), undefined);
      clock.advance(-2 * 86400_000);
      await tokens.revoke(t.info.id, 'op');
      assert.equal(await tokens.authenticate(t.token), undefined);
      await assert.rejects(tokens.create({ name: 'x', role: 'root' }, 'op'), (e: ZetaError) => e.code === 'ZETA_ERR_VALIDATION');
    });

    it('every change above is in a verifiable audit chain', async () => {
      const v = await audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v.problems));
      assert.ok(v.entries > 10);
    });
  });
}

async function schemaOf(store: Store): Promise<string> {
  const { sql } = await import('kysely');
  const r = await sql<{ s: string }>`select current_schema() as s`.execute(store.db);
  return r.rows[0]!.s;
}
