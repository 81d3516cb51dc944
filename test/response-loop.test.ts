/**
 * The closed loop inside zeta serve: an attack through the real gateway (a burst of forbidden
 * subscriptions: topic scanning) → an explained alert, persisted → the default playbook
 * quarantines the device → its live MQTT session is cut → the webhook receives the alert and the
 * action, signed → undo (CLI against the server) restores it and it connects again → restrict:
 * it may still subscribe, its publish is refused by the gateway (forbid-publish-when-read-only).
 * Then sensor ingest over HTTPS with curl: a Zeek TSV scan → the device behind the address is
 * quarantined; bad lines are reported, an oversize body is refused, a busy server answers 429.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { createHmac } from 'node:crypto';
import { startTestServer, tempDir, zeta, freePort, execFileP } from './helpers.js';
import { enroll, connectDevice } from '../src/agent/index.js';
import { zeekTsvHeader } from '../src/monitor/index.js';
import { emitChange } from '../src/store/index.js';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('a topic-scanning device is quarantined by the default playbook, its session cut, the webhook told; undo restores it; restrict refuses its publishes at the gateway', async () => {
  const secret = 'loop-test-webhook-secret-0123456789';
  const hooks: { body: string; sig: string }[] = [];
  const receiver = createServer((req: IncomingMessage, res) => {
    let b = '';
    req.on('data', (d: Buffer) => { b += d.toString(); });
    req.on('end', () => { hooks.push({ body: b, sig: String(req.headers['x-zeta-signature']) }); res.writeHead(204).end(); });
  });
  const hookPort = await freePort();
  await new Promise<void>((r) => receiver.listen(hookPort, '127.0.0.1', r));
  const s = await startTestServer({ alertWebhookUrl: `http://127.0.0.1:${hookPort}/zeta`, alertWebhookSecret: secret });
  const work = tempDir('zeta-resp-loop-');
  try {
    const d = await s.cp.inventory.add({ id: 'cam-scan-1', name: 'cam', type: 'camera', segment: 'cams' }, 'test');
    const dir = join(work.path, 'cam');
    await enroll({ server: s.h.apiUrl.replace('127.0.0.1', 'localhost'), deviceId: d.device.id, token: d.enrollmentToken, outDir: dir });
    const mqttUrl = `mqtts://localhost:${s.h.gateway!.port}`;
    const { client } = await connectDevice({ server: mqttUrl, dir, connectTimeoutMs: 5000 });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    // Scanning other devices' command topics: each is refused (SUBACK 0x80), the session stays up
    // until the response cuts it (which may come before the last SUBACK: nothing awaits them).
    for (let i = 0; i < 10; i++) client.subscribe(`devices/victim-${i}/cmd`, { qos: 0 }, () => undefined);
    await until('the session to be cut', () => Promise.race([closed.then(() => true), new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]));
    assert.equal((await s.cp.inventory.get(d.device.id)).state, 'quarantined');
    const denied = s.h.gateway!.recentEvents.filter((e) => e.type === 'subscribe_denied' && e.deviceId === d.device.id);
    assert.ok(denied.length >= 6, `${denied.length} scanning subscriptions refused`);

    const env = { ZETA_SERVER: s.h.apiUrl.replace('127.0.0.1', 'localhost'), ZETA_TOKEN: s.adminToken, ZETA_CA_FILE: s.caBundlePath };
    const list = await zeta(['alerts', 'list', '--device', d.device.id, '--json'], env);
    assert.equal(list.code, 0, list.stderr + list.stdout);
    const alerts = (JSON.parse(list.stdout) as { alerts: { id: string; rule: string; severity: string; state: string; explanation: { observed: object; baseline: object } }[] }).alerts;
    const alert = alerts.find((a) => a.rule === 'auth-failure-burst');
    assert.ok(alert !== undefined, list.stdout);
    assert.equal(alert.severity, 'high');
    assert.equal(alert.state, 'open');
    assert.ok(Object.keys(alert.explanation.observed).length > 0 && alert.explanation.baseline !== undefined, 'the alert explains itself');

    const shown = JSON.parse((await zeta(['alerts', 'show', alert.id, '--json'], env)).stdout) as { actions: { id: string; action: string; status: string; actor: string; reason: string }[] };
    const q = shown.actions.find((a) => a.action === 'quarantine');
    assert.ok(q !== undefined, JSON.stringify(shown));
    assert.equal(q.status, 'applied');
    assert.equal(q.actor, 'response:auto');
    assert.match(q.reason, /playbook default v1 step quarantine-attack: .*rule auth-failure-burst/);
    const audit = await s.cp.audit.list({ action: 'response.applied', subject: d.device.id });
    assert.ok(audit.some((e) => (e.details as { id?: string }).id === q.id));
    assert.ok(s.h.recentChanges.some((c) => c.kind === 'alert.raised' && c.subject === d.device.id));
    assert.ok(s.h.recentChanges.some((c) => c.kind === 'response.applied' && c.subject === d.device.id));

    // The webhook got the alert and the action, each signed over "<t>.<body>".
    const got = await until('webhook deliveries', async () => {
      const evs = hooks.map((h) => ({ ...h, ev: JSON.parse(h.body) as { type: string; alert?: { id: string }; action?: { id: string } } }));
      return evs.some((e) => e.ev.alert?.id === alert.id) && evs.some((e) => e.ev.action?.id === q.id) ? evs : undefined;
    });
    for (const h of got) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(h.sig);
      assert.ok(m !== null);
      assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 300, 'fresh timestamp');
      assert.equal(createHmac('sha256', secret).update(`${m[1]}.${h.body}`).digest('hex'), m[2]);
    }

    const ack = await zeta(['alerts', 'ack', alert.id, '--note', 'investigating', '--json'], env);
    assert.equal(ack.code, 0, ack.stdout);
    assert.equal((JSON.parse(ack.stdout) as { state: string }).state, 'acknowledged');

    const undo = await zeta(['response', 'undo', q.id, '--json'], env);
    assert.equal(undo.code, 0, undo.stdout + undo.stderr);
    assert.equal((await s.cp.inventory.get(d.device.id)).state, 'active');
    const again = await connectDevice({ server: mqttUrl, dir, connectTimeoutMs: 5000 });
    again.client.end(true);

    // Restrict (read-only) through the real gateway: the operator applies that step; reads still
    // work, a publish is refused (MQTT 3.1.1 cannot say no to a publish: the gateway disconnects).
    const rs = await zeta(['alerts', 'respond', alert.id, '--step', 'restrict-low-trust', '--json'], env);
    assert.equal(rs.code, 0, rs.stdout + rs.stderr);
    assert.deepEqual((JSON.parse(rs.stdout) as { plan: { action: string; decision: string }[] }).plan.map((p) => [p.action, p.decision]), [['restrict', 'apply']]);
    const topic = `devices/${d.device.id}/status`;
    await until('the PDP to see the read-only tag', async () => (s.h.pdp.decide({ principal: d.device.id, action: 'publish', topic }).decision === 'deny' ? true : undefined));
    const ro = await connectDevice({ server: mqttUrl, dir, connectTimeoutMs: 5000 });
    try {
      const granted = await new Promise<number>((r) => ro.client.subscribe(`devices/${d.device.id}/cmd`, { qos: 1 }, (_e, g) => r(g?.[0]?.qos ?? -1)));
      assert.equal(granted, 1, 'reads are still allowed');
      const cut = new Promise<void>((r) => ro.client.once('close', () => r()));
      ro.client.publish(topic, 'ok', { qos: 1 });
      await cut;
      const refused = s.h.gateway!.recentEvents.filter((e) => e.type === 'publish_denied' && e.deviceId === d.device.id);
      assert.ok(refused.some((e) => /forbid-publish-when-read-only/.test(String(e.detail))), JSON.stringify(refused));
    } finally {
      ro.client.end(true);
    }
  } finally {
    await s.close();
    await new Promise((r) => receiver.close(r));
    work.cleanup();
  }
});

it('ingest: curl posts a Zeek TSV scan; bad lines are reported, the scanner is quarantined; oversize → 413, busy → 429', async () => {
  const s = await startTestServer({ ingestMaxBodyBytes: 64 * 1024, ingestMaxConcurrent: 1 });
  const work = tempDir('zeta-ingest-');
  try {
    await s.cp.inventory.add({ id: 'plc-scan-1', name: 'plc', type: 'plc' }, 'test');
    await s.cp.segments.setDeviceAddresses('plc-scan-1', ['10.9.0.5'], 'test');
    const t0 = Date.now() / 1000;
    const lines = [zeekTsvHeader(Date.now()).trimEnd()];
    for (let i = 1; i <= 40; i++) {
      lines.push([(t0 + i * 0.5).toFixed(6), `C${i}`, '10.9.0.5', 40000 + i, `10.9.1.${i}`, 23, 'tcp', '-', '0.000001', 0, 0, 'S0', '-', '-', 0, 'S', 1, 44, 0, 0, '-'].join('\t'));
      if (i === 10) lines.push('this is not a conn.log line');
      if (i === 20) lines.push([(t0 + 20).toFixed(6), 'Cbad', '10.9.0.5', 'http', '10.9.1.1', 23, 'tcp', '-', '0', 0, 0, 'S0', '-', '-', 0, 'S', 1, 44, 0, 0, '-'].join('\t'));
      if (i === 30) lines.push('x'.repeat(20_000));
    }
    const file = join(work.path, 'conn.log');
    writeFileSync(file, lines.join('\n') + '\n');
    const url = `${s.h.apiUrl.replace('127.0.0.1', 'localhost')}/api/v1/ingest/zeek-conn`;
    const curl = async (args: string[]): Promise<{ status: number; headers: string; body: string }> => {
      const hdr = join(work.path, `h-${Math.random()}`);
      const r = await execFileP('curl', ['-sS', '--cacert', s.caBundlePath, '-D', hdr, '-o', '-', '-w', '\n%{http_code}', ...args]);
      const i = r.stdout.lastIndexOf('\n');
      return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i), headers: readFileSync(hdr, 'utf8') };
    };
    const auth = ['-H', `authorization: Bearer ${s.adminToken}`];
    const r = await curl([...auth, '-H', 'content-type: text/plain', '--data-binary', `@${file}`, url]);
    assert.equal(r.status, 200, r.body);
    const out = JSON.parse(r.body) as { accepted: number; rejected: { line: number; error: string }[]; rejectedTotal: number };
    assert.equal(out.accepted, 40);
    assert.equal(out.rejectedTotal, 3);
    assert.deepEqual(out.rejected.map((x) => x.line), [8 + 10 + 1, 8 + 20 + 2, 8 + 30 + 3]);
    assert.match(out.rejected[2]!.error, /longer than 16384/);
    await until('the scanner to be quarantined', async () => ((await s.cp.inventory.get('plc-scan-1')).state === 'quarantined' ? true : undefined));
    const persisted = await s.cp.store.db.selectFrom('alerts').selectAll().where('device_id', '=', 'plc-scan-1').execute();
    assert.ok(persisted.some((a) => a.rule === 'fan-out-hosts' && a.key === '10.9.0.5'), JSON.stringify(persisted.map((a) => a.rule)));

    // Oversize: refused from Content-Length before anything is read.
    const big = join(work.path, 'big.log');
    writeFileSync(big, (lines[9]! + '\n').repeat(2000));
    const r413 = await curl([...auth, '-H', 'content-type: text/plain', '--data-binary', `@${big}`, url]);
    assert.equal(r413.status, 413);
    assert.equal((JSON.parse(r413.body) as { code: string }).code, 'ZETA_ERR_PAYLOAD_TOO_LARGE');
    // Unknown format, no token.
    assert.equal((await curl([...auth, '--data-binary', 'x', url.replace('zeek-conn', 'pcap')])).status, 400);
    assert.equal((await curl(['--data-binary', `@${file}`, url])).status, 401);

    // Busy: one streaming request holds the only slot; the next is answered 429 with Retry-After.
    const held = request(url, { method: 'POST', ca: readFileSync(s.caBundlePath), headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'text/plain', 'transfer-encoding': 'chunked' } });
    const heldDone = new Promise<{ status: number; body: string }>((resolve, reject) => {
      held.on('response', (res) => { let b = ''; res.on('data', (c: Buffer) => { b += c.toString(); }); res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b })); });
      held.on('error', reject);
    });
    held.write(lines.slice(0, 3).join('\n') + '\n');
    await until('the held request to be in flight', async () => {
      const probe = await curl([...auth, '-H', 'content-type: text/plain', '--data-binary', '', url]);
      return probe.status === 429 ? probe : undefined;
    }).then((busy) => {
      assert.match(busy.headers, /^retry-after: 1\r?$/im);
      assert.equal((JSON.parse(busy.body) as { code: string }).code, 'ZETA_ERR_RATE_LIMITED');
    });
    held.end(lines.slice(3, 6).join('\n') + '\n');
    const done = await heldDone;
    assert.equal(done.status, 200, done.body);
    assert.equal((JSON.parse(done.body) as { accepted: number }).accepted, 5);
  } finally {
    await s.close();
    work.cleanup();
  }
});

it('a device.attestation_failed change raises an alert and quarantines the device (default playbook)', async () => {
  const s = await startTestServer();
  try {
    await s.cp.inventory.add({ id: 'plc-att-1', name: 'plc', type: 'plc' }, 'test');
    // Another component (attestation) reports a failure on the change feed.
    await s.cp.store.writeTx(async (tx) => { await emitChange(tx, new Date(), 'device.attestation_failed', 'plc-att-1', { reason: 'PCR 7 does not match the reference value', code: 'ZETA_ERR_ATTESTATION_FAILED' }); });
    await s.h.feed.poll();
    await until('quarantine', async () => ((await s.cp.inventory.get('plc-att-1')).state === 'quarantined' ? true : undefined));
    const a = await s.cp.store.db.selectFrom('alerts').selectAll().where('device_id', '=', 'plc-att-1').execute();
    assert.deepEqual(a.map((x) => [x.rule, x.severity]), [['attestation-failed', 'high']]);
    assert.match(a[0]!.summary, /PCR 7/);
  } finally {
    await s.close();
  }
});
