/**
 * The monitoring loop inside zeta serve: gateway events → detectors → an explained alert in the
 * audit log and the API → the device's trust score falls → the policy engine sees it.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer, tempDir, zeta } from './helpers.js';
import { enroll, connectDevice } from '../src/agent/index.js';

it('a burst of refused connects raises an explained alert and lowers the trust score the PDP uses', async () => {
  const s = await startTestServer();
  const work = tempDir('zeta-mon-');
  try {
    const d = await s.cp.inventory.add({ id: 'cam-mon-1', name: 'cam', type: 'camera', segment: 'cams' }, 'test');
    const dir = join(work.path, 'cam');
    await enroll({ server: s.h.apiUrl.replace('127.0.0.1', 'localhost'), deviceId: d.device.id, token: d.enrollmentToken, outDir: dir });
    await s.cp.inventory.suspend(d.device.id, 'test', 'investigating');
    const mqtt = `mqtts://localhost:${s.h.gateway!.port}`;
    for (let i = 0; i < 12; i++) await connectDevice({ server: mqtt, dir, connectTimeoutMs: 3000 }).then((c) => c.client.end(true), () => undefined);
    const t0 = Date.now();
    let trust: number | null = null;
    while (Date.now() - t0 < 20_000) {
      trust = (await s.cp.inventory.get(d.device.id)).trustScore;
      if (trust !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(trust !== null && trust < 100, `trust score ${trust}`);
    const shown = JSON.parse((await zeta(['device', 'show', '--data', s.dataDir, d.device.id, '--json'])).stdout) as { trustScore: number; posture: { trustFactors: { name: string }[] } };
    assert.equal(shown.trustScore, trust);
    assert.ok(shown.posture.trustFactors.length > 0);
    const audited = await s.cp.audit.list({ action: 'monitor.alert', subject: d.device.id });
    assert.ok(audited.length >= 1);
    const alert = audited[0]!.details as { rule?: string; explanation?: string; message?: string };
    assert.ok(JSON.stringify(alert).includes('auth-failure-burst'), JSON.stringify(alert));
    await new Promise((r) => setTimeout(r, 300));
    const entity = s.h.pdp.deviceEntities().find((e) => (e.uid as { id: string }).id === d.device.id);
    assert.equal(entity?.attrs?.trustScore, trust, 'the PDP sees the new trust score');
  } finally {
    await s.close();
    work.cleanup();
  }
});
