/**
 * The attestation records (migration 0005_attest) behave the same on SQLite and PostgreSQL:
 * reference values by model + firmware (registered / imported, replaceable), TOFU pins that are
 * never silently re-learned, key bindings, results in time order, the due flag.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/common/clock.js';
import { ZetaError } from '../src/common/errors.js';
import { Store } from '../src/store/index.js';
import { AttestationRecords, DbReferenceStore, parseReferenceValues, type ReferenceValues } from '../src/attest/index.js';
import { tempDir, PG_URL, pgSchemaName } from './helpers.js';

const D = (c: string): string => c.repeat(64);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`attestation records on ${dialect}`, () => {
    const dir = tempDir();
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    let store: Store;
    let refs: DbReferenceStore;
    let rec: AttestationRecords;

    before(async () => {
      store = await Store.open(dialect === 'sqlite'
        ? { dataDir: dir.path, databaseUrl: 'sqlite' }
        : { dataDir: dir.path, databaseUrl: PG_URL, databaseSchema: pgSchemaName('zt_attest') });
      refs = new DbReferenceStore(store, () => clock.now());
      rec = new AttestationRecords(store);
    });
    after(async () => {
      await store?.dropSchema();
      await store?.close();
      dir.cleanup();
    });

    it('registers, replaces and lists model references; refuses malformed ones before writing', async () => {
      const ref: ReferenceValues = { model: 'cam', firmwareVersion: '1.0', alg: 'sha256', ipl: [D('a')] };
      await store.writeTx((tx) => refs.register(tx, ref, 'registered', 'test'));
      assert.deepEqual((await refs.forModel('cam', '1.0'))?.ipl, [D('a')]);
      await store.writeTx((tx) => refs.register(tx, { ...ref, ipl: [D('b')] }, 'imported', 'test'));
      assert.deepEqual((await refs.forModel('cam', '1.0'))?.ipl, [D('b')]);
      assert.equal(await refs.forModel('cam', '1.1'), undefined);
      const listed = await refs.list({ model: 'cam' });
      assert.deepEqual(listed.map((r) => r.source), ['imported']);
      assert.throws(() => parseReferenceValues({ model: 'cam', firmwareVersion: '1', alg: 'md5' }), (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_VALIDATION');
      await assert.rejects(store.writeTx((tx) => refs.register(tx, { model: '', firmwareVersion: '1', alg: 'sha256' } as ReferenceValues, 'registered', 'test')), /model/);
      assert.equal((await refs.list({ model: '' })).length, 0);
    });

    it('TOFU: a pin is per device and firmware, never overwritten for the same firmware, replaced after an update', async () => {
      const pin: ReferenceValues = { model: 'cam', firmwareVersion: '1.0', alg: 'sha256', ipl: [D('c')] };
      await refs.pinDevice('dev-1', pin);
      assert.deepEqual((await refs.forDevice('dev-1', 'cam', '1.0'))?.ipl, [D('c')]);
      await assert.rejects(refs.pinDevice('dev-1', { ...pin, ipl: [D('d')] }), (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_CONFLICT');
      assert.equal(await refs.forDevice('dev-1', 'cam', '2.0'), undefined);
      await refs.pinDevice('dev-1', { ...pin, firmwareVersion: '2.0', ipl: [D('e')] });
      assert.deepEqual((await refs.forDevice('dev-1', 'cam', '2.0'))?.ipl, [D('e')]);
      assert.deepEqual((await refs.list({ deviceId: 'dev-1' })).map((r) => r.source), ['tofu']);
      assert.equal(await store.writeTx((tx) => refs.unpinDevice(tx, 'dev-1')), true);
      assert.equal(await refs.forDevice('dev-1', 'cam', '2.0'), undefined);
    });

    it('keeps one key binding per device, results newest first, and the due flag', async () => {
      await store.writeTx((tx) => rec.putKey(tx, { deviceId: 'dev-2', method: 'software', akName: null, akPublic: 'pem', ekName: null, ekTrust: null, certSerial: '01', boundAt: clock.now().toISOString() }));
      await store.writeTx((tx) => rec.putKey(tx, { deviceId: 'dev-2', method: 'tpm', akName: '000b' + D('1'), akPublic: 'AAAA', ekName: '000b' + D('2'), ekTrust: { kind: 'manufacturer-chain', root: 'CN=x' }, certSerial: '02', boundAt: clock.now().toISOString() }));
      const k = await rec.key('dev-2');
      assert.equal(k?.method, 'tpm');
      assert.deepEqual(k?.ekTrust, { kind: 'manufacturer-chain', root: 'CN=x' });
      for (const status of ['verified', 'failed'] as const) {
        clock.advance(1000);
        await store.writeTx((tx) => rec.addResult(tx, { deviceId: 'dev-2', status, reason: status === 'failed' ? 'nonce-replayed' : null, detail: null, method: 'tpm', weaker: false, reference: null, at: clock.now().toISOString() }));
      }
      const h = await rec.history('dev-2');
      assert.deepEqual(h.map((r) => [r.status, r.reason]), [['failed', 'nonce-replayed'], ['verified', null]]);
      assert.equal(await rec.due('dev-2'), undefined);
      await store.writeTx((tx) => rec.markDue(tx, 'dev-2', 'token:t', clock.now()));
      await store.writeTx((tx) => rec.markDue(tx, 'dev-2', 'token:t', clock.now()));
      assert.equal((await rec.due('dev-2'))?.requestedBy, 'token:t');
      await store.writeTx((tx) => rec.clearDue(tx, 'dev-2'));
      assert.equal(await rec.due('dev-2'), undefined);
    });
  });
}
