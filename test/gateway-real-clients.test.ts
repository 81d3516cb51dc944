/**
 * The MQTT gateway end to end with clients nobody here wrote: MQTT.js (3.1.1 and 5.0) and
 * mosquitto_pub / mosquitto_sub, through real mTLS, to the embedded broker and to the Mosquitto on
 * 127.0.0.1:1883 (shared, so every device id carries a per-run suffix). Teardown always runs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { ManualClock } from '../src/common/clock.js';
import { MqttGateway, MemoryDeviceStatusSource, defaultDevicePolicy, type Authorizer, type GatewayEvent, type GatewayOptions } from '../src/gateway/index.js';
import { createTestPki, type DeviceCreds, type TestPki } from '../src/gateway/test-fixtures.js';

const RUN = randomBytes(4).toString('hex');
const MOSQUITTO = 'mqtt://127.0.0.1:1883';

interface Harness {
  gw: MqttGateway;
  port: number;
  events: GatewayEvent[];
  status: MemoryDeviceStatusSource;
}

const open: MqttClient[] = [];

async function startGateway(pki: TestPki, o: Partial<GatewayOptions> = {}): Promise<Harness> {
  const status = (o.status as MemoryDeviceStatusSource | undefined) ?? new MemoryDeviceStatusSource();
  const gw = new MqttGateway({ trustDomain: pki.trustDomain, tls: { ...pki.server, ca: pki.caBundle }, status, ...o });
  const events: GatewayEvent[] = [];
  gw.on('event', (e) => events.push(e));
  const { port } = await gw.listen(0);
  return { gw, port, events, status };
}

function clientOptions(creds: DeviceCreds | null, pki: TestPki, extra: IClientOptions): IClientOptions {
  return {
    ca: pki.caBundle,
    ...(creds === null ? {} : { key: creds.key, cert: creds.cert }),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  };
}

async function connect(port: number, creds: DeviceCreds | null, pki: TestPki, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(`mqtts://localhost:${port}`, clientOptions(creds, pki, extra));
  open.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return c;
}

async function connectFails(port: number, creds: DeviceCreds | null, pki: TestPki, extra: IClientOptions = {}): Promise<{ code?: number; message: string }> {
  try {
    const c = await connect(port, creds, pki, extra);
    c.end(true);
    return assert.fail('connection was accepted');
  } catch (e) {
    const err = e as Error & { code?: number | string };
    return { ...(typeof err.code === 'number' ? { code: err.code } : {}), message: err.message };
  }
}

function nextMessage(c: MqttClient, timeoutMs = 5000): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), timeoutMs);
    c.once('message', (topic, payload) => {
      clearTimeout(t);
      resolve({ topic, payload: payload.toString() });
    });
  });
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (c.disconnected || !c.connected) resolve();
    c.once('close', () => resolve());
  });
}

async function waitFor(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function tlsArgs(pki: TestPki, d: DeviceCreds, port: number): string[] {
  return ['-h', 'localhost', '-p', String(port), '--cafile', pki.caPath, '--cert', d.certPath, '--key', d.keyPath];
}

let pki: TestPki;
before(() => {
  pki = createTestPki();
});
after(() => {
  for (const c of open) c.end(true);
  pki.cleanup();
});

for (const target of ['embedded', 'mosquitto'] as const) {
  describe(`gateway → ${target}`, () => {
    let h: Harness;
    const upstream = target === 'embedded' ? 'embedded' : MOSQUITTO;
    const versions = target === 'embedded' ? ([4] as const) : ([4, 5] as const);
    const id = (n: string): string => `${n}-${target.slice(0, 3)}-${RUN}`;
    let d1: DeviceCreds;
    let d2: DeviceCreds;

    before(async () => {
      h = await startGateway(pki, { upstream });
      d1 = pki.device(id('d1'));
      d2 = pki.device(id('d2'));
      h.status.set(d1.deviceId, { state: 'active', segment: `seg-${RUN}` });
      h.status.set(d2.deviceId, { state: 'active', segment: `seg-${RUN}` });
    });
    after(async () => {
      await h.gw.close();
    });

    for (const v of versions) {
      it(`MQTT.js ${v === 5 ? '5.0' : '3.1.1'}: publishes and receives under its own namespace; the client id is the certificate's`, async () => {
        const c = await connect(h.port, d1, pki, { protocolVersion: v, clientId: 'spoofed-client-id', username: 'someone-else', password: Buffer.from('pw') });
        const info = h.gw.sessions().find((s) => s.deviceId === d1.deviceId);
        assert.ok(info !== undefined);
        assert.equal(info.spiffeId, `spiffe://${pki.trustDomain}/device/${d1.deviceId}`);
        const granted = await c.subscribeAsync(`devices/${d1.deviceId}/#`, { qos: 1 });
        assert.equal(granted[0]?.qos, 1);
        const got = nextMessage(c);
        await c.publishAsync(`devices/${d1.deviceId}/temp`, 'v' + v, { qos: 1 });
        assert.deepEqual(await got, { topic: `devices/${d1.deviceId}/temp`, payload: 'v' + v });
        await c.endAsync();
      });

      it(`MQTT.js ${v === 5 ? '5.0' : '3.1.1'}: subscribing to # and to another device's topics is refused in SUBACK`, async () => {
        const c = await connect(h.port, d1, pki, { protocolVersion: v });
        const r = await c.subscribeAsync({ '#': { qos: 0 }, [`devices/${d2.deviceId}/#`]: { qos: 0 }, 'devices/+/temp': { qos: 0 }, '$SYS/#': { qos: 0 }, [`devices/${d1.deviceId}/a`]: { qos: 0 } }).then(
          (g) => g,
          (e: Error & { packet?: { granted: number[] } }) => e.packet?.granted.map((q, i) => ({ topic: String(i), qos: q })),
        );
        const codes = (r ?? []).map((g) => g.qos);
        const refused = v === 5 ? 0x87 : 0x80;
        assert.deepEqual(codes, [refused, refused, refused, refused, 0]);
        assert.ok(h.events.some((e) => e.type === 'subscribe_denied' && e.topic === '#' && e.deviceId === d1.deviceId));
        await c.endAsync();
      });
    }

    it("publishing to another device's topic is denied (3.1.1: disconnect by default)", async () => {
      const spy = await connect(h.port, d2, pki, { protocolVersion: 4 });
      await spy.subscribeAsync(`devices/${d2.deviceId}/#`, { qos: 1 });
      let leaked = false;
      spy.on('message', () => {
        leaked = true;
      });
      const c = await connect(h.port, d1, pki, { protocolVersion: 4 });
      const gone = closed(c);
      c.publish(`devices/${d2.deviceId}/cmd`, 'evil', { qos: 1 });
      await gone;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(leaked, false);
      assert.ok(h.events.some((e) => e.type === 'publish_denied' && e.topic === `devices/${d2.deviceId}/cmd`));
      assert.ok(h.events.some((e) => e.type === 'disconnect' && e.reason === 'publish_denied'));
      c.end(true);
      await spy.endAsync();
    });

    if (target === 'mosquitto') {
      it('MQTT 5: a denied publish gets PUBACK 0x87 and the session stays up; topic aliases are resolved before authorization', async () => {
        const c = await connect(h.port, d1, pki, { protocolVersion: 5 });
        await assert.rejects(c.publishAsync(`devices/${d2.deviceId}/cmd`, 'x', { qos: 1 }), (e: Error & { code?: number }) => e.code === 0x87);
        assert.equal(c.connected, true);
        await c.subscribeAsync(`devices/${d1.deviceId}/#`, { qos: 1 });
        // alias 1 → own topic (allowed), then used with an empty topic.
        let got = nextMessage(c);
        await c.publishAsync(`devices/${d1.deviceId}/aliased`, 'a', { qos: 1, properties: { topicAlias: 1 } });
        assert.equal((await got).topic, `devices/${d1.deviceId}/aliased`);
        got = nextMessage(c);
        await c.publishAsync('', 'b', { qos: 1, properties: { topicAlias: 1 } });
        assert.deepEqual(await got, { topic: `devices/${d1.deviceId}/aliased`, payload: 'b' });
        // alias 2 → another device's topic: denied even when reused through the alias.
        await assert.rejects(c.publishAsync(`devices/${d2.deviceId}/x`, 'c', { qos: 1, properties: { topicAlias: 2 } }), (e: Error & { code?: number }) => e.code === 0x87);
        await assert.rejects(c.publishAsync('', 'd', { qos: 1, properties: { topicAlias: 2 } }), (e: Error & { code?: number }) => e.code === 0x87);
        await c.endAsync();
      });

      it('MQTT 5: $share/<group>/<filter> is authorized on the inner filter', async () => {
        const c = await connect(h.port, d1, pki, { protocolVersion: 5 });
        const ok = await c.subscribeAsync(`$share/g${RUN}/devices/${d1.deviceId}/#`, { qos: 0 });
        assert.equal(ok[0]?.qos, 0);
        const bad = await c.subscribeAsync(`$share/g${RUN}/#`, { qos: 0 }).then(
          () => 'granted',
          (e: Error & { packet?: { granted: number[] } }) => e.packet?.granted[0],
        );
        assert.equal(bad, 0x87);
        await c.endAsync();
      });

      it('mosquitto_sub and mosquitto_pub (mqttv311 and mqttv5) through the gateway', async () => {
        // A plain client on the broker side plays the backend: it talks to d1 and listens to d2.
        const backend = await mqtt.connectAsync(MOSQUITTO, { reconnectPeriod: 0 });
        try {
          for (const v of ['mqttv311', 'mqttv5']) {
            const topic = `devices/${d1.deviceId}/mosq/${v}`;
            const sub = run('mosquitto_sub', [...tlsArgs(pki, d1, h.port), '-V', v, '-i', 'not-the-device', '-u', 'root', '-t', topic, '-C', '1', '-W', '8', '-q', '1']);
            await waitFor(() => h.gw.sessions().some((s) => s.deviceId === d1.deviceId && s.subscriptions.includes(topic)), 5000);
            await backend.publishAsync(topic, `hello-${v}`, { qos: 1 });
            const r = await sub;
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout.trim(), `hello-${v}`);

            const up = `devices/${d2.deviceId}/mosq/${v}`;
            await backend.subscribeAsync(up, { qos: 1 });
            const got = nextMessage(backend);
            const pub = await run('mosquitto_pub', [...tlsArgs(pki, d2, h.port), '-V', v, '-t', up, '-m', `up-${v}`, '-q', '1']);
            assert.equal(pub.code, 0, pub.stderr);
            assert.deepEqual(await got, { topic: up, payload: `up-${v}` });
            await backend.unsubscribeAsync(up);
          }
        } finally {
          await backend.endAsync();
        }
      });

      it('a message another client publishes on the broker is not delivered when the device may not receive it', async () => {
        const sub = d1.deviceId;
        const policy = defaultDevicePolicy(pki.trustDomain);
        const authorize: Authorizer = (p, a, r, ctx) => (a === 'receive' && r.type === 'topic' && r.name.includes('/secret/') ? { decision: 'deny', reasons: ['secret'], errors: [] } : policy(p, a, r, ctx));
        const h2 = await startGateway(pki, { upstream: MOSQUITTO, status: h.status, authorize });
        try {
          const c = await connect(h2.port, d1, pki, { protocolVersion: 5 });
          await c.subscribeAsync(`devices/${sub}/#`, { qos: 1 });
          const got: string[] = [];
          c.on('message', (t) => got.push(t));
          const other = await mqtt.connectAsync(MOSQUITTO, { reconnectPeriod: 0 });
          await other.publishAsync(`devices/${sub}/secret/1`, 'no', { qos: 1 });
          await other.publishAsync(`devices/${sub}/secret/2`, 'no', { qos: 2 });
          await other.publishAsync(`devices/${sub}/open/1`, 'yes', { qos: 1 });
          await waitFor(() => got.length >= 1);
          await new Promise((r) => setTimeout(r, 200));
          assert.deepEqual(got, [`devices/${sub}/open/1`]);
          assert.equal(h2.events.filter((e) => e.type === 'receive_denied').length, 2);
          await other.endAsync();
          await c.endAsync();
        } finally {
          await h2.gw.close();
        }
      });
    } else {
      it('MQTT 5 in front of the embedded aedes is refused with CONNACK 0x84 (aedes speaks 3.1.1)', async () => {
        const r = await connectFails(h.port, d1, pki, { protocolVersion: 5 });
        assert.equal(r.code, 0x84);
      });

      it('broker → device: a message the device may not receive is not delivered', async () => {
        const policy = defaultDevicePolicy(pki.trustDomain);
        const authorize: Authorizer = (p, a, r, ctx) => (a === 'receive' && r.type === 'topic' && r.name.includes('/secret/') ? { decision: 'deny', reasons: ['secret'], errors: [] } : policy(p, a, r, ctx));
        const h2 = await startGateway(pki, { status: h.status, authorize });
        try {
          const c = await connect(h2.port, d1, pki, { protocolVersion: 4 });
          await c.subscribeAsync(`devices/${d1.deviceId}/#`, { qos: 2 });
          const got: string[] = [];
          c.on('message', (t) => got.push(t));
          const broker = h2.gw.embeddedBroker!;
          const pub = (topic: string, qos: 0 | 1 | 2): Promise<void> =>
            new Promise((resolve) => broker.publish({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup: false }, () => resolve()));
          await pub(`devices/${d1.deviceId}/secret/1`, 1);
          await pub(`devices/${d1.deviceId}/secret/2`, 2);
          await pub(`devices/${d1.deviceId}/open/1`, 1);
          await waitFor(() => got.length >= 1);
          await new Promise((r) => setTimeout(r, 200));
          assert.deepEqual(got, [`devices/${d1.deviceId}/open/1`]);
          await c.endAsync();
        } finally {
          await h2.gw.close();
        }
      });

      it('mosquitto_sub and mosquitto_pub (mqttv311) through the gateway', async () => {
        const broker = h.gw.embeddedBroker!;
        const topic = `devices/${d1.deviceId}/mosq`;
        const sub = run('mosquitto_sub', [...tlsArgs(pki, d1, h.port), '-V', 'mqttv311', '-t', topic, '-C', '1', '-W', '8', '-q', '1']);
        await waitFor(() => h.gw.sessions().some((s) => s.deviceId === d1.deviceId && s.subscriptions.includes(topic)), 5000);
        await new Promise<void>((resolve) => broker.publish({ cmd: 'publish', topic, payload: Buffer.from('hello'), qos: 1, retain: false, dup: false }, () => resolve()));
        const r = await sub;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), 'hello');

        const up = `devices/${d2.deviceId}/mosq`;
        const got = new Promise<string>((resolve) => {
          const deliver = (p: { payload: Buffer | string }, cb: () => void): void => {
            resolve(p.payload.toString());
            cb();
          };
          broker.subscribe(up, deliver, () => undefined);
        });
        const pub = await run('mosquitto_pub', [...tlsArgs(pki, d2, h.port), '-V', 'mqttv311', '-t', up, '-m', 'up', '-q', '1']);
        assert.equal(pub.code, 0, pub.stderr);
        assert.equal(await got, 'up');
      });
    }
  });
}

describe('gateway refusals and continuous verification (embedded broker)', () => {
  let h: Harness;
  const clock = new ManualClock(Date.now());
  const ev = (type: string, reason?: string): GatewayEvent[] => h.events.filter((e) => e.type === type && (reason === undefined || e.reason === reason));

  before(async () => {
    h = await startGateway(pki, { clock });
  });
  after(async () => {
    await h.gw.close();
  });

  it('refuses a revoked certificate with CONNACK 5 (not authorized)', async () => {
    const d = pki.device(`rev-${RUN}`);
    h.status.set(d.deviceId, { state: 'active' });
    h.status.revokeSerial(d.deviceId, d.serialHex);
    const r = await connectFails(h.port, d, pki, { protocolVersion: 4 });
    assert.equal(r.code, 5);
    assert.equal(ev('connect_refused', 'revoked').length, 1);
  });

  it('refuses an unknown device, and one whose state is not active', async () => {
    const unknown = pki.device(`unk-${RUN}`);
    assert.equal((await connectFails(h.port, unknown, pki)).code, 5);
    const sus = pki.device(`sus-${RUN}`);
    h.status.set(sus.deviceId, { state: 'suspended' });
    assert.equal((await connectFails(h.port, sus, pki)).code, 5);
    assert.equal(ev('connect_refused', 'unknown_device').length, 1);
    assert.equal(ev('connect_refused', 'device_state').length, 1);
  });

  it('refuses an expired certificate, one from another CA, one from another trust domain, and none at all', async () => {
    const expired = pki.device(`exp-${RUN}`, { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const foreign = pki.device(`for-${RUN}`, { foreign: true });
    const otherTd = pki.device(`otd-${RUN}`, { trustDomain: 'elsewhere.test' });
    for (const d of [expired, foreign, otherTd]) h.status.set(d.deviceId, { state: 'active' });
    const before = ev('connect_refused').length;
    await connectFails(h.port, expired, pki);
    await connectFails(h.port, foreign, pki);
    await connectFails(h.port, null, pki);
    assert.equal((await connectFails(h.port, otherTd, pki)).code, 5);
    await waitFor(() => ev('connect_refused').length >= before + 4);
    assert.equal(ev('connect_refused', 'tls_handshake').length, 3);
    assert.equal(ev('connect_refused', 'bad_identity').length, 1);
    assert.equal(h.gw.sessions().length, 0);
  });

  it('a revocation during a live session disconnects it within one second', async () => {
    const d = pki.device(`live-${RUN}`);
    h.status.set(d.deviceId, { state: 'active' });
    const c = await connect(h.port, d, pki, { protocolVersion: 4 });
    const gone = closed(c);
    const t0 = performance.now();
    h.status.revokeSerial(d.deviceId, d.serialHex);
    await gone;
    const ms = performance.now() - t0;
    assert.ok(ms < 1500, `closed after ${ms} ms`);
    assert.equal(ev('disconnect', 'revoked').length, 1);
    c.end(true);
  });

  it('suspending a device closes its session; certificate expiry (injected clock) closes at notAfter', async () => {
    const d = pki.device(`susp-${RUN}`);
    h.status.set(d.deviceId, { state: 'active' });
    const c = await connect(h.port, d, pki);
    const gone = closed(c);
    h.status.set(d.deviceId, { state: 'quarantined' });
    await gone;
    assert.equal(ev('disconnect', 'device_state').length, 1);

    const notAfter = new Date(Date.now() + 3_600_000);
    const e = pki.device(`expiring-${RUN}`, { notAfter });
    h.status.set(e.deviceId, { state: 'active' });
    clock.set(Date.now());
    const c2 = await connect(h.port, e, pki);
    const gone2 = closed(c2);
    assert.equal(c2.connected, true);
    clock.set(notAfter.getTime() + 1000);
    const t0 = performance.now();
    await gone2;
    assert.ok(performance.now() - t0 < 1500);
    assert.equal(ev('disconnect', 'cert_expired').length, 1);
    clock.set(Date.now());
  });

  it('a policy change that removes access unsubscribes upstream or closes the session', async () => {
    let allowSegment = true;
    let allowConnect = true;
    const base = defaultDevicePolicy(pki.trustDomain);
    const authorize: Authorizer = (p, a, r, ctx) => {
      if (a === 'connect' && !allowConnect) return { decision: 'deny', reasons: ['connect withdrawn'], errors: [] };
      if (!allowSegment && r.type !== 'broker' && r.name.startsWith('segments/')) return { decision: 'deny', reasons: ['segment withdrawn'], errors: [] };
      return base(p, a, r, ctx);
    };
    const h2 = await startGateway(pki, { status: h.status, authorize });
    try {
      const d = pki.device(`pol-${RUN}`);
      h.status.set(d.deviceId, { state: 'active', segment: 'plant' });
      const c = await connect(h2.port, d, pki);
      await c.subscribeAsync({ 'segments/plant/#': { qos: 0 }, [`devices/${d.deviceId}/#`]: { qos: 0 } });
      assert.deepEqual([...(h2.gw.sessions()[0]?.subscriptions ?? [])].sort(), [`devices/${d.deviceId}/#`, 'segments/plant/#']);
      allowSegment = false;
      h.status.notify({ kind: 'policy', subject: '*' });
      await waitFor(() => h2.gw.sessions()[0]?.subscriptions.length === 1);
      assert.ok(h2.events.some((e) => e.type === 'subscribe_denied' && e.reason === 'policy_changed' && e.topic === 'segments/plant/#'));
      // The broker really dropped it: a segment message no longer arrives (nor would it pass `receive`).
      const got: string[] = [];
      c.on('message', (t) => got.push(t));
      await new Promise<void>((resolve) => h2.gw.embeddedBroker!.publish({ cmd: 'publish', topic: 'segments/plant/alarm', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => resolve()));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got, []);
      assert.equal(c.connected, true);
      const gone = closed(c);
      allowConnect = false;
      h.status.notify({ kind: 'policy', subject: '*' });
      await gone;
      assert.ok(h2.events.some((e) => e.type === 'disconnect' && e.reason === 'policy_changed'));
    } finally {
      await h2.gw.close();
    }
  });

  it('fails closed when the status source or the decision function throws', async () => {
    const d = pki.device(`fc-${RUN}`);
    const broken = new MemoryDeviceStatusSource();
    broken.lookup = () => Promise.reject(new Error('store down'));
    const h2 = await startGateway(pki, { status: broken });
    const h3 = await startGateway(pki, {
      status: h.status,
      authorize: () => {
        throw new Error('engine bug');
      },
    });
    try {
      h.status.set(d.deviceId, { state: 'active' });
      assert.equal((await connectFails(h2.port, d, pki)).code, 5);
      assert.ok(h2.events.some((e) => e.type === 'fail_closed' && e.reason === 'status_error' && (e.detail ?? '').includes('store down')));
      assert.equal((await connectFails(h3.port, d, pki)).code, 5);
      assert.ok(h3.events.some((e) => e.type === 'fail_closed' && e.reason === 'decision_error'));
      assert.match(h3.gw.metricsText(), /zeta_gateway_fail_closed_total\{cause="decision_error"\} 1/);
    } finally {
      await h2.gw.close();
      await h3.gw.close();
    }
  });

  it('a second connection with the same identity replaces the first (default) and is reported', async () => {
    const d = pki.device(`dup-${RUN}`);
    h.status.set(d.deviceId, { state: 'active' });
    const a = await connect(h.port, d, pki);
    const goneA = closed(a);
    const b = await connect(h.port, d, pki);
    await goneA;
    assert.equal(b.connected, true);
    assert.equal(ev('duplicate_identity', 'replaced').length, 1);
    assert.equal(h.gw.sessions().filter((s) => s.deviceId === d.deviceId).length, 1);
    await b.endAsync();
  });

  it("duplicateIdentity 'refuse' keeps the first session; clientIdMode 'require' refuses a foreign client id", async () => {
    const h2 = await startGateway(pki, { status: h.status, duplicateIdentity: 'refuse', clientIdMode: 'require' });
    try {
      const d = pki.device(`dupr-${RUN}`);
      h.status.set(d.deviceId, { state: 'active' });
      const a = await connect(h2.port, d, pki, { clientId: d.deviceId });
      assert.equal((await connectFails(h2.port, d, pki, { clientId: d.deviceId })).code, 5);
      assert.equal(a.connected, true);
      assert.ok(h2.events.some((e) => e.type === 'duplicate_identity' && e.reason === 'refused'));
      await a.endAsync();
      assert.equal((await connectFails(h2.port, d, pki, { clientId: 'someone-else' })).code, 2);
    } finally {
      await h2.gw.close();
    }
  });

  it('exposes Prometheus metrics: connections, refusals by reason, traffic, decision latency', async () => {
    const text = h.gw.metricsText();
    assert.match(text, /^# TYPE zeta_gateway_connections_total counter$/m);
    assert.match(text, /^zeta_gateway_refusals_total\{reason="revoked"\} 1$/m);
    assert.match(text, /^zeta_gateway_refusals_total\{reason="tls_handshake"\} 3$/m);
    assert.match(text, /^zeta_gateway_disconnects_total\{reason="revoked"\} 1$/m);
    assert.match(text, /^# TYPE zeta_gateway_decision_seconds histogram$/m);
    assert.match(text, /^zeta_gateway_decision_seconds_bucket\{le="\+Inf"\} \d+$/m);
  });
});
