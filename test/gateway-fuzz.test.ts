/**
 * Robustness: random and mutated MQTT packets of every type (bad lengths, bad UTF-8, oversized
 * variable byte integers, truncated packets, garbage) over real mTLS connections for a bounded
 * time. Afterwards the gateway still serves a good client, and no session, socket or memory was
 * left behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomBytes, randomInt } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqttPacket, { type Packet } from 'mqtt-packet';
import mqtt from 'mqtt';
import { MqttGateway, MemoryDeviceStatusSource, type GatewayEvent } from '../src/gateway/index.js';
import { createTestPki, type DeviceCreds, type TestPki } from '../src/gateway/test-fixtures.js';

const FUZZ_MS = Number(process.env.ZETA_TEST_FUZZ_MS ?? 12_000);
const WORKERS = 16;

function pick<T>(xs: readonly T[]): T {
  return xs[randomInt(xs.length)]!;
}

const ids: string[] = ['d0'];

function topic(): string {
  const own = `devices/${pick(ids)}`;
  return pick([`${own}/t`, `${own}/x/y`, `${own}/#`, '#', '+/+', '$SYS/x', `$share/g/${own}/#`, 'a'.repeat(randomInt(1, 700)), 'x/'.repeat(randomInt(1, 40)), '', `${own}/\u0000`, `${own}/é`]);
}

function validPackets(v: 4 | 5): Packet[] {
  const props5 = v === 5 ? { properties: { topicAlias: randomInt(0, 40), userProperties: { a: 'b' }, messageExpiryInterval: 5 } } : {};
  return [
    { cmd: 'connect', protocolVersion: v, clientId: pick(['', 'x', 'd0', 'q'.repeat(100)]), clean: true, keepalive: randomInt(0, 100), ...(randomInt(2) === 0 ? { username: 'u', password: Buffer.from('p') } : {}), ...(randomInt(3) === 0 ? { will: { topic: topic(), payload: Buffer.from('w'), qos: 1, retain: false } } : {}) },
    { cmd: 'publish', topic: topic(), payload: randomBytes(randomInt(0, 300)), qos: pick([0, 1, 2] as const), dup: false, retain: randomInt(2) === 0, messageId: randomInt(1, 65535), ...props5 },
    { cmd: 'subscribe', messageId: randomInt(1, 65535), subscriptions: Array.from({ length: randomInt(1, 5) }, () => ({ topic: topic(), qos: pick([0, 1, 2] as const) })) },
    { cmd: 'unsubscribe', messageId: randomInt(1, 65535), unsubscriptions: [topic()] },
    { cmd: 'puback', messageId: randomInt(1, 65535) },
    { cmd: 'pubrec', messageId: randomInt(1, 65535) },
    { cmd: 'pubrel', messageId: randomInt(1, 65535) },
    { cmd: 'pubcomp', messageId: randomInt(1, 65535) },
    { cmd: 'pingreq' },
    { cmd: 'pingresp' },
    { cmd: 'connack', returnCode: 0, sessionPresent: false },
    { cmd: 'suback', messageId: 1, granted: [0] },
    { cmd: 'unsuback', messageId: 1, granted: [0] },
    { cmd: 'disconnect' },
    ...(v === 5 ? [{ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'x' } } as Packet] : []),
  ];
}

function encode(p: Packet, v: 4 | 5): Buffer {
  try {
    return mqttPacket.generate(p, { protocolVersion: v });
  } catch {
    return randomBytes(randomInt(1, 50));
  }
}

/** One mutation of a valid packet, or raw garbage. */
function mutate(b: Buffer): Buffer {
  const c = Buffer.from(b);
  switch (randomInt(9)) {
    case 0: // flip bytes
      for (let i = 0; i < randomInt(1, 4); i++) if (c.length > 0) c[randomInt(c.length)] = randomInt(256);
      return c;
    case 1: // truncate
      return c.subarray(0, randomInt(Math.max(1, c.length)));
    case 2: // wrong remaining length
      if (c.length > 1) c[1] = randomInt(256);
      return c;
    case 3: // oversized / overlong variable byte integer
      return Buffer.concat([c.subarray(0, 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), c.subarray(2)]);
    case 4: // bad UTF-8 in the first string field
      if (c.length > 6) {
        c[5] = 0xc3;
        c[6] = 0x28;
      }
      return c;
    case 5: // trailing junk inside the declared length
      return Buffer.concat([c, randomBytes(randomInt(1, 20))]);
    case 6: // garbage
      return randomBytes(randomInt(1, 200));
    case 7: // huge declared length (max packet size check before the body)
      return Buffer.concat([Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), randomBytes(randomInt(0, 100))]);
    default:
      return c;
  }
}

function fuzzConnection(port: number, pki: TestPki, creds: DeviceCreds | null, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve();
    };
    const sock: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.caBundle, ...(creds === null ? {} : { key: creds.key, cert: creds.cert }) });
    sock.on('error', finish);
    sock.on('close', finish);
    sock.on('data', () => undefined);
    const timer = setTimeout(finish, randomInt(50, 1500));
    timer.unref();
    sock.once('secureConnect', () => {
      const v = pick([4, 5] as const);
      const plan = randomInt(4);
      const frames: Buffer[] = [];
      // Half the time a valid CONNECT first, so the post-CONNECT stages get fuzzed too.
      if (plan < 2) frames.push(encode({ cmd: 'connect', protocolVersion: v, clientId: creds?.deviceId ?? 'x', clean: true, keepalive: 30 }, v));
      for (let i = 0; i < randomInt(1, 20); i++) {
        const p = encode(pick(validPackets(v)), v);
        frames.push(randomInt(3) === 0 ? p : mutate(p));
      }
      const wire = Buffer.concat(frames);
      // Sometimes dribble the bytes in small pieces (framing across TLS records).
      if (randomInt(3) === 0) {
        let off = 0;
        const step = (): void => {
          if (done || off >= wire.length || Date.now() > deadline) return;
          const n = randomInt(1, 16);
          sock.write(wire.subarray(off, off + n));
          off += n;
          setTimeout(step, randomInt(0, 5));
        };
        step();
      } else sock.write(wire);
    });
  });
}

function heapMb(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}

describe('gateway under fuzzed MQTT input', () => {
  let pki: TestPki;
  let gw: MqttGateway;
  let port: number;
  let gwMosq: MqttGateway;
  let portMosq: number;
  const devices: DeviceCreds[] = [];
  const counts = new Map<string, number>();

  before(async () => {
    pki = createTestPki();
    const status = new MemoryDeviceStatusSource();
    const run = randomBytes(4).toString('hex');
    for (let i = 0; i < 8; i++) {
      const d = pki.device(`fz${i}-${run}`);
      devices.push(d);
      ids.push(d.deviceId);
      status.set(d.deviceId, { state: 'active', segment: 'fuzz' });
    }
    gw = new MqttGateway({
      trustDomain: pki.trustDomain,
      tls: { ...pki.server, ca: pki.caBundle },
      status,
      limits: { connectionsPerSecondPerAddress: 10_000, connectionBurstPerAddress: 10_000, maxPacketBytes: 64 * 1024, connectTimeoutMs: 1000 },
    });
    gwMosq = new MqttGateway({
      trustDomain: pki.trustDomain,
      tls: { ...pki.server, ca: pki.caBundle },
      status,
      upstream: 'mqtt://127.0.0.1:1883',
      limits: { connectionsPerSecondPerAddress: 10_000, connectionBurstPerAddress: 10_000, maxPacketBytes: 64 * 1024, connectTimeoutMs: 1000 },
    });
    const count = (e: GatewayEvent): void => {
      counts.set(`${e.type}:${e.reason ?? ''}`, (counts.get(`${e.type}:${e.reason ?? ''}`) ?? 0) + 1);
    };
    gw.on('event', count);
    gwMosq.on('event', count);
    port = (await gw.listen(0)).port;
    portMosq = (await gwMosq.listen(0)).port;
  });
  after(async () => {
    await gw.close();
    await gwMosq.close();
    pki.cleanup();
  });

  it(`survives ${FUZZ_MS} ms of random and mutated packets over mTLS, then still serves a good client`, async () => {
    const heapBefore = heapMb();
    const deadline = Date.now() + FUZZ_MS;
    let connections = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        while (Date.now() < deadline) {
          const creds = w === 0 && randomInt(4) === 0 ? null : pick(devices);
          // Three quarters to the embedded broker, a quarter through to Mosquitto (MQTT 5 reaches it).
          await fuzzConnection(w % 4 === 3 ? portMosq : port, pki, creds, deadline);
          connections++;
        }
      }),
    );
    // Every fuzz connection is gone, and nothing is left half-open on the gateway side.
    const t0 = Date.now();
    while (gw.connectionCount + gwMosq.connectionCount > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.connectionCount + gwMosq.connectionCount, 0, 'connections left open after fuzzing');
    assert.equal(gw.sessions().length + gwMosq.sessions().length, 0);
    const heapAfter = heapMb();
    console.log(`# fuzz: ${connections} connections; heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MB; events ${JSON.stringify(Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).slice(0, 12)))}`);
    assert.ok(connections > 100, `only ${connections} fuzz connections`);
    assert.ok(heapAfter - heapBefore < 64, `heap grew by ${(heapAfter - heapBefore).toFixed(1)} MB`);
    assert.ok((counts.get('disconnect:malformed') ?? 0) + (counts.get('connect_refused:malformed') ?? 0) > 0);

    const d = devices[0]!;
    const c = await mqtt.connectAsync(`mqtts://localhost:${port}`, { key: d.key, cert: d.cert, ca: pki.caBundle, reconnectPeriod: 0, connectTimeout: 5000 });
    await c.subscribeAsync(`devices/${d.deviceId}/ok`, { qos: 1 });
    const got = new Promise<string>((resolve) => c.once('message', (_t, m) => resolve(m.toString())));
    await c.publishAsync(`devices/${d.deviceId}/ok`, 'still here', { qos: 1 });
    assert.equal(await got, 'still here');
    await c.endAsync();
    const c5 = await mqtt.connectAsync(`mqtts://localhost:${portMosq}`, { key: d.key, cert: d.cert, ca: pki.caBundle, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 });
    await c5.subscribeAsync(`devices/${d.deviceId}/ok5`, { qos: 1 });
    const got5 = new Promise<string>((resolve) => c5.once('message', (_t, m) => resolve(m.toString())));
    await c5.publishAsync(`devices/${d.deviceId}/ok5`, 'still here', { qos: 1 });
    assert.equal(await got5, 'still here');
    await c5.endAsync();
  });
});
