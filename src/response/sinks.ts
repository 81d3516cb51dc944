/**
 * Where alerts and response actions go besides the API: a signed webhook, syslog (RFC 5424 over
 * UDP, RFC 5426, or TCP with octet counting, RFC 6587 §3.4.1) and a JSON lines file for SIEMs.
 *
 * Every sink has a bounded queue and delivers in order, one at a time, retrying with exponential
 * backoff. A full queue drops the new event and counts it: a slow or dead receiver never makes the
 * server grow without bound, and never slows the enforcement path (sinks are fire-and-forget).
 */
import { createHmac } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { appendFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ZetaError } from '../common/errors.js';
import type { AlertRecord } from './alert-store.js';
import type { ResponseAction } from './engine.js';

export type SinkEvent =
  | { type: 'alert'; ts: string; alert: AlertRecord }
  | { type: 'response'; ts: string; action: ResponseAction };

export interface SinkStats {
  name: string;
  queued: number;
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
}

export interface Sink {
  readonly name: string;
  push(e: SinkEvent): void;
  stats(): SinkStats;
  /** Resolves once the queue is empty (or gave up); for tests and shutdown. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface QueueOptions {
  queueLimit?: number;
  /** Attempts after the first (0 = no retry). */
  maxRetries?: number;
  /** First backoff; doubles per attempt, capped at 30 s. */
  backoffMs?: number;
}

/** Ordered delivery from a bounded queue with retries; subclasses say how one event is sent. */
abstract class QueuedSink implements Sink {
  abstract readonly name: string;
  readonly #queue: SinkEvent[] = [];
  readonly #limit: number;
  readonly #retries: number;
  readonly #backoff: number;
  #running = false;
  #closed = false;
  #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  protected counters = { sent: 0, failed: 0, dropped: 0, retries: 0 };

  constructor(o: QueueOptions) {
    this.#limit = o.queueLimit ?? 1000;
    this.#retries = o.maxRetries ?? 5;
    this.#backoff = o.backoffMs ?? 500;
  }

  protected abstract deliver(e: SinkEvent): Promise<void>;

  push(e: SinkEvent): void {
    if (this.#closed || this.#queue.length >= this.#limit) {
      this.counters.dropped++;
      return;
    }
    this.#queue.push(e);
    if (!this.#running) void this.#run();
  }

  stats(): SinkStats {
    return { name: this.name, queued: this.#queue.length, ...this.counters };
  }

  async flush(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return;
    await new Promise<void>((r) => this.#waiters.push(r));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0 && !this.#closed) {
      const e = this.#queue[0]!;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.deliver(e);
          this.counters.sent++;
          break;
        } catch {
          if (attempt >= this.#retries || this.#closed) {
            this.counters.failed++;
            break;
          }
          this.counters.retries++;
          const wait = Math.min(30_000, this.#backoff * 2 ** attempt);
          await new Promise<void>((r) => { this.#wake = r; this.#timer = setTimeout(r, wait); });
        }
      }
      this.#queue.shift();
    }
    this.#running = false;
    for (const w of this.#waiters.splice(0)) w();
  }
}

// ---- webhook ----

/**
 * The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
 * timestamp is inside the MAC, so a receiver that refuses timestamps older than a few minutes
 * also refuses replays of captured deliveries (the Stripe scheme).
 */
export function signWebhook(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `t=${timestampSec},v1=${mac}`;
}

export const WEBHOOK_SIGNATURE_HEADER = 'x-zeta-signature';

export class WebhookSink extends QueuedSink {
  readonly name = 'webhook';
  readonly #url: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(o: QueueOptions & { url: string; secret: string; timeoutMs?: number; now?: () => number }) {
    super(o);
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new ZetaError('ZETA_ERR_CONFIG', `alertWebhookUrl is not a URL: ${o.url}`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ZetaError('ZETA_ERR_CONFIG', 'alertWebhookUrl must be http:// or https://');
    // Fail closed: an unsigned webhook would let anyone on the path forge alerts to the receiver.
    if (o.secret.length < 16) throw new ZetaError('ZETA_ERR_CONFIG', 'alertWebhookSecret (at least 16 characters) is required with alertWebhookUrl');
    this.#url = o.url;
    this.#secret = o.secret;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#now = o.now ?? Date.now;
  }

  protected async deliver(e: SinkEvent): Promise<void> {
    const body = JSON.stringify(e);
    const t = Math.floor(this.#now() / 1000);
    const res = await fetch(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'zeta-webhook/1', [WEBHOOK_SIGNATURE_HEADER]: signWebhook(this.#secret, t, body), 'x-zeta-event': e.type },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
  }
}

// ---- syslog ----

/** RFC 5424 §6.2.1 severities. */
const SYSLOG_SEVERITY = { high: 2, medium: 4, low: 5 } as const;
/** Facility 4, security/authorization messages (RFC 5424 Table 1). */
const SYSLOG_FACILITY = 4;
/** RFC 5612 documentation enterprise number; an SD-ID with `@` is a private one (RFC 5424 §6.3.2). */
export const SYSLOG_SD_ID = 'zeta@32473';
const MAX_SYSLOG_OCTETS = 8192;

/** PRINTUSASCII without space, bounded (RFC 5424 §6.2: HOSTNAME, APP-NAME, MSGID). */
function header(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s === '' ? '-' : s;
}

/** RFC 5424 §6.3.3: `"`, `\` and `]` are escaped in PARAM-VALUE. */
function sdValue(v: unknown): string {
  return String(v).replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** One RFC 5424 message for an event (no framing). */
export function formatSyslog(e: SinkEvent, o: { hostname?: string; procId?: string | number; appName?: string } = {}): string {
  const sev = e.type === 'alert' ? SYSLOG_SEVERITY[e.alert.severity] : 5;
  const pri = SYSLOG_FACILITY * 8 + sev;
  const params: [string, unknown][] = e.type === 'alert'
    ? [['type', 'alert'], ['id', e.alert.id], ['rule', e.alert.rule], ['severity', e.alert.severity], ['score', e.alert.score.toFixed(3)], ['device', e.alert.deviceId ?? e.alert.key]]
    : [['type', 'response'], ['id', e.action.id], ['action', e.action.action], ['status', e.action.status], ['device', e.action.deviceId], ['step', e.action.step]];
  const sd = `[${SYSLOG_SD_ID} ${params.map(([k, v]) => `${k}="${sdValue(v)}"`).join(' ')}]`;
  const msg = e.type === 'alert' ? e.alert.summary : `${e.action.action} ${e.action.status}: ${e.action.reason}`;
  const line = `<${pri}>1 ${e.ts} ${header(o.hostname ?? hostname(), 255)} ${header(o.appName ?? 'zeta', 48)} ${header(String(o.procId ?? process.pid), 128)} ${e.type} ${sd} ${msg}`;
  const buf = Buffer.from(line, 'utf8');
  return buf.length <= MAX_SYSLOG_OCTETS ? line : buf.subarray(0, MAX_SYSLOG_OCTETS).toString('utf8').replace(/\uFFFD+$/, '');
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`. */
export function frameOctetCounting(msg: string): Buffer {
  const b = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length} `, 'ascii'), b]);
}

export class SyslogSink extends QueuedSink {
  readonly name: string;
  readonly #proto: 'udp' | 'tcp';
  readonly #host: string;
  readonly #port: number;
  readonly #fmt: { hostname?: string; procId?: string | number };
  #udp: UdpSocket | undefined;
  #tcp: Socket | undefined;

  constructor(o: QueueOptions & { target: string; hostname?: string; procId?: string | number }) {
    super(o);
    const m = /^(udp|tcp):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(o.target);
    if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new ZetaError('ZETA_ERR_CONFIG', `alertSyslog must be udp://host:port or tcp://host:port, got ${o.target}`);
    this.#proto = m[1] as 'udp' | 'tcp';
    this.#host = m[2]!.replace(/^\[|\]$/g, '');
    this.#port = Number(m[3]);
    this.name = `syslog-${this.#proto}`;
    this.#fmt = { ...(o.hostname === undefined ? {} : { hostname: o.hostname }), ...(o.procId === undefined ? {} : { procId: o.procId }) };
  }

  protected async deliver(e: SinkEvent): Promise<void> {
    const msg = formatSyslog(e, this.#fmt);
    if (this.#proto === 'udp') {
      // RFC 5426 §3.1: one message per datagram, no framing.
      this.#udp ??= createSocket(this.#host.includes(':') ? 'udp6' : 'udp4');
      const b = Buffer.from(msg, 'utf8');
      await new Promise<void>((resolve, reject) => this.#udp!.send(b, this.#port, this.#host, (err) => (err ? reject(err) : resolve())));
      return;
    }
    const sock = await this.#connection();
    await new Promise<void>((resolve, reject) => sock.write(frameOctetCounting(msg), (err) => (err ? reject(err) : resolve())));
  }

  async #connection(): Promise<Socket> {
    if (this.#tcp !== undefined && !this.#tcp.destroyed) return this.#tcp;
    const s = connect({ host: this.#host, port: this.#port });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    s.on('error', () => s.destroy());
    s.setTimeout(60_000, () => s.destroy());
    this.#tcp = s;
    return s;
  }

  override async close(): Promise<void> {
    await super.close();
    this.#udp?.close();
    this.#tcp?.end();
  }
}

// ---- JSON lines file ----

export class JsonLinesSink extends QueuedSink {
  readonly name = 'jsonl';
  readonly #path: string;

  constructor(o: QueueOptions & { path: string }) {
    super(o);
    this.#path = o.path;
  }

  protected async deliver(e: SinkEvent): Promise<void> {
    await appendFile(this.#path, JSON.stringify(e) + '\n', { mode: 0o600 });
  }
}

/** The configured sinks together. */
export class SinkSet {
  readonly sinks: Sink[];
  constructor(sinks: Sink[]) {
    this.sinks = sinks;
  }
  push(e: SinkEvent): void {
    for (const s of this.sinks) s.push(e);
  }
  stats(): SinkStats[] {
    return this.sinks.map((s) => s.stats());
  }
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()));
  }
  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}

export interface SinkConfig {
  alertWebhookUrl: string;
  alertWebhookSecret: string;
  alertSyslog: string;
  alertJsonlFile: string;
  alertSinkQueueLimit: number;
  alertSinkMaxRetries: number;
}

export function sinksFromConfig(c: SinkConfig): SinkSet {
  const q = { queueLimit: c.alertSinkQueueLimit, maxRetries: c.alertSinkMaxRetries };
  const out: Sink[] = [];
  if (c.alertWebhookUrl !== '') out.push(new WebhookSink({ ...q, url: c.alertWebhookUrl, secret: c.alertWebhookSecret }));
  if (c.alertSyslog !== '') out.push(new SyslogSink({ ...q, target: c.alertSyslog }));
  if (c.alertJsonlFile !== '') out.push(new JsonLinesSink({ ...q, path: c.alertJsonlFile }));
  return new SinkSet(out);
}
