/**
 * Full mode: a real fleet against a running Zeta. Devices are added through the API, make their
 * own keys and enroll over EST (src/agent), connect through the gateway with their certificates
 * (MQTT.js, each from its own loopback address when the gateway is local), publish on a diurnal
 * cycle compressed by `speed`, and a few of them turn attacker. The attacks MQTT can carry are
 * performed for real; network-level ones (scanning, exfiltration) go to the server as Zeek conn
 * records when it has an ingest endpoint, else to a file. Every attack is an episode in
 * labels.jsonl; at the end the server's alerts (GET /api/v1/alerts) are matched to them.
 */
import { createServer, isIP } from 'node:net';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ZetaError } from '../common/errors.js';
import { enroll } from '../agent/index.js';
import type { Alert, Episode } from '../monitor/index.js';
import { SimApiClient } from './api-client.js';
import { MATCH_GRACE_MS } from './evaluate.js';
import { episodeLine, zeekJsonLine } from './scale.js';

/** The attacks full mode performs, each with the signal that carries it. */
export const FULL_ATTACKS = {
  bruteforce: 'refused TLS handshakes (no or a foreign client certificate) from one address, again and again',
  clone: "the victim's certificate and key used from a second address while the victim is connected",
  lateral: 'subscriptions toward another segment and other devices\' command topics (denied)',
  flood: 'a publish flood on the device\'s own topic (DDoS-style message rate)',
  beacon: 'C2-style beaconing: the device reconnects on a fixed short period',
  'topic-scan': 'publishes and subscriptions to many topics the device has no business with',
  scan: 'Mirai-style telnet scan (Zeek conn records: many hosts, refused/unanswered)',
  exfil: 'large uploads to a never-seen external host (Zeek conn records)',
} as const;
export type FullAttack = keyof typeof FULL_ATTACKS;
export const FULL_ATTACK_KINDS = Object.keys(FULL_ATTACKS) as FullAttack[];
const NETWORK_ATTACKS: ReadonlySet<FullAttack> = new Set(['scan', 'exfil']);

const TYPES = [
  { type: 'camera', segment: 'cameras', everyS: 60 },
  { type: 'thermostat', segment: 'hvac', everyS: 60 },
  { type: 'lock', segment: 'access', everyS: 120 },
  { type: 'plc', segment: 'ot', everyS: 30 },
  { type: 'sensor', segment: 'sensors', everyS: 60 },
] as const;

export interface FullSimOptions {
  /** https:// URL of the API (and EST). */
  readonly server: string;
  /** An operator or admin API token (devices are added with it; alerts are read with it). */
  readonly token: string;
  /** PEM file that verifies the server (and the gateway): `ca.pem` from `zeta init`. */
  readonly caFile: string;
  /** mqtts:// URL of the gateway; default: the API host, port 8883. */
  readonly mqtt?: string;
  readonly devices?: number;
  /** Simulated seconds per wall-clock second for the diurnal cycle (60: a day in 24 minutes). */
  readonly speed?: number;
  /** Wall seconds of normal behaviour before the first attack (the detectors see the fleet). */
  readonly warmupS?: number;
  /** Wall seconds to wait after the last attack for held alerts to be released (the longest hold of a device-level rule is 30 s). */
  readonly settleS?: number;
  readonly attacks?: readonly FullAttack[];
  /** Keys, certificates, events, labels, alerts. */
  readonly outDir: string;
  /** Run tag in device ids (`<type>-<prefix>-<n>`); default `sim<random>` so runs never collide. */
  readonly prefix?: string;
  readonly signal?: AbortSignal;
}

export type FullProgress =
  | { readonly type: 'phase'; readonly phase: 'add' | 'enroll' | 'connect' | 'run' | 'attack' | 'settle' | 'collect'; readonly message: string }
  | { readonly type: 'progress'; readonly phase: string; readonly done: number; readonly total: number }
  | { readonly type: 'device'; readonly id: string; readonly deviceType: string; readonly state: 'added' | 'enrolled' | 'connected' | 'disconnected' }
  | { readonly type: 'attack'; readonly episode: Episode; readonly description: string }
  | { readonly type: 'notice'; readonly message: string }
  | { readonly type: 'alert'; readonly alert: Alert; readonly episode: { readonly index: number; readonly kind: string } | null }
  | { readonly type: 'done'; readonly summary: FullSummary };

export interface FullEpisodeResult {
  readonly episode: number;
  readonly kind: FullAttack;
  readonly keys: readonly string[];
  readonly delivered: 'gateway' | 'ingest' | 'file';
  readonly detected: boolean;
  readonly ttdS: number | null;
  readonly rules: readonly string[];
}

export interface FullSummary {
  readonly mode: 'full';
  readonly devices: number;
  readonly messagesPublished: number;
  readonly episodes: readonly FullEpisodeResult[];
  readonly detected: number;
  readonly alerts: number;
  /** Alerts not on an attack episode's key within its window (+5 min). */
  readonly falseAlerts: number;
  readonly zeekIngest: 'endpoint' | 'file' | 'none';
  readonly files: Readonly<Record<string, string>>;
}

interface SimDeviceRuntime {
  readonly id: string;
  readonly type: string;
  readonly segment: string;
  readonly everyS: number;
  readonly dir: string;
  readonly address: string | undefined;
  client: MqttClient | undefined;
  paused: boolean;
  nextAt: number;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const onAbort = (): void => { clearTimeout(t); resolve(); };
    // One listener per sleep, removed when the sleep ends: the background loop sleeps 20 times a second.
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Can this host bind a socket to `addr`? (Linux routes all of 127/8 to loopback; others may not.) */
async function canBind(addr: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, addr, () => s.close(() => resolve(true)));
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '[::1]';
}

function check(name: string, v: number, min: number, max: number): void {
  if (!Number.isFinite(v) || v < min || v > max) throw new ZetaError('ZETA_ERR_VALIDATION', `${name} must be from ${min} to ${max}, got ${v}`);
}

export async function* runFullSim(o: FullSimOptions): AsyncGenerator<FullProgress> {
  const n = o.devices ?? 10;
  const speed = o.speed ?? 60;
  const warmupS = o.warmupS ?? 20;
  const settleS = o.settleS ?? 35;
  check('devices', n, 2, 1000);
  check('speed', speed, 1, 86_400);
  check('warmup seconds', warmupS, 0, 86_400);
  check('settle seconds', settleS, 0, 3600);
  const attacks = [...(o.attacks ?? FULL_ATTACK_KINDS)];
  for (const a of attacks) if (!(a in FULL_ATTACKS)) throw new ZetaError('ZETA_ERR_VALIDATION', `unknown attack ${String(a)}; one of ${FULL_ATTACK_KINDS.join(', ')}`);
  const prefix = o.prefix ?? `sim${randomBytes(3).toString('hex')}`;
  if (!/^[a-z0-9][a-z0-9._-]{0,40}$/.test(prefix)) throw new ZetaError('ZETA_ERR_VALIDATION', `prefix: lower-case letters, digits, ".", "_" or "-" (at most 41), got ${prefix}`);
  let ca: string;
  try {
    ca = readFileSync(o.caFile, 'utf8');
  } catch (e) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `cannot read --ca-file ${o.caFile}: ${(e as Error).message}`, { cause: e });
  }
  const api = new SimApiClient({ server: o.server, token: o.token, ca });
  const apiUrl = new URL(o.server);
  const mqttUrl = new URL(o.mqtt ?? `mqtts://${apiUrl.hostname}:8883`);
  if (mqttUrl.protocol !== 'mqtts:') throw new ZetaError('ZETA_ERR_VALIDATION', `--mqtt must be an mqtts:// URL, got ${mqttUrl.href}`);
  const attackersNeeded = attacks.filter((a) => a !== 'bruteforce').length;
  if (attackersNeeded >= n) throw new ZetaError('ZETA_ERR_VALIDATION', `${attacks.length} attacks need at least ${attackersNeeded + 1} devices (one attacker each and a quiet remainder), got ${n}`);

  mkdirSync(o.outDir, { recursive: true });
  const files = {
    events: join(o.outDir, 'events.jsonl'),
    labels: join(o.outDir, 'labels.jsonl'),
    alerts: join(o.outDir, 'alerts.jsonl'),
    summary: join(o.outDir, 'summary.json'),
    devices: join(o.outDir, 'devices'),
  } as Record<string, string>;
  writeFileSync(files.events as string, '');
  writeFileSync(files.labels as string, '');
  const log = (ev: Record<string, unknown>): void => appendFileSync(files.events as string, JSON.stringify({ at: new Date().toISOString(), ...ev }) + '\n');

  // Fail before adding anything if the token or the CA is wrong.
  await api.json('GET', '/api/v1/alerts?limit=1');

  // Separate loopback addresses make "one identity from two places" observable on one machine.
  const local = isLoopback(mqttUrl.hostname) && (await canBind('127.77.0.1'));
  // The gateway's certificate names `localhost`; with a pinned IPv4 source address the socket must
  // go to 127.0.0.1 (localhost may resolve to ::1), still checking the name `localhost`.
  const servername = isIP(mqttUrl.hostname) === 0 ? mqttUrl.hostname : undefined;
  const target = new URL(mqttUrl.href);
  if (local && mqttUrl.hostname === 'localhost') target.hostname = '127.0.0.1';
  const addressOf = (i: number): string | undefined => (local ? `127.77.${Math.floor(i / 250)}.${(i % 250) + 1}` : undefined);
  const attackerAddress = (i: number): string | undefined => (local ? `127.78.0.${i + 1}` : undefined);
  if (!local) yield { type: 'notice', message: 'the gateway is not on this host (or 127.77.0.1 cannot be bound): every connection leaves from one address, so the cloned-certificate attack cannot show a second address' };

  // --- add -------------------------------------------------------------------------------------
  yield { type: 'phase', phase: 'add', message: `adding ${n} devices through the API (${o.server})` };
  const fleet: SimDeviceRuntime[] = [];
  const tokens = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const t = TYPES[i % TYPES.length] as (typeof TYPES)[number];
    // Type first: without an inventory the server's Monitor takes a device's cohort from its id's
    // alphabetic prefix (src/monitor README, "Keys and cohorts"), so cameras are judged with cameras.
    const id = `${t.type}-${prefix}-${String(Math.floor(i / TYPES.length) + 1).padStart(2, '0')}`;
    const r = await api.json<{ id: string; enrollmentToken: string }>('POST', '/api/v1/devices', { id, name: `sim ${t.type} ${i + 1}`, type: t.type, segment: t.segment });
    tokens.set(r.id, r.enrollmentToken);
    fleet.push({ id: r.id, type: t.type, segment: t.segment, everyS: t.everyS, dir: join(o.outDir, 'devices', r.id), address: addressOf(i), client: undefined, paused: false, nextAt: 0 });
    log({ event: 'device_added', device: r.id, type: t.type, segment: t.segment });
    yield { type: 'device', id: r.id, deviceType: t.type, state: 'added' };
    yield { type: 'progress', phase: 'add', done: i + 1, total: n };
  }

  // --- enroll ----------------------------------------------------------------------------------
  yield { type: 'phase', phase: 'enroll', message: 'each device makes its key and enrolls over EST (RFC 7030)' };
  for (let i = 0; i < fleet.length; i++) {
    const d = fleet[i] as SimDeviceRuntime;
    await enroll({ server: o.server, deviceId: d.id, token: tokens.get(d.id) as string, outDir: d.dir, caFile: o.caFile });
    log({ event: 'enrolled', device: d.id });
    yield { type: 'device', id: d.id, deviceType: d.type, state: 'enrolled' };
    yield { type: 'progress', phase: 'enroll', done: i + 1, total: n };
  }
  tokens.clear();

  const clientOptions = (d: { id: string; dir: string }, address: string | undefined, v: 4 | 5 = 4): IClientOptions => ({
    key: readFileSync(join(d.dir, 'key.pem')),
    cert: readFileSync(join(d.dir, 'cert.pem')),
    ca: readFileSync(join(d.dir, 'ca.pem')),
    clientId: d.id,
    protocolVersion: v,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(address === undefined ? {} : { localAddress: address }),
    ...(servername === undefined ? {} : { servername }),
  });
  const connect = (opts: IClientOptions): Promise<MqttClient> =>
    new Promise((resolve, reject) => {
      const c = mqtt.connect(target.href, { ...(servername === undefined ? {} : { servername }), ...opts });
      const fail = (e?: Error): void => {
        c.end(true);
        reject(new ZetaError('ZETA_ERR_SERVER', `MQTT connect refused: ${e?.message ?? 'connection closed'}`));
      };
      c.once('connect', () => { c.off('error', fail); c.off('close', fail); resolve(c); });
      c.once('error', fail);
      c.once('close', fail);
    });
  const connectDevice = async (d: SimDeviceRuntime): Promise<void> => {
    const c = await connect(clientOptions(d, d.address));
    c.on('error', () => undefined);
    c.once('close', () => { if (d.client === c) d.client = undefined; });
    d.client = c;
  };

  // --- connect ---------------------------------------------------------------------------------
  yield { type: 'phase', phase: 'connect', message: `devices connect to the gateway ${mqttUrl.host} with their certificates${local ? ' (each from its own 127.77.x.y address)' : ''}` };
  for (let i = 0; i < fleet.length; i++) {
    const d = fleet[i] as SimDeviceRuntime;
    await connectDevice(d);
    log({ event: 'connected', device: d.id, address: d.address ?? null });
    yield { type: 'device', id: d.id, deviceType: d.type, state: 'connected' };
    yield { type: 'progress', phase: 'connect', done: i + 1, total: n };
  }

  // --- normal behaviour, in the background for the rest of the run ----------------------------
  const t0 = Date.now();
  let published = 0;
  let running = true;
  const diurnal = (now: number): number => 1 + 0.5 * Math.sin((2 * Math.PI * (((now - t0) * speed) / 1000 / 86_400)) - Math.PI / 2 + Math.PI * 0.6);
  for (const d of fleet) d.nextAt = t0 + Math.random() * Math.max(100, (d.everyS * 1000) / speed);
  const behave = (async (): Promise<void> => {
    while (running && o.signal?.aborted !== true) {
      const now = Date.now();
      for (const d of fleet) {
        if (d.paused || now < d.nextAt) continue;
        // Time compression speeds up the day, not the devices: at most one message a second each,
        // so a compressed run looks like a fleet, not like a flood.
        d.nextAt = now + Math.min(30_000, Math.max(1000, (d.everyS * 1000) / speed) / diurnal(now)) * (0.9 + 0.2 * Math.random());
        if (d.client === undefined || !d.client.connected) {
          // Kicked (a clone took the session) or dropped: come back, as a real device would.
          if (d.client === undefined) await connectDevice(d).catch(() => undefined);
          continue;
        }
        const value = Math.round((20 + 5 * diurnal(now) + Math.random()) * 100) / 100;
        d.client.publish(`devices/${d.id}/status`, JSON.stringify({ t: now, value }), { qos: 0 });
        published++;
      }
      await sleep(50, o.signal);
    }
  })();

  const episodes: Episode[] = [];
  const delivered = new Map<number, FullEpisodeResult['delivered']>();
  let zeekIngest: FullSummary['zeekIngest'] = 'none';
  try {
    yield { type: 'phase', phase: 'run', message: `normal behaviour for ${warmupS} s (diurnal cycle at ${speed}× speed)` };
    for (let s = 0; s < warmupS && o.signal?.aborted !== true; s++) {
      await sleep(1000, o.signal);
      yield { type: 'progress', phase: 'run', done: s + 1, total: warmupS };
    }

    // --- attacks -------------------------------------------------------------------------------
    let nextAttacker = n - 1;
    for (const kind of attacks) {
      if (o.signal?.aborted === true) break;
      const attacker = kind === 'bruteforce' ? undefined : (fleet[nextAttacker--] as SimDeviceRuntime);
      const extAddr = attackerAddress(episodes.length) ?? '127.0.0.1';
      const keys = kind === 'bruteforce' ? [extAddr] : NETWORK_ATTACKS.has(kind) ? [attacker?.address ?? attacker?.id ?? ''] : [(attacker as SimDeviceRuntime).id];
      const startMs = Date.now();
      yield { type: 'phase', phase: 'attack', message: `attack ${episodes.length + 1}/${attacks.length}: ${kind}${attacker === undefined ? ` from ${extAddr}` : ` by ${attacker.id}`} — ${FULL_ATTACKS[kind]}` };
      const how = await perform(kind, attacker, extAddr);
      const e: Episode = { index: episodes.length, kind: kind as Episode['kind'], label: 'attack', keys, startMs, endMs: Date.now(), detectableFromMs: startMs };
      episodes.push(e);
      delivered.set(e.index, how);
      appendFileSync(files.labels as string, episodeLine(e).replace(/^\{/, `{"delivered":"${how}",`) + '\n');
      yield { type: 'attack', episode: e, description: FULL_ATTACKS[kind] };
      if (how === 'file') yield { type: 'notice', message: `the server has no Zeek ingest endpoint (POST /api/v1/ingest/zeek-conn): the ${kind} records are in ${files.network ?? ''}; replay them with \`zeta detect --format zeek-conn --input ${files.network ?? ''}\`` };
      await sleep(2000, o.signal);
    }

    yield { type: 'phase', phase: 'settle', message: `waiting ${settleS} s for held alerts (cohort context) to be released` };
    for (let s = 0; s < settleS && o.signal?.aborted !== true; s++) {
      await sleep(1000, o.signal);
      yield { type: 'progress', phase: 'settle', done: s + 1, total: settleS };
    }
  } finally {
    running = false;
    await behave.catch(() => undefined);
    for (const d of fleet) d.client?.end(true);
  }

  // --- collect ---------------------------------------------------------------------------------
  yield { type: 'phase', phase: 'collect', message: 'reading the server\'s alerts (GET /api/v1/alerts)' };
  const ours = new Set([...fleet.map((d) => d.id), ...episodes.flatMap((e) => e.keys)]);
  const got = await api.json<{ alerts: unknown[] }>('GET', '/api/v1/alerts?limit=2000');
  const alerts = got.alerts.map(asAlert).filter((a): a is Alert => a !== undefined && ours.has(a.key) && a.atMs >= t0);
  writeFileSync(files.alerts as string, alerts.map((a) => JSON.stringify(a)).join('\n') + (alerts.length > 0 ? '\n' : ''));
  const results: FullEpisodeResult[] = [];
  const matched = new Set<Alert>();
  for (const e of episodes) {
    const hits = alerts.filter((a) => e.keys.includes(a.key) && a.atMs >= e.startMs && a.atMs <= e.endMs + MATCH_GRACE_MS);
    for (const a of hits) matched.add(a);
    const first = hits.reduce<number | null>((m, a) => (m === null || a.atMs < m ? a.atMs : m), null);
    results.push({ episode: e.index, kind: e.kind as FullAttack, keys: e.keys, delivered: delivered.get(e.index) ?? 'gateway', detected: hits.length > 0, ttdS: first === null ? null : Math.round((Math.max(0, first - e.startMs) / 1000) * 10) / 10, rules: [...new Set(hits.map((a) => a.rule))] });
  }
  for (const a of alerts) {
    const e = episodes.find((x) => x.keys.includes(a.key) && a.atMs >= x.startMs && a.atMs <= x.endMs + MATCH_GRACE_MS);
    yield { type: 'alert', alert: a, episode: e === undefined ? null : { index: e.index, kind: e.kind } };
  }
  const summary: FullSummary = {
    mode: 'full',
    devices: fleet.length,
    messagesPublished: published,
    episodes: results,
    detected: results.filter((r) => r.detected).length,
    alerts: alerts.length,
    falseAlerts: alerts.filter((a) => !matched.has(a)).length,
    zeekIngest,
    files,
  };
  writeFileSync(files.summary as string, JSON.stringify(summary, null, 2) + '\n');
  yield { type: 'done', summary };

  // --- the attacks -----------------------------------------------------------------------------

  /** The attack takes the device's identity over from its well-behaved loop (the loop pauses). */
  async function takeOver(dev: SimDeviceRuntime, v: 4 | 5 | undefined): Promise<MqttClient | undefined> {
    dev.paused = true;
    const old = dev.client;
    dev.client = undefined;
    old?.end(true);
    await sleep(200, o.signal);
    if (v === undefined) return undefined;
    const c = await connect(clientOptions(dev, dev.address, v)).catch(() => undefined);
    c?.on('error', () => undefined);
    c?.once('close', () => { if (dev.client === c) dev.client = undefined; });
    dev.client = c;
    return c;
  }

  async function perform(kind: FullAttack, d: SimDeviceRuntime | undefined, extAddr: string): Promise<FullEpisodeResult['delivered']> {
    const local2 = extAddr.startsWith('127.') && local ? extAddr : undefined;
    switch (kind) {
      case 'bruteforce': {
        // A bot without a Zeta certificate hammers the gateway: every TLS handshake is refused.
        for (let i = 0; i < 15 && o.signal?.aborted !== true; i++) {
          await connect({ ca, clientId: `admin${i}`, username: 'admin', password: `guess${i}`, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...(local2 === undefined ? {} : { localAddress: local2 }) }).then((c) => c.end(true), () => undefined);
          log({ event: 'attack_connect_refused_tls', episode: episodes.length, address: extAddr });
          await sleep(300, o.signal);
        }
        return 'gateway';
      }
      case 'clone': {
        // The same key and certificate, from another address, while the real device is online.
        const dev = d as SimDeviceRuntime;
        for (let i = 0; i < 3 && o.signal?.aborted !== true; i++) {
          const c = await connect(clientOptions(dev, local2)).catch(() => undefined);
          log({ event: 'attack_clone_connect', episode: episodes.length, device: dev.id, address: extAddr, accepted: c !== undefined });
          await sleep(1500, o.signal);
          c?.end(true);
          await sleep(1500, o.signal); // the real device reconnects in the background loop
        }
        return 'gateway';
      }
      case 'lateral':
      case 'topic-scan': {
        const dev = d as SimDeviceRuntime;
        const others = fleet.filter((x) => x.segment !== dev.segment);
        // MQTT 3.1.1: a refused SUBSCRIBE is a SUBACK failure (0x80) and the session stays; a refused
        // PUBLISH has no PUBACK code, so the gateway disconnects and the attacker comes back.
        let c = await takeOver(dev, 4);
        if (c !== undefined) {
          for (let i = 0; i < 10 && c !== undefined && c.connected && o.signal?.aborted !== true; i++) {
            const other = others[i % Math.max(1, others.length)] ?? dev;
            const filter = kind === 'lateral' ? (i % 2 === 0 ? `segments/${other.segment}/#` : `devices/${other.id}/cmd`) : ['#', '$SYS/#', 'devices/+/cmd', `devices/${dev.id}/../+`, 'segments/+/#'][i % 5] as string;
            const r = await c.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
            log({ event: 'attack_subscribe', episode: episodes.length, device: dev.id, filter, granted: r?.[0]?.qos ?? null });
            if (kind === 'topic-scan') {
              const topic = `devices/${dev.id}/${['cmd', 'shell', 'debug', 'fw', 'config'][i % 5] as string}/${i}`;
              const cur = c;
              await Promise.race([cur.publishAsync(topic, 'probe', { qos: 1 }).catch(() => undefined), new Promise<void>((r) => { cur.once('close', () => r()); }), sleep(1500, o.signal)]);
              log({ event: 'attack_publish', episode: episodes.length, device: dev.id, topic, disconnected: !cur.connected });
              if (!cur.connected) {
                cur.end(true);
                const next = await connect(clientOptions(dev, dev.address)).catch(() => undefined);
                next?.on('error', () => undefined);
                next?.once('close', () => { if (dev.client === next) dev.client = undefined; });
                dev.client = c = next;
                if (c === undefined) break;
              }
            }
            await sleep(400, o.signal);
          }
        }
        dev.paused = false;
        return 'gateway';
      }
      case 'flood': {
        const dev = d as SimDeviceRuntime;
        const c = dev.client;
        let sent = 0;
        // The gateway throttles each session (token bucket), so the flood reaches the broker at
        // its ceiling for as long as it lasts; 20 s is well above any device's usual minute.
        const until = Date.now() + 20_000;
        while (Date.now() < until && c !== undefined && c.connected && o.signal?.aborted !== true) {
          for (let i = 0; i < 100; i++) c.publish(`devices/${dev.id}/status`, 'x'.repeat(200), { qos: 0 });
          sent += 100;
          await sleep(20, o.signal);
        }
        log({ event: 'attack_publish_flood', episode: episodes.length, device: dev.id, messages: sent });
        return 'gateway';
      }
      case 'beacon': {
        // Beaconing: connect, say a few bytes, leave, on a fixed period.
        const dev = d as SimDeviceRuntime;
        await takeOver(dev, undefined);
        for (let i = 0; i < 8 && o.signal?.aborted !== true; i++) {
          const c = await connect(clientOptions(dev, dev.address)).catch(() => undefined);
          c?.publish(`devices/${dev.id}/status`, 'beacon', { qos: 0 });
          await sleep(200, o.signal);
          c?.end(true);
          log({ event: 'attack_beacon_connect', episode: episodes.length, device: dev.id, accepted: c !== undefined });
          await sleep(1300, o.signal);
        }
        dev.paused = false;
        return 'gateway';
      }
      case 'scan':
      case 'exfil': {
        const dev = d as SimDeviceRuntime;
        const origH = dev.address ?? '127.0.0.1';
        const now = Date.now();
        const lines: string[] = [];
        let uid = 0;
        const flow = (ts: number, respH: string, respP: number, extra: Record<string, unknown>): string =>
          zeekJsonLine({ kind: 'flow', tsMs: ts, uid: `Csim${episodes.length}x${uid++}`, origH, origP: 40000 + (uid % 20000), respH, respP, proto: 'tcp', service: '', duration: 0, origBytes: 0, respBytes: 0, connState: 'S0', history: 'S', origPkts: 1, respPkts: 0, ...extra });
        if (kind === 'scan') for (let i = 0; i < 300; i++) lines.push(flow(now + i * 30, `10.${i % 4}.${Math.floor(i / 4) % 250}.${(i * 7) % 250 + 1}`, i % 5 === 0 ? 2323 : 23, {}));
        else for (let i = 0; i < 12; i++) lines.push(flow(now + i * 5000, '185.220.101.9', 443, { service: 'ssl', duration: 4, origBytes: 3_000_000, respBytes: 4000, connState: 'SF', history: 'ShADadFf', origPkts: 2200, respPkts: 40 }));
        const body = lines.join('\n') + '\n';
        const r = await api.call('POST', '/api/v1/ingest/zeek-conn', body, 'application/x-ndjson').catch((e: Error) => ({ status: -1, body: e.message }));
        if (r.status >= 200 && r.status < 300) {
          zeekIngest = 'endpoint';
          log({ event: 'attack_zeek_ingested', episode: episodes.length, records: lines.length });
          return 'ingest';
        }
        // No ingest endpoint on this server (404), or it refused: keep the records for `zeta detect`.
        zeekIngest = zeekIngest === 'endpoint' ? 'endpoint' : 'file';
        const file = join(o.outDir, 'network.zeek.jsonl');
        appendFileSync(file, body);
        files.network = file;
        log({ event: 'attack_zeek_to_file', episode: episodes.length, records: lines.length, status: r.status, file });
        return 'file';
      }
    }
  }
}

/**
 * The server persists alerts (src/response): `{id, at, key, rule, severity, score, summary,
 * explanation}` where `explanation` is the detector's alert. Read either shape; anything else is
 * skipped rather than guessed at.
 */
function asAlert(v: unknown): Alert | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.atMs === 'number' && typeof r.key === 'string') return r as unknown as Alert;
  if (typeof r.at !== 'string' || typeof r.key !== 'string' || typeof r.rule !== 'string') return undefined;
  const atMs = Date.parse(r.at);
  if (!Number.isFinite(atMs)) return undefined;
  const ex = (typeof r.explanation === 'object' && r.explanation !== null ? r.explanation : {}) as Record<string, unknown>;
  return { ...(ex as object), id: String(r.id), at: r.at, atMs, key: r.key, rule: r.rule, severity: r.severity, score: r.score, summary: r.summary, level: 'device' } as unknown as Alert;
}
