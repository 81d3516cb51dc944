/**
 * The whole path as a user runs it: `zeta serve` with its gateway, devices enrolled by the agent,
 * mosquitto_pub / mosquitto_sub and `zeta agent publish|subscribe` over mTLS, a revoke made with
 * the CLI on the data directory cutting a live session within a second (change feed), metrics, and
 * a standalone `zeta gateway` in front of the Mosquitto broker on 127.0.0.1:1883.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { startTestServer, tempDir, zeta, execFileP, freePort, ZETA_BIN, type TestServer } from './helpers.js';
import { enroll, connectDevice } from '../src/agent/index.js';

function waitFor(child: ChildProcess, re: RegExp, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${out}`)), ms);
    const on = (d: Buffer): void => {
      out += d.toString();
      if (re.test(out)) { clearTimeout(t); resolve(out); }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  });
}

describe('gateway inside zeta serve, with real clients', () => {
  let s: TestServer;
  const work = tempDir('zeta-gw-');
  const run = randomBytes(3).toString('hex');
  const dirs: Record<string, string> = {};
  const ids: Record<string, string> = {};
  let mqttUrl = '';
  const children: ChildProcess[] = [];

  before(async () => {
    s = await startTestServer();
    mqttUrl = `mqtts://localhost:${s.h.gateway!.port}`;
    for (const name of ['cam', 'thermo', 'victim']) {
      const d = await s.cp.inventory.add({ id: `${name}-${run}`, name, type: name === 'cam' ? 'camera' : 'thermostat', segment: 'building' }, 'test');
      ids[name] = d.device.id;
      dirs[name] = join(work.path, name);
      await enroll({ server: s.h.apiUrl.replace('127.0.0.1', 'localhost'), deviceId: d.device.id, token: d.enrollmentToken, outDir: dirs[name]! });
    }
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await s?.close();
    work.cleanup();
  });

  const tlsArgs = (name: string): string[] => ['--cafile', join(dirs[name]!, 'ca.pem'), '--cert', join(dirs[name]!, 'cert.pem'), '--key', join(dirs[name]!, 'key.pem')];

  it('mosquitto_sub and mosquitto_pub talk to the broker through the gateway with enrolled certificates', async () => {
    const port = String(s.h.gateway!.port);
    const broker = s.h.gateway!.gateway.embeddedBroker!;
    // broker → device: an application publishes a command; the camera's mosquitto_sub receives it.
    const cmdTopic = `devices/${ids.cam}/cmd`;
    const sub = spawn('mosquitto_sub', ['-h', 'localhost', '-p', port, ...tlsArgs('cam'), '-t', `devices/${ids.cam}/#`, '-C', '1', '-W', '10', '-v']);
    children.push(sub);
    const subClosed = new Promise<number | null>((r) => sub.on('close', r));
    let out = '';
    sub.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const t0 = Date.now();
    while (!s.h.gateway!.gateway.sessions().some((x) => x.deviceId === ids.cam && x.subscriptions.length > 0) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    broker.publish({ cmd: 'publish', topic: cmdTopic, payload: Buffer.from('reboot'), qos: 1, retain: false, dup: false }, () => undefined);
    const code = await subClosed;
    assert.equal(code, 0);
    assert.equal(out.trim(), `${cmdTopic} reboot`);
    // device → broker: the thermostat's mosquitto_pub reaches the broker.
    const events = broker as unknown as EventEmitter;
    const seen = new Promise<string>((resolve) => {
      const h = (packet: { topic: string; payload: Buffer }): void => {
        if (packet.topic === `devices/${ids.thermo}/telemetry`) { events.off('publish', h); resolve(packet.payload.toString()); }
      };
      events.on('publish', h);
    });
    await execFileP('mosquitto_pub', ['-h', 'localhost', '-p', port, ...tlsArgs('thermo'), '-t', `devices/${ids.thermo}/telemetry`, '-m', '{"temp":21.5}', '-q', '1']);
    assert.equal(await seen, '{"temp":21.5}');
  });

  it('zeta agent publish to another device\'s topic is refused; to its own topic it works', async () => {
    const denied = await zeta(['agent', 'publish', '--server', mqttUrl, '--dir', dirs.thermo!, '--topic', `devices/${ids.cam}/cmd`, '--message', 'open', '--json']);
    assert.notEqual(denied.code, 0, denied.stdout);
    assert.match(denied.stdout, /refused/);
    const ok = await zeta(['agent', 'publish', '--server', mqttUrl, '--dir', dirs.thermo!, '--topic', `devices/${ids.thermo}/telemetry`, '--message', '20', '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const ev = s.h.gateway!.recentEvents.filter((e) => e.deviceId === ids.thermo && e.type === 'publish_denied');
    assert.ok(ev.length >= 1, 'the denial is an event for monitoring');
  });

  it('zeta agent subscribe to # is refused', async () => {
    const r = await zeta(['agent', 'subscribe', '--server', mqttUrl, '--dir', dirs.thermo!, '--topic', '#', '--count', '1', '--json']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /refused/);
  });

  it('a revoke made with the CLI on the data directory cuts the live session within a second', async () => {
    const { client } = await connectDevice({ server: mqttUrl, dir: dirs.victim! });
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    const r = await zeta(['device', 'revoke', '--data', s.dataDir, ids.victim!, '--reason', 'keyCompromise', '--json']);
    const revokedAt = Date.now();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const closedAt = await Promise.race([closed, new Promise<number>((res) => setTimeout(() => res(-1), 3000))]);
    client.end(true);
    assert.ok(closedAt > 0, 'session was not closed');
    assert.ok(closedAt - revokedAt < 1000, `closed ${closedAt - revokedAt} ms after the revoke committed`);
    // and it cannot come back
    await assert.rejects(connectDevice({ server: mqttUrl, dir: dirs.victim!, connectTimeoutMs: 3000 }));
  });

  it('exposes Prometheus metrics and live sessions through the API', async () => {
    const m = await execFileP('curl', ['-sS', '--cacert', s.caBundlePath, '-H', `authorization: Bearer ${s.adminToken}`, `${s.h.apiUrl.replace('127.0.0.1', 'localhost')}/metrics`]);
    assert.match(m.stdout, /^# (HELP|TYPE) /m);
    assert.match(m.stdout, /zeta_gateway_/);
    const unauth = await execFileP('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', s.caBundlePath, `${s.h.apiUrl.replace('127.0.0.1', 'localhost')}/metrics`]);
    assert.equal(unauth.stdout, '401');
  });

  it('zeta gateway --upstream forwards to Mosquitto on 127.0.0.1:1883, and enforces the same policy', async () => {
    const port = await freePort();
    const gw = spawn(process.execPath, [ZETA_BIN, 'gateway', '--data', s.dataDir, '--upstream', 'mqtt://127.0.0.1:1883', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(gw);
    await waitFor(gw, /listening on mqtts:/);
    const topic = `devices/${ids.cam}/status/ext-${run}`;
    // A plain subscriber directly on the broker (the operator's side) sees what the device published.
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', '1883', '-t', topic, '-C', '1', '-W', '10']);
    children.push(sub);
    const subClosed = new Promise<number | null>((r) => sub.on('close', r));
    let got = '';
    sub.stdout.on('data', (d: Buffer) => { got += d.toString(); });
    await new Promise((r) => setTimeout(r, 400));
    await execFileP('mosquitto_pub', ['-h', 'localhost', '-p', String(port), ...tlsArgs('cam'), '-t', topic, '-m', 'via-gateway', '-q', '1']);
    await subClosed;
    assert.equal(got.trim(), 'via-gateway');
    const denied = await zeta(['agent', 'publish', '--server', `mqtts://localhost:${port}`, '--dir', dirs.cam!, '--topic', `devices/${ids.thermo}/x`, '--message', 'no', '--json']);
    assert.notEqual(denied.code, 0);
    gw.kill('SIGTERM');
  });
});
