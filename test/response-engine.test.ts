/**
 * The response engine on a real store (SQLite data directory, the same ControlPlane zeta serve
 * runs): playbook validation, dry-run, the blast-radius guard and approvals, undo, restrict as the
 * PDP sees it, revoke held for approval and never undone, attestation failure → suspend.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig } from '../src/common/config.js';
import { ControlPlane, responseEngine } from '../src/api/index.js';
import { loadPdp } from '../src/api/routes.js';
import { AlertStore, DEFAULT_PLAYBOOK, READ_ONLY_TAG, type ResponseEngine, type AlertInput } from '../src/response/index.js';
import { isZetaError } from '../src/common/errors.js';
import { tempDir, zeta } from './helpers.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const scan = (key: string): AlertInput => ({
  key, rule: 'fan-out-hosts', severity: 'high', score: 0.9, summary: `${key} contacted 40 hosts in 60 s`,
  observed: { hosts: 40 }, baseline: { hosts: 3 },
});

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isZetaError(e) && e.code === code);
}

describe('response engine', () => {
  const dir = tempDir('zeta-resp-');
  let cp: ControlPlane;
  let engine: ResponseEngine;

  before(async () => {
    cp = await ControlPlane.open(makeConfig({ dataDir: dir.path, logLevel: 'silent' }), { requireCa: false });
    await cp.init('test');
    engine = responseEngine(cp);
    await engine.ensureDefaultPlaybook('test');
  });
  after(async () => {
    await cp.close();
    dir.cleanup();
  });

  it('ships the default playbook as version 1 and refuses invalid ones with every problem, storing nothing', async () => {
    const books = await engine.playbooks();
    assert.deepEqual(books.map((b) => [b.name, b.version]), [['default', 1]]);
    assert.deepEqual(books[0]!.playbook, DEFAULT_PLAYBOOK);
    const bad = { name: 'Bad Name', guard: { maxDevices: -1, maxSegmentPercent: 200, windowMinutes: 60 }, steps: [{ id: 'x', action: 'nuke', when: {} }, { id: 'x', action: 'alert', when: {}, extra: 1 }], surprise: true };
    await assert.rejects(engine.putPlaybook(bad, 'test'), (e: unknown) => {
      assert.ok(isZetaError(e) && e.code === 'ZETA_ERR_PLAYBOOK_INVALID');
      const problems = (e.fields?.problems ?? []) as string[];
      for (const want of [/^name:/, /guard\.maxDevices/, /guard\.maxSegmentPercent/, /steps\.0\.action/, /steps\.1/, /surprise|Unrecognized/]) {
        assert.ok(problems.some((p) => want.test(p)), `${want} in ${problems.join(' | ')}`);
      }
      return true;
    });
    await rejects(engine.putPlaybook({ ...DEFAULT_PLAYBOOK, steps: [{ id: 'a', action: 'quarantine', when: {} }] }, 'test'), 'ZETA_ERR_PLAYBOOK_INVALID');
    assert.deepEqual((await engine.playbookHistory('default')).map((v) => v.version), [1]);
  });

  it('dry-run reports exactly what would change and changes nothing', async () => {
    await cp.inventory.add({ id: 'dry-1', name: 'd', type: 'camera' }, 'test');
    const alert = await engine.alerts.raise(scan('dry-1'));
    const auditBefore = (await cp.audit.list({ limit: 1000 })).length;
    const plan = await engine.dryRun(alert.id);
    assert.equal(plan.length, 1);
    assert.deepEqual({ ...plan[0], why: undefined }, {
      playbook: 'default', playbookVersion: 1, step: 'quarantine-attack', action: 'quarantine', deviceId: 'dry-1', decision: 'apply', why: undefined,
      from: { state: 'registered', tags: [] }, to: { state: 'quarantined', tags: [] },
    });
    assert.ok(plan[0]!.why.includes('rule fan-out-hosts'));
    assert.equal((await cp.inventory.get('dry-1')).state, 'registered');
    assert.deepEqual(await engine.listActions({ device: 'dry-1' }), []);
    assert.equal((await cp.audit.list({ limit: 1000 })).length, auditBefore, 'no audit entry from a dry run');
    // The same through the CLI on the data directory.
    const r = await zeta(['playbook', 'dry-run', alert.id, '--data', dir.path, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { plan: { decision: string }[] }).plan[0]!.decision, 'apply');
    assert.equal((await cp.inventory.get('dry-1')).state, 'registered');
  });

  it('the blast-radius guard holds back the 11th device; approval releases it; reject changes nothing', async () => {
    for (let i = 1; i <= 12; i++) await cp.inventory.add({ id: `br-${i}`, name: `b${i}`, type: 'camera' }, 'test');
    for (let i = 1; i <= 11; i++) await engine.submitAlert(scan(`br-${i}`));
    const states = await Promise.all(Array.from({ length: 11 }, (_, i) => cp.inventory.get(`br-${i + 1}`).then((d) => d.state)));
    assert.deepEqual(states, [...Array<string>(10).fill('quarantined'), 'registered']);
    const pending = await engine.listActions({ status: 'pending' });
    assert.equal(pending.length, 1);
    assert.equal(pending[0]!.deviceId, 'br-11');
    assert.match(pending[0]!.reason, /blast-radius guard: 10 devices already changed automatically in 60 min \(at most 10\)/);
    const ap = await zeta(['response', 'approve', pending[0]!.id, '--data', dir.path, '--json']);
    assert.equal(ap.code, 0, ap.stdout + ap.stderr);
    const approved = JSON.parse(ap.stdout) as { status: string; automatic: boolean; decidedBy: string };
    assert.equal(approved.status, 'applied');
    assert.equal(approved.automatic, false);
    assert.match(approved.decidedBy, /^cli:/);
    assert.equal((await cp.inventory.get('br-11')).state, 'quarantined');
    await rejects(engine.approve(pending[0]!.id, 'token:op'), 'ZETA_ERR_RESPONSE_STATE');
    // A 12th is held as well; rejecting it leaves the device alone.
    const r12 = await engine.submitAlert(scan('br-12'));
    assert.equal(r12?.plan[0]?.decision, 'pending');
    const rejected = await engine.reject(r12!.plan[0]!.actionId!, 'token:op', 'known maintenance');
    assert.equal(rejected.status, 'rejected');
    assert.equal((await cp.inventory.get('br-12')).state, 'registered');
    const audit = await cp.audit.list({ action: 'response.pending', subject: 'br-12' });
    assert.equal(audit.length, 1);
    assert.match(String((audit[0]!.details as { reason: string }).reason), /blast-radius/);
    // An operator running the playbook on an alert is not held by the guard (it is not automatic).
    await cp.inventory.add({ id: 'br-13', name: 'b13', type: 'camera' }, 'test');
    const a13 = await engine.alerts.raise(scan('br-13'));
    const resp = await zeta(['alerts', 'respond', a13.id, '--data', dir.path, '--json']);
    assert.equal(resp.code, 0, resp.stdout + resp.stderr);
    assert.deepEqual((JSON.parse(resp.stdout) as { plan: { decision: string }[] }).plan.map((p) => p.decision), ['apply']);
    assert.equal((await cp.inventory.get('br-13')).state, 'quarantined');
    assert.equal((await engine.listActions({ device: 'br-13' }))[0]!.automatic, false);
    // Undo of every automatic quarantine, so the next tests start from an empty window.
    for (const a of await engine.listActions({ status: 'applied' })) await engine.undo(a.id, 'test');
    assert.equal((await cp.inventory.get('br-1')).state, 'registered', 'undo restores the previous state');
  });

  it('holds back the change that would exceed 25 % of a segment', async () => {
    await engine.putPlaybook({ ...DEFAULT_PLAYBOOK, guard: { maxDevices: 1000, maxSegmentPercent: 25, segmentMinDevices: 4, windowMinutes: 1 } }, 'test');
    // The segment share counts only this segment's devices (the earlier ones have none).
    for (let i = 1; i <= 8; i++) await cp.inventory.add({ id: `seg-${i}`, name: `s${i}`, type: 'sensor', segment: 'floor2' }, 'test');
    for (let i = 1; i <= 3; i++) await engine.submitAlert(scan(`seg-${i}`));
    assert.equal((await cp.inventory.get('seg-1')).state, 'quarantined');
    assert.equal((await cp.inventory.get('seg-2')).state, 'quarantined', '2 of 8 = 25 % is allowed');
    assert.equal((await cp.inventory.get('seg-3')).state, 'registered', '3 of 8 = 37.5 % waits');
    const p = await engine.listActions({ device: 'seg-3' });
    assert.equal(p[0]!.status, 'pending');
    assert.match(p[0]!.reason, /3 of 8 devices \(37\.5 %\) of segment floor2/);
    const approved = await engine.approve(p[0]!.id, 'token:op');
    assert.equal(approved.status, 'applied');
    assert.equal((await cp.inventory.get('seg-3')).state, 'quarantined');
    // Undo (on the CLI, data directory) restores the state before the action.
    const r = await zeta(['response', 'undo', approved.id, '--data', dir.path, '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'undone');
    assert.equal((await cp.inventory.get('seg-3')).state, 'registered');
    const again = await zeta(['response', 'undo', approved.id, '--data', dir.path, '--json']);
    assert.equal(again.code, 2);
    assert.match(again.stdout, /ZETA_ERR_RESPONSE_STATE/);
    // Undone actions still count in the window (conservative); later tests get a wide guard.
    await engine.putPlaybook({ ...DEFAULT_PLAYBOOK, guard: { ...DEFAULT_PLAYBOOK.guard, maxDevices: 1000 } }, 'test');
  });

  it('restrict tags the device read-only: the PDP denies its publishes, still allows its reads; undo lifts it', async () => {
    await cp.inventory.add({ id: 'therm-ro', name: 't', type: 'thermostat' }, 'test');
    await cp.inventory.setPosture('therm-ro', { trustScore: 55 });
    const plan = await engine.submitTrust('therm-ro');
    assert.deepEqual(plan.map((p) => [p.step, p.decision]), [['restrict-low-trust', 'apply']]);
    const d = await cp.inventory.get('therm-ro');
    assert.ok(d.tags.includes(READ_ONLY_TAG));
    assert.equal(d.state, 'registered');
    // The PDP decides as for an active device (state is not what restrict changes).
    await cp.store.db.updateTable('devices').set({ state: 'active' }).where('id', '=', 'therm-ro').execute();
    let pdp = await loadPdp(cp);
    const pub = pdp.decide({ principal: 'therm-ro', action: 'publish', topic: 'devices/therm-ro/telemetry' });
    assert.equal(pub.decision, 'deny');
    assert.deepEqual(pub.reasons, ['forbid-publish-when-read-only']);
    assert.equal(pdp.decide({ principal: 'therm-ro', action: 'subscribe', topic: 'devices/therm-ro/setpoint' }).decision, 'allow');
    // Repeated evidence does not re-apply or flap.
    assert.deepEqual((await engine.submitTrust('therm-ro')).map((p) => p.decision), ['none']);
    const [a] = await engine.listActions({ device: 'therm-ro' });
    await engine.undo(a!.id, 'test');
    assert.ok(!(await cp.inventory.get('therm-ro')).tags.includes(READ_ONLY_TAG));
    pdp = await loadPdp(cp);
    assert.equal(pdp.decide({ principal: 'therm-ro', action: 'publish', topic: 'devices/therm-ro/telemetry' }).decision, 'allow');
  });

  it('revoke waits for approval by default and is never undone; attestation failure suspends', async () => {
    await cp.inventory.add({ id: 'clone-1', name: 'c', type: 'lock' }, 'test');
    const dup = (): AlertInput => ({ key: 'clone-1', rule: 'duplicate-identity', severity: 'high', score: 1, summary: 'one identity from two addresses', observed: { addresses: '10.0.0.1,10.0.0.2' }, baseline: {} });
    const first = await engine.submitAlert(dup());
    assert.deepEqual(first?.plan.map((p) => [p.action, p.decision]), [['quarantine', 'apply']]);
    const second = await engine.submitAlert(dup());
    assert.deepEqual(second?.plan.map((p) => [p.action, p.decision]), [['revoke', 'pending']]);
    assert.match(second!.plan[0]!.why.join(' '), /requires approval \(not undoable\)/);
    assert.equal((await cp.inventory.get('clone-1')).state, 'quarantined');
    const third = await engine.submitAlert(dup());
    assert.equal(third?.plan[0]?.decision, 'none', 'one pending revoke is enough');
    const done = await engine.approve(second!.plan[0]!.actionId!, 'token:admin');
    assert.equal(done.status, 'applied');
    assert.equal((await cp.inventory.get('clone-1')).state, 'revoked');
    await assert.rejects(engine.undo(done.id, 'token:admin'), (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_RESPONSE_STATE' && /cannot be undone/.test(e.message));

    await cp.inventory.add({ id: 'plc-att', name: 'p', type: 'plc' }, 'test');
    const att = await engine.submitAlert({ key: 'plc-att', rule: 'attestation-failed', severity: 'high', score: 1, summary: 'PCR 7 mismatch' });
    assert.deepEqual(att?.plan.map((p) => [p.step, p.decision]), [['quarantine-attestation', 'apply']]);
    assert.equal((await cp.inventory.get('plc-att')).state, 'quarantined');
    const audit = await cp.audit.list({ subject: 'plc-att', action: 'device.quarantine' });
    assert.match(String((audit[0]!.details as { reason: string }).reason), /playbook default v\d+ step quarantine-attestation/);
  });

  it('zeta playbook apply stores a new version from a file; an invalid file changes nothing', async () => {
    const before = (await engine.playbookHistory('default')).length;
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...DEFAULT_PLAYBOOK, steps: [{ id: 'x', action: 'quarantine', when: { trustBelow: 500 } }] }));
    const r1 = await zeta(['playbook', 'apply', bad, '--data', dir.path, '--json']);
    assert.equal(r1.code, 2);
    assert.match(r1.stdout, /ZETA_ERR_PLAYBOOK_INVALID[\s\S]*steps\.0\.when\.trustBelow/);
    writeFileSync(bad, '{ not json');
    assert.match((await zeta(['playbook', 'apply', bad, '--data', dir.path, '--json'])).stdout, /ZETA_ERR_PLAYBOOK_INVALID/);
    assert.equal((await engine.playbookHistory('default')).length, before);
    const good = join(dir.path, 'good.json');
    writeFileSync(good, JSON.stringify({ ...DEFAULT_PLAYBOOK, guard: { ...DEFAULT_PLAYBOOK.guard, maxDevices: 1000 }, description: 'from a file' }));
    const r2 = await zeta(['playbook', 'apply', good, '--data', dir.path, '--json']);
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.equal((JSON.parse(r2.stdout) as { version: number }).version, before + 1);
    const shown = JSON.parse((await zeta(['playbook', 'show', 'default', '--data', dir.path, '--json'])).stdout) as { version: number; playbook: { description: string } };
    assert.equal(shown.version, before + 1);
    assert.equal(shown.playbook.description, 'from a file');
    const audit = await cp.audit.list({ action: 'playbook.put', subject: 'default' });
    assert.equal(audit.length, before + 1);
  });

  it('alerts: filters, ack once, unknown ids refused', async () => {
    const open = await engine.alerts.list({ device: 'clone-1' });
    assert.equal(open.length, 3);
    assert.ok(open.every((a) => a.explanation.observed !== undefined));
    const acked = await engine.alerts.setState(open[0]!.id, 'acknowledged', 'token:op', 'on it');
    assert.equal(acked.state, 'acknowledged');
    await rejects(engine.alerts.setState(open[0]!.id, 'acknowledged', 'token:op'), 'ZETA_ERR_RESPONSE_STATE');
    assert.equal((await engine.alerts.list({ device: 'clone-1', state: 'open' })).length, 2);
    assert.equal((await engine.alerts.list({ severity: 'low' })).length, 0);
    await rejects(engine.alerts.get('alr-nope'), 'ZETA_ERR_NOT_FOUND');
    await rejects(engine.undo('rsp-nope', 'x'), 'ZETA_ERR_NOT_FOUND');
    const r = await zeta(['alerts', 'list', '--device', 'clone-1', '--state', 'acknowledged', '--data', dir.path, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { alerts: { id: string }[] }).alerts.map((a) => a.id), [open[0]!.id]);
  });
  it('alert retention is bounded by count and age', async () => {
    const store = new AlertStore(cp.store, cp.audit, cp.clock, { maxAlerts: 5, retentionDays: 1 });
    await cp.store.db.deleteFrom('alerts').execute();
    const old = await store.raise(scan('10.1.2.3'));
    await cp.store.db.updateTable('alerts').set({ ts: new Date(Date.now() - 2 * 86_400_000).toISOString() }).where('id', '=', old.id).execute();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const a = await store.raise(scan(`10.1.2.${10 + i}`));
      // Distinct times: alerts raised within one millisecond are pruned in no particular order.
      await cp.store.db.updateTable('alerts').set({ ts: new Date(Date.now() - 60_000 + i).toISOString() }).where('id', '=', a.id).execute();
      ids.push(a.id);
    }
    assert.equal(await store.prune(), 3);
    const left = (await store.list({ limit: 100 })).map((a) => a.id).sort();
    assert.deepEqual(left, ids.slice(2).sort());
    assert.equal(left.length, 5);
  });
});

it('a data directory never served has the shipped playbook in force as version 0; storing another keeps it', async () => {
  const dir = tempDir('zeta-resp-v0-');
  const cp = await ControlPlane.open(makeConfig({ dataDir: dir.path, logLevel: 'silent' }), { requireCa: false });
  try {
    await cp.init('test');
    const e = responseEngine(cp);
    assert.deepEqual((await e.playbooks()).map((b) => [b.name, b.version]), [['default', 0]]);
    await e.putPlaybook({ name: 'cams', guard: { maxDevices: 2, maxSegmentPercent: 10, windowMinutes: 30 }, steps: [{ id: 'q', action: 'quarantine', when: { deviceTypes: ['camera'], severityAtLeast: 'high' } }] }, 'test');
    assert.deepEqual((await e.playbooks()).map((b) => [b.name, b.version]), [['cams', 1], ['default', 1]]);
  } finally {
    await cp.close();
    dir.cleanup();
  }
});
