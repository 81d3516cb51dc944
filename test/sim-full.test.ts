/**
 * `zeta sim --mode full` against a real server: devices added through the API, enrolled over EST
 * with their own keys, connected through the gateway with their certificates; the attacks MQTT can
 * carry are performed for real, and the server's Monitor raises alerts that match the labels.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, zeta } from './helpers.js';
import { runFullSim, type FullProgress, type FullSummary } from '../src/sim/index.js';

it('a small real fleet: attacks through the gateway are labelled and raised as alerts by the server', async () => {
  const s = await startTestServer();
  const work = tempDir('zeta-simfull-');
  try {
    const server = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    const events: FullProgress[] = [];
    let summary: FullSummary | undefined;
    for await (const ev of runFullSim({
      server, token: s.adminToken, caFile: s.caBundlePath, mqtt: `mqtts://localhost:${s.h.gateway!.port}`, outDir: work.path,
      devices: 10, speed: 600, warmupS: 4, settleS: 32, prefix: 'simt',
      attacks: ['bruteforce', 'clone', 'lateral', 'flood', 'beacon', 'topic-scan', 'scan'],
    })) {
      events.push(ev);
      if (ev.type === 'done') summary = ev.summary;
    }
    assert.ok(summary !== undefined);
    assert.equal(summary.devices, 10);
    // Real enrollment: every device has its own key and a certificate naming it.
    const { devices } = await s.cp.inventory.list({});
    const ours = devices.filter((d) => d.id.includes('-simt-'));
    assert.equal(ours.length, 10);
    for (const d of ours) {
      assert.ok(d.certificate !== null, `${d.id} enrolled`);
      assert.ok(existsSync(join(work.path, 'devices', d.id, 'key.pem')));
    }
    assert.ok(summary.messagesPublished > 0);
    // Labels beside the events, one line per attack episode.
    const labels = readFileSync(join(work.path, 'labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; keys: string[] });
    assert.deepEqual(labels.map((l) => l.kind), ['bruteforce', 'clone', 'lateral', 'flood', 'beacon', 'topic-scan', 'scan']);
    assert.ok(readFileSync(join(work.path, 'events.jsonl'), 'utf8').includes('"attack_clone_connect"'));
    // The server's Monitor found labelled attacks, and its API lists those alerts.
    const detected = summary.episodes.filter((e) => e.detected);
    assert.ok(detected.length >= 1, JSON.stringify(summary.episodes));
    const byKind = Object.fromEntries(summary.episodes.map((e) => [e.kind, e]));
    assert.ok(byKind.clone?.detected === true && byKind.clone.rules.includes('duplicate-identity'), JSON.stringify(byKind.clone));
    assert.ok(byKind.bruteforce?.detected === true && byKind.bruteforce.rules.includes('auth-failure-burst'), JSON.stringify(byKind.bruteforce));
    const api = await fetchAlerts(s.h.apiUrl, s.adminToken, s.caBundlePath);
    for (const e of detected) assert.ok(api.some((a) => e.keys.includes(a.key)), `alert for ${e.kind} in GET /api/v1/alerts`);
    // This server has no Zeek ingest endpoint: network-level records are kept in a file, with a notice.
    if (byKind.scan?.delivered === 'file') {
      assert.ok(events.some((e) => e.type === 'notice' && e.message.includes('ingest')));
      assert.ok(readFileSync(join(work.path, 'network.zeek.jsonl'), 'utf8').split('\n').length > 100);
    }
  } finally {
    await s.close();
    work.cleanup();
  }
});

it('full mode refuses a bad token before it adds anything, and needs --ca-file', async () => {
  const s = await startTestServer();
  const work = tempDir('zeta-simfull-');
  try {
    const server = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    const r = await zeta(['sim', '--mode', 'full', '--server', server, '--token', 'zeta_wrong', '--ca-file', s.caBundlePath, '--out', work.path, '--json']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /ZETA_ERR_(FORBIDDEN|UNAUTHENTICATED|SERVER)/);
    assert.equal((await s.cp.inventory.list({})).total, 0, 'no device was added');
    const noCa = await zeta(['sim', '--mode', 'full', '--server', server, '--token', s.adminToken, '--out', work.path, '--json']);
    assert.equal(noCa.code, 2);
    assert.match(noCa.stdout, /--ca-file/);
  } finally {
    await s.close();
    work.cleanup();
  }
});

async function fetchAlerts(apiUrl: string, token: string, caFile: string): Promise<{ key: string; rule: string }[]> {
  const { request } = await import('node:https');
  const url = new URL('/api/v1/alerts?limit=500', apiUrl.replace('127.0.0.1', 'localhost'));
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve((JSON.parse(body) as { alerts: { key: string; rule: string }[] }).alerts));
    });
    req.on('error', reject);
    req.end();
  });
}
