/**
 * Multi-process gateway (runGatewayCluster): two workers sharing one port, forwarding to the
 * Mosquitto on 127.0.0.1:1883 (shared, so every device id carries a per-run suffix). Round trip,
 * denial, identities across workers, gathered sessions/metrics/events; the workers are always
 * stopped.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { runGatewayCluster, type GatewayCluster, type GatewayEvent } from '../src/gateway/index.js';
import { createTestPki, type DeviceCreds, type TestPki } from '../src/gateway/test-fixtures.js';

const RUN = randomBytes(4).toString('hex');
const STATUS_MODULE = new URL('../src/gateway/memory-status-source.ts', import.meta.url);

let pki: TestPki;
let gc: GatewayCluster | null = null;
const events: (GatewayEvent & { worker: number })[] = [];
const open: MqttClient[] = [];
const devices: Record<string, DeviceCreds> = {};

function connect(d: DeviceCreds, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(`mqtts://localhost:${gc!.port}`, { ca: pki.caBundle, key: d.key, cert: d.cert, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
  open.push(c);
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!c.connected) resolve();
    c.once('close', () => resolve());
  });
}

async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  pki = createTestPki();
  for (const name of ['a', 'b', 'dup', 'gone']) devices[name] = pki.device(`cl-${name}-${RUN}`);
  const records = Object.fromEntries(
    Object.entries(devices)
      .filter(([name]) => name !== 'gone')
      .map(([, d]) => [d.deviceId, { state: 'active', segment: `seg-${RUN}` }]),
  );
  gc = await runGatewayCluster({
    workers: 2,
    trustDomain: pki.trustDomain,
    tls: { ...pki.server, ca: pki.caBundle },
    status: { module: STATUS_MODULE, export: 'createMemoryStatusSource', options: { devices: records } },
    upstream: 'mqtt://127.0.0.1:1883',
    port: 0,
  });
  gc.on('event', (e) => events.push(e));
});

after(async () => {
  for (const c of open) c.end(true);
  await gc?.close();
  pki.cleanup();
});

describe('gateway cluster (2 workers → Mosquitto)', () => {
  it('refuses an embedded upstream and a missing status factory', async () => {
    const base = { trustDomain: pki.trustDomain, tls: { ...pki.server, ca: pki.caBundle }, port: 0 };
    await assert.rejects(runGatewayCluster({ ...base, upstream: 'embedded', status: { module: STATUS_MODULE } }), /external upstream/);
    await assert.rejects(runGatewayCluster({ ...base, upstream: 'mqtt://127.0.0.1:1883' } as never), /factory is required/);
  });

  it('has two worker processes on one port', () => {
    assert.equal(gc!.pids.length, 2);
    assert.notEqual(gc!.pids[0], gc!.pids[1]);
    assert.ok(gc!.port > 0);
  });

  it('passes a publish/subscribe round trip across workers and refuses a denied publish', async () => {
    const a = devices.a!;
    const b = devices.b!;
    // Four connections: round-robin puts sessions on both workers.
    const sub = await connect(a, { protocolVersion: 5 });
    const pubB = await connect(b);
    const topic = `segments/seg-${RUN}/x`;
    await sub.subscribeAsync([`devices/${a.deviceId}/#`, topic], { qos: 1 });
    const got: string[] = [];
    sub.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
    await sub.publishAsync(`devices/${a.deviceId}/t`, 'own', { qos: 1 });
    await waitFor(() => got.includes(`devices/${a.deviceId}/t=own`));

    // 5.0 QoS 1 outside the namespace: PUBACK 0x87, the session stays.
    await assert.rejects(sub.publishAsync(`devices/${b.deviceId}/t`, 'nope', { qos: 1 }), /135|Not authorized|0x87/i);
    assert.equal(sub.connected, true);
    // 3.1.1 QoS 0 outside the namespace: the connection is closed.
    const gone = closed(pubB);
    pubB.publish(`devices/${a.deviceId}/t`, 'evil');
    await gone;
    await waitFor(() => events.some((e) => e.type === 'publish_denied' && e.deviceId === b.deviceId));
    assert.ok(!got.some((m) => m.endsWith('=evil')));

    const sessions = await gc!.sessions();
    assert.ok(sessions.some((s) => s.deviceId === a.deviceId));
    const workers = new Set(events.filter((e) => e.type === 'connect').map((e) => e.worker));
    assert.equal(workers.size, 2, 'sessions ran on both workers');
    const metrics = await gc!.metricsText();
    assert.match(metrics, /zeta_gateway_denied_total\{action="publish"\} [1-9]/);
    assert.equal((metrics.match(/^# TYPE zeta_gateway_sessions gauge$/gm) ?? []).length, 1);
    sub.end(true);
  });

  it('refuses an unknown device, and one identity on two workers keeps only the newest session', async () => {
    await assert.rejects(connect(devices.gone!), /Not authorized|5|135/);
    const d = devices.dup!;
    const first = await connect(d);
    const firstGone = closed(first);
    const second = await connect(d);
    await firstGone;
    assert.equal(second.connected, true);
    await waitFor(() => events.some((e) => e.type === 'duplicate_identity' && e.deviceId === d.deviceId) || events.some((e) => e.type === 'disconnect' && e.deviceId === d.deviceId));
    await waitFor(async () => (await gc!.sessions()).filter((s) => s.deviceId === d.deviceId).length === 1);
    second.end(true);
  });
});
