/**
 * One source of truth, two enforcement points: a flow with an MQTT topic prefix, added with the
 * CLI, opens exactly that topic subtree at the gateway for the source segment (the compromised
 * camera still cannot reach the PLC segment), and removing it closes it again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { startTestServer, tempDir, zeta, type TestServer } from './helpers.js';
import { enroll, publishOnce } from '../src/agent/index.js';

describe('segments and flows at the gateway', () => {
  let s: TestServer;
  const work = tempDir('zeta-seg-');
  let camDir = '';
  let mqtt = '';

  before(async () => {
    s = await startTestServer();
    mqtt = `mqtts://localhost:${s.h.gateway!.port}`;
    for (const [name, kind] of [['cams', 'type'], ['building', 'function'], ['ot', 'sensitivity']] as const) {
      const r = await zeta(['segment', 'add', name, '--kind', kind, '--data', s.dataDir, '--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const d = await s.cp.inventory.add({ id: 'cam-seg-1', name: 'cam', type: 'camera', segment: 'cams' }, 'test');
    camDir = join(work.path, 'cam');
    await enroll({ server: s.h.apiUrl.replace('127.0.0.1', 'localhost'), deviceId: d.device.id, token: d.enrollmentToken, outDir: camDir });
  });
  after(async () => {
    await s?.close();
    work.cleanup();
  });

  async function tryPublish(topic: string): Promise<boolean> {
    const broker = s.h.gateway!.gateway.embeddedBroker! as unknown as EventEmitter;
    let seen = false;
    const h = (p: { topic: string }): void => { if (p.topic === topic) seen = true; };
    broker.on('publish', h);
    try {
      await publishOnce({ server: mqtt, dir: camDir, topic, message: 'motion', qos: 1 });
    } catch {
      // refused
    } finally {
      broker.off('publish', h);
    }
    return seen;
  }

  it('a cross-segment topic is denied until a flow allows it, and denied again when it is removed', async () => {
    assert.equal(await tryPublish('segments/building/alerts/motion'), false, 'no flow yet');
    const add = await zeta(['segment', 'allow', '--data', s.dataDir, '--from', 'cams', '--to', 'building', '--mqtt-topic-prefix', 'segments/building/alerts', '--id', 'cam-alerts', '--json']);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    await new Promise((r) => setTimeout(r, 400)); // the change feed delivers within its poll interval
    assert.equal(await tryPublish('segments/building/alerts/motion'), true, 'the flow opens the prefix');
    assert.equal(await tryPublish('segments/building/hvac/setpoint'), false, 'only that prefix');
    assert.equal(await tryPublish('segments/ot/plc/cmd'), false, 'never the OT segment');
    const rm = await zeta(['segment', 'disallow', 'cam-alerts', '--data', s.dataDir, '--json']);
    assert.equal(rm.code, 0, rm.stdout);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await tryPublish('segments/building/alerts/motion'), false, 'closed again');
  });

  it('a flow naming a missing segment is refused and changes nothing', async () => {
    const before = JSON.parse((await zeta(['segment', 'list', '--data', s.dataDir, '--json'])).stdout) as { flows: unknown[] };
    const r = await zeta(['segment', 'allow', '--data', s.dataDir, '--from', 'cams', '--to', 'nowhere', '--json']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(JSON.parse(r.stdout).error.message, /nowhere/);
    const after = JSON.parse((await zeta(['segment', 'list', '--data', s.dataDir, '--json'])).stdout) as { flows: unknown[] };
    assert.equal(after.flows.length, before.flows.length);
  });
});
