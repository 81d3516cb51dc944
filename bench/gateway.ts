/**
 * The MQTT gateway against its peers: messages per second (QoS 0 and 1, 100-byte payloads), full
 * mTLS handshakes per second, and memory per idle mTLS connection.
 *
 *   zeta      MqttGateway (mTLS, authorization of every message both ways) → plain Mosquitto upstream
 *   mosq-tls  Mosquitto with require_certificate, use_identity_as_username and `pattern readwrite devices/%u/#`
 *   mosq      plain Mosquitto, no TLS, no ACL (reference)
 *
 * Zeta runs twice: one MqttGateway in this process ("zeta-1w"), and runGatewayCluster with two
 * worker processes sharing the port ("zeta-2w"). Load comes from a child process running the same
 * MQTT.js / raw-TLS client code for every target. Brokers are started on spare ports from configs
 * in a temp dir and killed at the end. Prints ratios and one final JSON line.
 *   node --import tsx bench/gateway.ts [--quick] [--workers N]
 *
 * Handshakes are full ones: a new TLS session every time (the client never offers a session or
 * ticket: no `session` option), TCP_NODELAY on both ends of every target (Mosquitto:
 * `set_tcp_nodelay true`), 16 in flight. Without NODELAY each handshake waited on Nagle + delayed
 * ACK (~40 ms per flight), which is what the old ~100 ms per handshake measured.
 *
 *   node --import tsx bench/gateway.ts --connections 50000 [--workers N]
 * opens that many idle mTLS MQTT connections through one gateway cluster (see connectionsMain).
 */
import cluster from 'node:cluster';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqttPacket from 'mqtt-packet';
import mqtt, { type MqttClient } from 'mqtt';
import type { Socket } from 'node:net';
import { MqttGateway, MemoryDeviceStatusSource, runGatewayCluster, type GatewayCluster } from '../src/gateway/index.js';
import { createTestPki, type DeviceCreds } from '../src/gateway/test-fixtures.js';

interface Target {
  url: string;
  ca?: string;
  devices: { id: string; key: string; cert: string }[];
}

const QUICK = process.argv.includes('--quick');
const MEASURE_MS = QUICK ? 2000 : 5000;
const WARMUP_MS = QUICK ? 500 : 1000;
const IDLE_N = Number(process.env.ZETA_BENCH_IDLE ?? (QUICK ? 500 : 3000));
const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const WORKERS = Number(argValue('--workers') ?? 2);
const STATUS_MODULE = new URL('../src/gateway/memory-status-source.ts', import.meta.url);
const PAYLOAD = Buffer.alloc(100, 0x61);

// ------------------------------------------------------------------------------------------------
// Client side (child process): the same code for every target.
// ------------------------------------------------------------------------------------------------

const contexts = new Map<string, SecureContext>();

/** One SecureContext per device, made once: the client should spend its time on handshakes, not on parsing PEM. */
function tlsOpts(t: Target, d: { key: string; cert: string }): Record<string, unknown> {
  if (t.ca === undefined) return {};
  let ctx = contexts.get(d.cert);
  if (ctx === undefined) {
    ctx = createSecureContext({ ca: t.ca, key: d.key, cert: d.cert });
    contexts.set(d.cert, ctx);
  }
  return { secureContext: ctx, servername: 'localhost' };
}

async function clientThroughput(t: Target, qos: 0 | 1): Promise<number> {
  const window = qos === 0 ? 500 : 100;
  const clients: MqttClient[] = [];
  let received = 0;
  let running = true;
  for (const d of t.devices) {
    const c = await mqtt.connectAsync(t.url, { ...tlsOpts(t, d), clientId: d.id, reconnectPeriod: 0, protocolVersion: 4, keepalive: 60 });
    clients.push(c);
    const topic = `devices/${d.id}/bench`;
    await c.subscribeAsync(topic, { qos });
    let sent = 0;
    let got = 0;
    const pump = (): void => {
      while (running && sent - got < window) {
        c.publish(topic, PAYLOAD, { qos });
        sent++;
      }
    };
    c.on('message', () => {
      got++;
      received++;
      if (got % 50 === 0 || sent - got < window / 2) pump();
    });
    pump();
  }
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const r0 = received;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const rate = ((received - r0) * 1000) / (performance.now() - t0);
  running = false;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return rate;
}

function oneHandshake(host: string, port: number, t: Target, d: { id: string; key: string; cert: string }): Promise<boolean> {
  return new Promise((resolve) => {
    // Full handshake: no `session` is offered; NODELAY so no flight waits for a delayed ACK.
    const s = tlsConnect({ host, port, ...tlsOpts(t, d) });
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 5000);
    s.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    s.once('secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: d.id, clean: true, keepalive: 30 })));
    s.once('data', (b: Buffer) => {
      clearTimeout(timer);
      const ok = b[0] === 0x20 && b[3] === 0;
      s.end(mqttPacket.generate({ cmd: 'disconnect' }));
      s.destroy();
      resolve(ok);
    });
  });
}

async function clientHandshakes(t: Target): Promise<number> {
  const u = new URL(t.url);
  const deadline = performance.now() + WARMUP_MS + MEASURE_MS;
  const start = performance.now() + WARMUP_MS;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      let i = w;
      while (performance.now() < deadline) {
        const good = await oneHandshake(u.hostname, Number(u.port), t, t.devices[i % t.devices.length]!);
        i += 16;
        if (performance.now() >= start) {
          if (good) ok++;
          else failed++;
        }
      }
    }),
  );
  if (failed > 0) console.error(`handshakes: ${failed} failed`);
  return (ok * 1000) / MEASURE_MS;
}

async function clientIdle(t: Target): Promise<void> {
  const u = new URL(t.url);
  const socks: ReturnType<typeof tlsConnect>[] = [];
  let ok = 0;
  for (let i = 0; i < t.devices.length; i += 50) {
    const batch = t.devices.slice(i, i + 50).map(
      (d) =>
        new Promise<void>((resolve) => {
          const s = tlsConnect({ host: u.hostname, port: Number(u.port), ...tlsOpts(t, d) });
          s.setNoDelay(true);
          socks.push(s);
          s.on('error', () => resolve());
          s.once('secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: d.id, clean: true, keepalive: 600 })));
          s.once('data', (b: Buffer) => {
            if (b[0] === 0x20 && b[3] === 0) ok++;
            resolve();
          });
        }),
    );
    await Promise.all(batch);
  }
  process.send?.({ idleReady: ok });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (const s of socks) s.destroy();
}

/**
 * --connections client: opens every connection of its file from its own source address, at most
 * `inflight` handshakes at a time, reports progress, then on 'check' pings every socket and counts
 * PINGRESPs (alive), on 'done' closes everything and exits.
 */
async function clientHold(file: string): Promise<void> {
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { host: string; port: number; ca: string; localAddress: string; inflight: number; deadlineMs: number; devices: { id: string; key: string; cert: string }[] };
  const socks: ReturnType<typeof tlsConnect>[] = [];
  const acked = new Set<number>();
  let failed = 0;
  let next = 0;
  const deadline = performance.now() + cfg.deadlineMs;
  const connack = Buffer.from([0x20, 0x02]);
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const d = cfg.devices[i]!;
      // net.Socket#connect takes localAddress; tls.connect passes its options on.
      const opts = { host: cfg.host, port: cfg.port, localAddress: cfg.localAddress, ca: cfg.ca, key: d.key, cert: d.cert, servername: 'localhost' };
      const s = tlsConnect(opts);
      s.setNoDelay(true);
      socks[i] = s;
      const timer = setTimeout(() => {
        failed++;
        s.destroy();
        resolve();
      }, 30_000);
      s.on('error', () => {
        clearTimeout(timer);
        if (!acked.has(i)) failed++;
        resolve();
      });
      s.once('secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: d.id, clean: true, keepalive: 600 })));
      s.once('data', (b: Buffer) => {
        clearTimeout(timer);
        if (b.length >= 4 && b.subarray(0, 2).equals(connack) && b[3] === 0) acked.add(i);
        else failed++;
        resolve();
      });
    });
  const report = setInterval(() => process.send?.({ progress: acked.size, failed }), 2000);
  await Promise.all(
    Array.from({ length: cfg.inflight }, async () => {
      while (next < cfg.devices.length && performance.now() < deadline) await one(next++);
    }),
  );
  clearInterval(report);
  process.send?.({ opened: acked.size, failed, notTried: cfg.devices.length - next });
  for (;;) {
    const m = await new Promise<string>((resolve) => process.once('message', (x: string) => resolve(x)));
    if (m !== 'check') break;
    let alive = 0;
    const ping = Buffer.from([0xc0, 0x00]);
    await Promise.all(
      [...acked].map(
        (i) =>
          new Promise<void>((resolve) => {
            const s = socks[i]!;
            if (s.destroyed) return resolve();
            const t = setTimeout(resolve, 20_000);
            s.once('data', (b: Buffer) => {
              clearTimeout(t);
              if (b[0] === 0xd0) alive++;
              resolve();
            });
            s.write(ping);
          }),
      ),
    );
    process.send?.({ alive });
  }
  for (const s of socks) s?.destroy();
}

/** --connections upstream: a minimal MQTT 3.1.1 acceptor (CONNACK, PINGRESP, SUBACK, PUBACK), one per cluster worker. */
function sinkWorker(port: number): void {
  const server = createServer((sock: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        if (buf.length < 2) return;
        let len = 0;
        let mul = 1;
        let i = 1;
        for (; i < 5 && i < buf.length; i++) {
          len += (buf[i]! & 0x7f) * mul;
          mul *= 128;
          if ((buf[i]! & 0x80) === 0) break;
        }
        if (i >= buf.length) return;
        const total = i + 1 + len;
        if (buf.length < total) return;
        const head = buf[0]!;
        const type = head >> 4;
        const body = buf.subarray(i + 1, total);
        buf = buf.subarray(total);
        if (type === 1) sock.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        else if (type === 12) sock.write(Buffer.from([0xd0, 0x00]));
        else if (type === 8) sock.write(Buffer.from([0x90, 0x03, body[0]!, body[1]!, 0x00]));
        else if (type === 3 && ((head >> 1) & 3) === 1) {
          const tl = (body[0]! << 8) | body[1]!;
          sock.write(Buffer.from([0x40, 0x02, body[2 + tl]!, body[3 + tl]!]));
        } else if (type === 14) sock.end();
      }
    });
  });
  server.listen(port, '127.0.0.1', () => process.send?.({ sinkListening: true }));
}

async function sinkPrimary(port: number, workers: number): Promise<void> {
  cluster.setupPrimary({ exec: import.meta.filename, args: ['--child', 'sink-worker', '', String(port)], execArgv: ['--import', 'tsx'] });
  let up = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on('message', (m: { sinkListening?: boolean }) => {
      if (m.sinkListening === true && ++up === workers) process.send?.({ sinkReady: true });
    });
  }
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
}

async function childMain(): Promise<void> {
  const [, , , mode, file, arg] = process.argv;
  if (mode === 'sink-worker') return sinkWorker(Number(arg));
  if (mode === 'sink') {
    await sinkPrimary(Number(arg), Number(file));
    process.exit(0);
  }
  if (mode === 'hold') {
    await clientHold(file!);
    process.exit(0);
  }
  const t = JSON.parse(readFileSync(file!, 'utf8')) as Target;
  if (mode === 'throughput') process.send?.({ result: await clientThroughput(t, Number(arg) as 0 | 1) });
  else if (mode === 'handshakes') process.send?.({ result: await clientHandshakes(t) });
  else if (mode === 'idle') await clientIdle(t);
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------
// Orchestration (parent).
// ------------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function startMosquitto(dir: string, name: string, conf: string, port: number): Promise<ChildProcess> {
  const path = join(dir, `${name}.conf`);
  // As root, mosquitto would switch to user `mosquitto`, which cannot read the 0700 temp dir.
  writeFileSync(path, (process.getuid?.() === 0 ? 'user root\n' : '') + conf);
  const p = spawn('/usr/sbin/mosquitto', ['-c', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const probe = (): void => {
      const s = createServer();
      s.once('error', () => resolve(p)); // port taken: mosquitto is listening
      s.listen(port, '127.0.0.1', () =>
        s.close(() => {
          if (p.exitCode !== null) reject(new Error(`mosquitto ${name} exited: ${err}`));
          else if (Date.now() - t0 > 5000) reject(new Error(`mosquitto ${name} did not listen: ${err}`));
          else setTimeout(probe, 50);
        }),
      );
    };
    probe();
  });
}

function runChild(mode: string, file: string, arg = ''): { child: ChildProcess; result: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', mode, file, arg], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise<number>((resolve, reject) => {
    child.on('message', (m: { result?: number }) => {
      if (typeof m.result === 'number') resolve(m.result);
    });
    child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`client ${mode} exited ${code}`))));
  });
  return { child, result };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function idleMemory(file: string, pids: number[], extraPid?: number): Promise<{ ok: number; kbPerConn: number; heapKbPerConn?: number; upstreamKbPerConn?: number }> {
  const inProcess = pids.length === 1 && pids[0] === process.pid;
  gc();
  await new Promise((r) => setTimeout(r, 300));
  const heap0 = process.memoryUsage().heapUsed;
  const sum = (): number => pids.reduce((a, p) => a + rssKb(p), 0);
  const before = sum();
  const beforeUp = extraPid === undefined ? 0 : rssKb(extraPid);
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', 'idle', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ok = await new Promise<number>((resolve) => child.on('message', (m: { idleReady?: number }) => resolve(m.idleReady ?? 0)));
  await new Promise((r) => setTimeout(r, 500));
  gc();
  await new Promise((r) => setTimeout(r, 300));
  const after = sum();
  const heapKb = inProcess ? (process.memoryUsage().heapUsed - heap0) / 1024 / Math.max(1, ok) : undefined;
  const afterUp = extraPid === undefined ? 0 : rssKb(extraPid);
  child.send('done');
  await new Promise((r) => child.on('exit', r));
  return {
    ok,
    kbPerConn: (after - before) / Math.max(1, ok),
    ...(heapKb === undefined ? {} : { heapKbPerConn: heapKb }),
    ...(extraPid === undefined ? {} : { upstreamKbPerConn: (afterUp - beforeUp) / Math.max(1, ok) }),
  };
}

const BENCH_LIMITS = {
  messagesPerSecond: 1e7,
  messageBurst: 1e7,
  bytesPerSecond: 1e10,
  byteBurst: 1e10,
  connectionsPerSecondPerAddress: 1e6,
  connectionBurstPerAddress: 1e6,
  maxInflight: 1000,
};

async function main(): Promise<void> {
  const pki = createTestPki('bench.zeta');
  const dir = pki.dir;
  const brokers: ChildProcess[] = [];
  let gw: MqttGateway | null = null;
  let gc2: GatewayCluster | null = null;
  try {
    const nDevices = 4;
    const needed = Math.max(IDLE_N, 64);
    console.error(`minting ${needed} device certificates...`);
    const devices: DeviceCreds[] = [];
    for (let i = 0; i < needed; i++) devices.push(pki.device(`bench-${i}`, { noFiles: true }));
    writeFileSync(join(dir, 'server.key'), pki.server.key, { mode: 0o600 });
    writeFileSync(join(dir, 'server.pem'), pki.server.cert);
    writeFileSync(join(dir, 'acl'), 'pattern readwrite devices/%u/#\n');

    const plainPort = await freePort();
    const tlsPort = await freePort();
    brokers.push(await startMosquitto(dir, 'plain', `listener ${plainPort} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\nmax_queued_messages 100000\nset_tcp_nodelay true\n`, plainPort));
    brokers.push(
      await startMosquitto(
        dir,
        'mtls',
        [
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${pki.caPath}`,
          `certfile ${join(dir, 'server.pem')}`,
          `keyfile ${join(dir, 'server.key')}`,
          'require_certificate true',
          'set_tcp_nodelay true',
          'use_identity_as_username true',
          `acl_file ${join(dir, 'acl')}`,
          'allow_anonymous false',
          'persistence false',
          'log_dest none',
          'max_queued_messages 100000',
          '',
        ].join('\n'),
        tlsPort,
      ),
    );
    const status = new MemoryDeviceStatusSource();
    const records: Record<string, { state: string; segment: string }> = {};
    for (const d of devices) {
      status.set(d.deviceId, { state: 'active', segment: 'bench' });
      records[d.deviceId] = { state: 'active', segment: 'bench' };
    }
    const common = { trustDomain: pki.trustDomain, tls: { ...pki.server, ca: pki.caBundle }, upstream: `mqtt://127.0.0.1:${plainPort}`, limits: BENCH_LIMITS };
    gw = new MqttGateway({ ...common, status });
    const zetaPort = (await gw.listen(0)).port;
    gc2 = await runGatewayCluster({ ...common, workers: WORKERS, port: 0, status: { module: STATUS_MODULE, export: 'createMemoryStatusSource', options: { devices: records } } });

    const few = devices.slice(0, nDevices).map((d) => ({ id: d.deviceId, key: d.key, cert: d.cert }));
    const many = devices.slice(0, 64).map((d) => ({ id: d.deviceId, key: d.key, cert: d.cert }));
    const idle = devices.slice(0, IDLE_N).map((d) => ({ id: d.deviceId, key: d.key, cert: d.cert }));
    const zN = `zeta-${WORKERS}w`;
    const targets: Record<string, { url: string; ca?: string }> = {
      'zeta-1w': { url: `mqtts://127.0.0.1:${zetaPort}`, ca: pki.caBundle },
      [zN]: { url: `mqtts://127.0.0.1:${gc2.port}`, ca: pki.caBundle },
      'mosq-tls': { url: `mqtts://127.0.0.1:${tlsPort}`, ca: pki.caBundle },
      mosq: { url: `mqtt://127.0.0.1:${plainPort}` },
    };
    const file = (name: string, ds: Target['devices'], t: { url: string; ca?: string }): string => {
      const p = join(dir, `${name}.json`);
      writeFileSync(p, JSON.stringify({ ...t, devices: ds }));
      return p;
    };

    const results: Record<string, Record<string, number>> = Object.fromEntries(Object.keys(targets).map((k) => [k, {}]));
    const ONLY = process.env.ZETA_BENCH_ONLY;
    for (const qos of [0, 1] as const) {
      for (const [name, t] of Object.entries(targets)) {
        if (ONLY !== undefined && !name.startsWith(ONLY)) continue;
        const r = await runChild('throughput', file(`${name}-tp`, few, t), String(qos)).result;
        results[name]![`qos${qos}_msgs_per_s`] = Math.round(r);
        console.error(`${name.padEnd(9)} QoS ${qos}: ${Math.round(r)} msg/s`);
      }
    }
    for (const name of ['zeta-1w', zN, 'mosq-tls']) {
      if (ONLY !== undefined && !name.startsWith(ONLY)) continue;
      const r = await runChild('handshakes', file(`${name}-hs`, many, targets[name]!)).result;
      results[name]!.handshakes_per_s = Math.round(r);
      console.error(`${name.padEnd(9)} mTLS handshakes: ${Math.round(r)}/s`);
    }
    if (ONLY === undefined || ONLY === 'zeta' || ONLY === 'idle') {
      const zIdle = await idleMemory(file('zeta-idle', idle, targets['zeta-1w']!), [process.pid], brokers[0]!.pid!);
      const z = results['zeta-1w']!;
      z.idle_connections = zIdle.ok;
      z.kib_per_idle_connection = Math.round(zIdle.kbPerConn * 10) / 10;
      z.heap_kib_per_idle_connection = Math.round((zIdle.heapKbPerConn ?? 0) * 10) / 10;
      z.native_kib_per_idle_connection = Math.round((zIdle.kbPerConn - (zIdle.heapKbPerConn ?? 0)) * 10) / 10;
      z.upstream_kib_per_idle_connection = Math.round((zIdle.upstreamKbPerConn ?? 0) * 10) / 10;
      console.error(`zeta-1w   idle: ${zIdle.ok} connections, ${zIdle.kbPerConn.toFixed(1)} KiB each in the gateway (JS heap ${z.heap_kib_per_idle_connection}, rest ${z.native_kib_per_idle_connection}; +${z.upstream_kib_per_idle_connection} KiB in the upstream Mosquitto)`);
      const cIdle = await idleMemory(file('zetaN-idle', idle, targets[zN]!), gc2.pids);
      results[zN]!.idle_connections = cIdle.ok;
      results[zN]!.kib_per_idle_connection = Math.round(cIdle.kbPerConn * 10) / 10;
      console.error(`${zN}   idle: ${cIdle.ok} connections, ${cIdle.kbPerConn.toFixed(1)} KiB each over the workers`);
      const mIdle = await idleMemory(file('mosq-idle', idle, targets['mosq-tls']!), [brokers[1]!.pid!]);
      results['mosq-tls']!.idle_connections = mIdle.ok;
      results['mosq-tls']!.kib_per_idle_connection = Math.round(mIdle.kbPerConn * 10) / 10;
      console.error(`mosq-tls  idle: ${mIdle.ok} connections, ${mIdle.kbPerConn.toFixed(1)} KiB each`);
    }

    const ratio = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined || b === 0 ? 0 : Math.round((a / b) * 100) / 100);
    const z1 = results['zeta-1w']!;
    const zw = results[zN]!;
    const m = results['mosq-tls']!;
    const ratios = {
      qos0_1w_vs_mosq_tls: ratio(z1.qos0_msgs_per_s, m.qos0_msgs_per_s),
      qos1_1w_vs_mosq_tls: ratio(z1.qos1_msgs_per_s, m.qos1_msgs_per_s),
      [`qos0_${WORKERS}w_vs_mosq_tls`]: ratio(zw.qos0_msgs_per_s, m.qos0_msgs_per_s),
      [`qos1_${WORKERS}w_vs_mosq_tls`]: ratio(zw.qos1_msgs_per_s, m.qos1_msgs_per_s),
      handshakes_1w_vs_mosq_tls: ratio(z1.handshakes_per_s, m.handshakes_per_s),
      [`handshakes_${WORKERS}w_vs_mosq_tls`]: ratio(zw.handshakes_per_s, m.handshakes_per_s),
    };
    const col = (v: number | undefined): string => String(v ?? '-').padStart(10);
    console.log('');
    console.log(`                    zeta-1w    ${zN}  mosq(mTLS+ACL)   ratio 1w / ${WORKERS}w`);
    console.log(`QoS 0 msg/s     ${col(z1.qos0_msgs_per_s)} ${col(zw.qos0_msgs_per_s)} ${col(m.qos0_msgs_per_s)}   ${ratios.qos0_1w_vs_mosq_tls}x / ${ratios[`qos0_${WORKERS}w_vs_mosq_tls`]}x`);
    console.log(`QoS 1 msg/s     ${col(z1.qos1_msgs_per_s)} ${col(zw.qos1_msgs_per_s)} ${col(m.qos1_msgs_per_s)}   ${ratios.qos1_1w_vs_mosq_tls}x / ${ratios[`qos1_${WORKERS}w_vs_mosq_tls`]}x`);
    console.log(`handshakes/s    ${col(z1.handshakes_per_s)} ${col(zw.handshakes_per_s)} ${col(m.handshakes_per_s)}   ${ratios.handshakes_1w_vs_mosq_tls}x / ${ratios[`handshakes_${WORKERS}w_vs_mosq_tls`]}x`);
    console.log(`KiB/idle conn   ${col(z1.kib_per_idle_connection)} ${col(zw.kib_per_idle_connection)} ${col(m.kib_per_idle_connection)}   (goal ≤ 64 KiB; 1w: heap ${z1.heap_kib_per_idle_connection}, native ${z1.native_kib_per_idle_connection}; +${z1.upstream_kib_per_idle_connection} KiB upstream)`);
    console.log(`plain mosquitto: QoS 0 ${results.mosq!.qos0_msgs_per_s} msg/s, QoS 1 ${results.mosq!.qos1_msgs_per_s} msg/s (reference, no TLS, no ACL)`);
    console.log(JSON.stringify({ bench: 'gateway', payloadBytes: 100, devices: nDevices, measureMs: MEASURE_MS, workers: WORKERS, results, ratios }));
  } finally {
    await gw?.close();
    await gc2?.close();
    for (const b of brokers) b.kill('SIGTERM');
    pki.cleanup();
  }
}

// ------------------------------------------------------------------------------------------------
// --connections N: many idle connections through one gateway cluster.
// ------------------------------------------------------------------------------------------------

function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null ? 1024 : Number(m[1]);
}

/**
 * Every session holds two descriptors in the gateway (device TLS + upstream TCP), every client one,
 * every upstream connection one at the broker. With the per-process descriptor limit raised (the
 * bench re-execs itself under `ulimit -n 200000` when it can), one worker pair suffices; where the
 * limit cannot be raised (a container without CAP_SYS_RESOURCE), connections are spread over as
 * many processes as the limit requires — gateway workers, client processes and a clustered
 * minimal MQTT acceptor as upstream (one Mosquitto process could not hold them) — all of one
 * gateway on one port. Source addresses 127.0.0.2… (clients) and 127.0.0.1… (upstream) keep each
 * address below its ~28 000 ephemeral ports. Total time is bounded; every process is stopped.
 */
async function connectionsMain(n: number): Promise<void> {
  const limit = openFileLimit();
  if (limit < 2 * n + 1000 && process.env.ZETA_BENCH_REEXEC === undefined) {
    const cmd = `ulimit -n 200000 2>/dev/null || exit 97; exec ${[process.execPath, ...process.execArgv, import.meta.filename, ...process.argv.slice(2)].map((a) => `'${a}'`).join(' ')}`;
    const r = spawn('bash', ['-c', cmd], { stdio: 'inherit', env: { ...process.env, ZETA_BENCH_REEXEC: '1' } });
    const code = await new Promise<number | null>((resolve) => r.on('exit', resolve));
    if (code !== 97) process.exit(code ?? 1);
    console.error(`cannot raise the open-file limit above ${limit} here (no CAP_SYS_RESOURCE): spreading over processes`);
  }
  const usable = Math.floor(limit * 0.9) - 200;
  const workers = Math.max(argValue('--workers') === undefined ? 2 : WORKERS, Math.ceil((2 * n) / usable));
  const sinks = Math.max(1, Math.ceil(n / usable));
  const clients = Math.max(2, Math.ceil(n / usable), Math.ceil(n / 25_000));
  const upstreamSources = Array.from({ length: Math.max(1, Math.ceil(n / 20_000)) }, (_, i) => `127.0.0.${i + 1}`);
  console.error(`${n} connections: ${workers} gateway workers, ${clients} client processes, ${sinks} upstream acceptor workers, open-file limit ${limit}`);
  const t0 = performance.now();
  const pki = createTestPki('bench.zeta');
  const procs: ChildProcess[] = [];
  let gcl: GatewayCluster | null = null;
  try {
    console.error(`minting ${n} device certificates...`);
    const devices: { id: string; key: string; cert: string }[] = [];
    const records: Record<string, { state: string }> = {};
    for (let i = 0; i < n; i++) {
      const d = pki.device(`idle-${i}`, { noFiles: true });
      devices.push({ id: d.deviceId, key: d.key, cert: d.cert });
      records[d.deviceId] = { state: 'active' };
    }
    console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const sinkPort = await freePort();
    const sink = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', 'sink', String(sinks), String(sinkPort)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    procs.push(sink);
    await new Promise<void>((resolve) => sink.on('message', () => resolve()));
    gcl = await runGatewayCluster({
      trustDomain: pki.trustDomain,
      tls: { ...pki.server, ca: pki.caBundle },
      workers,
      port: 0,
      upstream: { kind: 'external', url: `mqtt://127.0.0.1:${sinkPort}`, sourceAddresses: upstreamSources },
      status: { module: STATUS_MODULE, export: 'createMemoryStatusSource', options: { devices: records } },
      limits: { ...BENCH_LIMITS, maxConnections: n, tlsHandshakeTimeoutMs: 60_000, connectTimeoutMs: 60_000, upstreamConnectTimeoutMs: 30_000, maxKeepaliveSeconds: 3600 },
    });
    await new Promise((r) => setTimeout(r, 1000));
    const pids = gcl.pids;
    const rss0 = pids.reduce((a, p) => a + rssKb(p), 0);
    const per = Math.ceil(n / clients);
    const deadlineMs = Number(process.env.ZETA_BENCH_CONNECT_DEADLINE_MS ?? (QUICK ? 60_000 : 240_000));
    const children: { child: ChildProcess; opened: Promise<{ opened: number; failed: number; notTried: number }> }[] = [];
    const progress = new Array<number>(clients).fill(0);
    const tConnect = performance.now();
    for (let c = 0; c < clients; c++) {
      const p = join(pki.dir, `hold-${c}.json`);
      writeFileSync(p, JSON.stringify({ host: '127.0.0.1', port: gcl.port, ca: pki.caBundle, localAddress: `127.0.0.${c + 2}`, inflight: 24, deadlineMs, devices: devices.slice(c * per, (c + 1) * per) }));
      const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', 'hold', p], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      procs.push(child);
      const opened = new Promise<{ opened: number; failed: number; notTried: number }>((resolve) =>
        child.on('message', (m: { progress?: number; opened?: number; failed?: number; notTried?: number }) => {
          if (m.progress !== undefined) progress[c] = m.progress;
          if (m.opened !== undefined) resolve({ opened: m.opened, failed: m.failed ?? 0, notTried: m.notTried ?? 0 });
        }),
      );
      children.push({ child, opened });
    }
    const ticker = setInterval(() => console.error(`  ${progress.reduce((a, b) => a + b, 0)} connected after ${((performance.now() - tConnect) / 1000).toFixed(0)} s`), 10_000);
    const opened = await Promise.all(children.map((c) => c.opened));
    clearInterval(ticker);
    const connectS = (performance.now() - tConnect) / 1000;
    const total = opened.reduce((a, o) => a + o.opened, 0);
    const failed = opened.reduce((a, o) => a + o.failed, 0);
    const notTried = opened.reduce((a, o) => a + o.notTried, 0);
    console.error(`  ${total} CONNACKed in ${connectS.toFixed(0)} s (${(total / connectS).toFixed(0)}/s), ${failed} failed, ${notTried} not tried before the deadline`);
    const holdMs = QUICK ? 3000 : 10_000;
    await new Promise((r) => setTimeout(r, holdMs));
    const sessions = await gcl.connectionCount();
    const rss1 = pids.reduce((a, p) => a + rssKb(p), 0);
    const alive = await Promise.all(
      children.map(
        (c) =>
          new Promise<number>((resolve) => {
            c.child.once('message', (m: { alive?: number }) => resolve(m.alive ?? 0));
            c.child.send('check');
          }),
      ),
    );
    const aliveTotal = alive.reduce((a, b) => a + b, 0);
    const kib = (rss1 - rss0) / Math.max(1, total);
    console.log('');
    console.log(`connections requested ${n}, CONNACKed ${total}, alive after ${holdMs / 1000} s hold ${aliveTotal} (PINGREQ → PINGRESP), gateway sessions ${sessions}`);
    console.log(`gateway: ${workers} workers, ${(rss1 / 1024).toFixed(0)} MiB RSS total, ${kib.toFixed(1)} KiB per connection; connect phase ${connectS.toFixed(0)} s`);
    console.log(JSON.stringify({ bench: 'gateway-connections', requested: n, connacked: total, alive: aliveTotal, failed, notTried, gatewaySessions: sessions, workers, clientProcesses: clients, kibPerConnection: Math.round(kib * 10) / 10, rssMiB: Math.round(rss1 / 1024), connectSeconds: Math.round(connectS), openFileLimit: limit }));
    for (const c of children) c.child.send('done');
  } finally {
    await gcl?.close();
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        if (p.connected) p.send('done');
        setTimeout(() => p.kill('SIGKILL'), 3000).unref();
      }
    }
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)))));
    pki.cleanup();
    console.error(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}

if (process.argv[2] === '--child') await childMain();
else if (argValue('--connections') !== undefined) await connectionsMain(Number(argValue('--connections')));
else await main();
