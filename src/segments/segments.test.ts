/**
 * Segments against a real store: SQLite and PostgreSQL run the same cases. Each change must commit
 * with its audit entry and one `segments.changed` row, and a refused change must leave all three
 * untouched.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../common/clock.js';
import type { ZetaError } from '../common/errors.js';
import { Store } from '../store/index.js';
import { AuditLog } from '../audit/index.js';
import { Segments } from './index.js';

const PG_URL = process.env.ZETA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MUD = readFileSync(new URL('./testdata/camera-x200.mud.json', import.meta.url), 'utf8');

const dialects: { name: string; open: (dataDir: string) => Promise<Store> }[] = [
  { name: 'sqlite', open: (dataDir) => Store.open({ dataDir, databaseUrl: 'sqlite' }) },
  { name: 'postgres', open: (dataDir) => Store.open({ dataDir, databaseUrl: PG_URL, databaseSchema: `zt_seg_${randomBytes(6).toString('hex')}` }) },
];

function code(c: string, re?: RegExp) {
  return (e: ZetaError): boolean => {
    assert.equal(e.code, c, e.message);
    if (re !== undefined) assert.match(e.message, re);
    return true;
  };
}

for (const dialect of dialects) {
  describe(`Segments on ${dialect.name}`, () => {
    let store: Store;
    let audit: AuditLog;
    let segments: Segments;
    let dataDir: string;

    const counts = async (): Promise<{ audit: number; changes: number; flows: number; services: number }> => {
      const n = async (t: 'audit_log' | 'changes' | 'flows' | 'services'): Promise<number> =>
        Number((await store.db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      return { audit: await n('audit_log'), changes: await n('changes'), flows: await n('flows'), services: await n('services') };
    };

    beforeEach(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'zeta-seg-'));
      store = await dialect.open(dataDir);
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      audit = new AuditLog(store, { dataDir, clock });
      segments = new Segments(store, audit, clock);
      const now = '2026-01-01T00:00:00.000Z';
      await store.db.insertInto('devices').values(['cam-1', 'cam-2', 'plc-1'].map((id) => ({
        id, name: id, type: id.startsWith('cam') ? 'camera' : 'plc', vendor: null, model: null, firmware: null, owner: null, site: null,
        segment: id.startsWith('cam') ? 'cameras' : 'plcs', tags: '[]', state: 'active', cert_serial: null, cert_fingerprint: null,
        cert_not_after: null, last_seen: null, posture: '{}', created_at: now, updated_at: now,
      }))).execute();
    });

    afterEach(async () => {
      await store.dropSchema();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('starts with the built-in quarantine segment, which cannot be removed', async () => {
      assert.deepEqual((await segments.listSegments()).map((s) => [s.name, s.builtin]), [['quarantine', true]]);
      await assert.rejects(segments.removeSegment('quarantine', 'op'), code('ZETA_ERR_CONFLICT', /built in/));
    });

    it('commits each change with its audit entry and one segments.changed row', async () => {
      await segments.addSegment({ name: 'cameras', kind: 'type' }, 'op:alice');
      await segments.addSegment({ name: 'plcs', kind: 'function' }, 'op:alice');
      await segments.addService({ name: 'video-recorder', addresses: ['10.71.3.2', 'FD71:3::2'], protocol: 'tcp', ports: [554] }, 'op:alice');
      const f = await segments.addFlow({ from: 'cameras', toService: 'video-recorder' }, 'op:alice');
      assert.match(f.id, /^fl-[0-9a-f]{12}$/);
      const rows = await store.db.selectFrom('audit_log').select(['actor', 'action', 'subject']).orderBy('seq').execute();
      assert.deepEqual(rows.map((r) => r.action), ['segment.add', 'segment.add', 'service.add', 'flow.add']);
      assert.equal(rows[3]?.subject, `flow:${f.id}`);
      const changes = await store.db.selectFrom('changes').select(['kind', 'subject']).orderBy('seq').execute();
      assert.deepEqual(changes.map((c) => c.kind), Array(4).fill('segments.changed'));
      assert.equal((await segments.listServices())[0]?.addresses[1], 'fd71:3::2');
      assert.equal((await audit.verify()).ok, true);
    });

    it('refuses bad input and duplicates with nothing applied', async () => {
      await segments.addSegment({ name: 'cameras' }, 'op');
      await segments.addService({ name: 'nvr', addresses: ['10.0.0.2'] }, 'op');
      const before = await counts();
      await assert.rejects(segments.addSegment({ name: 'cameras' }, 'op'), code('ZETA_ERR_CONFLICT', /segment cameras already exists/));
      await assert.rejects(segments.addService({ name: 'nvr', addresses: ['10.0.0.3'] }, 'op'), code('ZETA_ERR_CONFLICT', /service nvr already exists/));
      await assert.rejects(segments.addService({ name: 'bad', addresses: ['10.0.0.0/33'] }, 'op'), code('ZETA_ERR_VALIDATION', /prefix length/));
      await assert.rejects(segments.addFlow({ from: 'cameras', toSegment: 'plcs' }, 'op'), code('ZETA_ERR_VALIDATION', /segment "plcs" does not exist/));
      await assert.rejects(segments.addFlow({ from: 'cameras', toService: 'dvr', protocol: 'tcp', ports: ['1-70000'] }, 'op'), (e: ZetaError) => {
        assert.equal(e.code, 'ZETA_ERR_VALIDATION');
        assert.deepEqual(e.fields?.problems, ['toService: service "dvr" does not exist', 'ports.0: port range 1-70000 is invalid: ports are 1-65535, low to high']);
        return true;
      });
      await segments.addFlow({ id: 'fl-rtsp', from: 'cameras', toService: 'nvr', protocol: 'tcp', ports: [554] }, 'op');
      const mid = await counts();
      await assert.rejects(segments.addFlow({ from: 'cameras', toService: 'nvr', protocol: 'tcp', ports: ['554'] }, 'op'), code('ZETA_ERR_CONFLICT', /flow fl-rtsp already allows exactly this/));
      await assert.rejects(segments.addFlow({ id: 'fl-rtsp', from: 'cameras', toService: 'nvr', protocol: 'udp' }, 'op'), code('ZETA_ERR_CONFLICT', /flow fl-rtsp already exists/));
      assert.deepEqual(await counts(), mid);
      assert.deepEqual({ ...mid, audit: before.audit, changes: before.changes, flows: 0 }, before);
    });

    it('guards removals that would cut devices or flows off', async () => {
      await segments.addSegment({ name: 'cameras' }, 'op');
      await segments.addSegment({ name: 'empty' }, 'op');
      await segments.addService({ name: 'nvr', addresses: ['10.0.0.2'] }, 'op');
      const f = await segments.addFlow({ from: 'cameras', toService: 'nvr' }, 'op');
      await assert.rejects(segments.removeSegment('cameras', 'op'), code('ZETA_ERR_CONFLICT', new RegExp(`used by 1 flow\\(s\\) \\(${f.id}\\)`)));
      await assert.rejects(segments.removeService('nvr', 'op'), code('ZETA_ERR_CONFLICT', /used by 1 flow/));
      await segments.removeFlow(f.id, 'op');
      await assert.rejects(segments.removeSegment('cameras', 'op'), code('ZETA_ERR_CONFLICT', /still holds 2 device/));
      await segments.removeService('nvr', 'op');
      await segments.removeSegment('empty', 'op');
      await assert.rejects(segments.removeFlow(f.id, 'op'), code('ZETA_ERR_NOT_FOUND'));
    });

    it('keeps device addresses unique across devices and puts them in the snapshot', async () => {
      await segments.addSegment({ name: 'cameras' }, 'op');
      assert.deepEqual(await segments.setDeviceAddresses('cam-1', ['10.71.1.2', 'fd71:1:0::2', '10.71.1.2'], 'op'), ['10.71.1.2', 'fd71:1::2']);
      await assert.rejects(segments.setDeviceAddresses('cam-2', ['10.71.1.2'], 'op'), code('ZETA_ERR_CONFLICT', /10\.71\.1\.2 \(device cam-1\)/));
      await assert.rejects(segments.setDeviceAddresses('nope', ['10.71.1.9'], 'op'), code('ZETA_ERR_NOT_FOUND'));
      await assert.rejects(segments.setDeviceAddresses('cam-2', ['10.71.1.0/33'], 'op'), code('ZETA_ERR_VALIDATION'));
      await segments.setDeviceAddresses('cam-2', ['10.71.1.3'], 'op');
      const snap = await segments.snapshot();
      assert.deepEqual(snap.devices, [
        { id: 'cam-1', type: 'camera', segment: 'cameras', state: 'active', addresses: ['10.71.1.2', 'fd71:1::2'] },
        { id: 'cam-2', type: 'camera', segment: 'cameras', state: 'active', addresses: ['10.71.1.3'] },
      ]);
      assert.deepEqual(snap.segments.map((s) => s.name), ['cameras', 'quarantine']);
      await segments.setDeviceAddresses('cam-1', [], 'op');
      assert.deepEqual(await segments.getDeviceAddresses('cam-1'), []);
    });

    it('imports a MUD profile all-or-nothing and idempotently', async () => {
      await segments.addSegment({ name: 'cameras' }, 'op');
      const mapping = { segment: 'cameras', deviceType: 'camera', localNetworks: { segment: 'operators' }, controllers: { 'https://controller.example-cams.com/fleet': { service: 'fleet-controller' } } };
      // operators and fleet-controller do not exist yet: nothing may be applied, not even the services.
      const before = await counts();
      await assert.rejects(segments.importMud(MUD, mapping, 'op'), code('ZETA_ERR_VALIDATION', /segment "operators" does not exist/));
      await assert.rejects(segments.importMud('{"ietf-mud:mud": {"mud-version": 1}}', mapping, 'op'), code('ZETA_ERR_MUD_INVALID', /mud-url/));
      await assert.rejects(segments.importMud(MUD, { segment: 'cameras', controllers: 'x' }, 'op'), code('ZETA_ERR_VALIDATION', /mapping\.controllers/));
      assert.deepEqual(await counts(), before);

      await segments.addSegment({ name: 'operators' }, 'op');
      await segments.addService({ name: 'fleet-controller', addresses: ['10.9.0.1'] }, 'op');
      const r = await segments.importMud(MUD, mapping, 'op');
      assert.equal(r.flows.length, 7);
      assert.deepEqual(r.services.map((s) => s.name), ['nvr.example-cams.com', 'pool.ntp.org', 'net-2001_db8_50___48']);
      assert.equal(r.unmapped.length, 4);
      assert.ok(r.flows.every((f) => f.source === 'mud:https://mud.example-cams.com/x200/camera-x200.json'));
      assert.ok(r.flows.filter((f) => f.from === 'cameras').every((f) => f.fromDeviceType === 'camera'));
      const entry = await store.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'segments.mud-import').executeTakeFirstOrThrow();
      const details = JSON.parse(entry.details) as { unmappedCount: number; flowCount: number; unmapped: string[] };
      assert.equal(details.flowCount, 7);
      assert.equal(details.unmappedCount, 4);
      assert.ok(details.unmapped.some((u) => /qos0-frdev: .*dscp/.test(u)));

      const again = await segments.importMud(MUD, mapping, 'op');
      assert.equal(again.flows.length, 0);
      assert.equal(again.alreadyPresent.length, 7);
      assert.equal((await segments.listFlows()).length, 7);
    });
  });
}
