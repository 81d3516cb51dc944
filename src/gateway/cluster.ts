/**
 * Multi-process gateway: `runGatewayCluster` forks worker processes (node:cluster) that share one
 * listening port, each running an MqttGateway that forwards to the same **external** upstream
 * broker. The embedded aedes broker lives in one process and cannot be shared, so cluster mode
 * refuses `upstream: 'embedded'`.
 *
 * Functions do not cross process boundaries, so the DeviceStatusSource (and optionally the
 * Authorizer) are given as factories: a module plus an export name, imported and called in every
 * worker. Identities are registered with the primary, so `duplicateIdentity` holds across workers;
 * events, sessions and metrics are gathered from the workers. Limits apply per worker.
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ConnectionOptions } from 'node:tls';
import { ZetaError } from '../common/errors.js';
import type { GatewayOptions } from './gateway.js';
import { resolveLimits } from './limits.js';
import type { DuplicateIdentityMode } from './session.js';
import type { DeviceStatusChange, GatewayEvent, SessionInfo } from './types.js';

/**
 * A factory that runs in each worker: `import(module)[export ?? 'default'](options)`, which returns
 * (or resolves to) the object. `options` must survive structured clone (no functions).
 */
export interface WorkerFactoryRef {
  /** Absolute path or file: URL of an ES module (a `.ts` module needs the tsx loader, which workers inherit). */
  module: string | URL;
  /** Export name; default `'default'`. */
  export?: string;
  options?: unknown;
}

export interface GatewayClusterOptions extends Omit<GatewayOptions, 'status' | 'authorize' | 'clock' | 'upstream' | 'sharedIdentities'> {
  /** Worker processes; default `os.availableParallelism()`. */
  workers?: number;
  /** Required and external: `mqtt://…`, `mqtts://…` or `{ kind: 'external', url, tls }`. */
  upstream: string | { kind: 'external'; url: string; tls?: ConnectionOptions; sourceAddresses?: string[] };
  /** Each worker's DeviceStatusSource: the factory returns a `DeviceStatusSource`. */
  status: WorkerFactoryRef;
  /** Each worker's Authorizer: the factory returns an `Authorizer`; default `defaultDevicePolicy(trustDomain)`. */
  authorize?: WorkerFactoryRef;
  port: number;
  host?: string;
  /** Node options for the workers; default this process's loader options (`--import tsx`, …). */
  execArgv?: string[];
  /** Restart a worker that exits unexpectedly (default true). */
  restart?: boolean;
}

export interface GatewayCluster {
  readonly port: number;
  /** Worker process ids (changes when a worker is restarted). */
  readonly pids: number[];
  on(event: 'event', listener: (ev: GatewayEvent & { worker: number }) => void): this;
  on(event: 'worker_exit', listener: (info: { worker: number; pid: number; code: number | null; signal: string | null }) => void): this;
  on(event: 'error', listener: (e: Error) => void): this;
  off(event: string, listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Open sessions across all workers. */
  sessions(): Promise<SessionInfo[]>;
  /** Prometheus text, samples summed over the workers (bounded label sets apply per worker). */
  metricsText(): Promise<string>;
  /** Connections in any state, summed over the workers. */
  connectionCount(): Promise<number>;
  /** Relays a status change to every worker (their sessions of `ev.subject` are re-checked). */
  notifyStatusChange(ev: DeviceStatusChange): void;
  close(): Promise<void>;
}

/** Messages between primary and workers (advanced serialization). */
export type ToWorker =
  | { t: 'start'; config: WorkerConfig }
  | { t: 'events'; on: boolean }
  | { t: 'ask'; id: number; what: 'sessions' | 'metrics' | 'connections' }
  | { t: 'claimed'; id: number; ok: boolean; previous?: string }
  | { t: 'replace'; deviceId: string; sessionId: number }
  | { t: 'status'; ev: DeviceStatusChange }
  | { t: 'close' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'listening'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'event'; ev: GatewayEvent }
  | { t: 'reply'; id: number; value: unknown }
  | { t: 'claim'; id: number; deviceId: string; sessionId: number; mode: DuplicateIdentityMode }
  | { t: 'release'; deviceId: string; sessionId: number }
  | { t: 'closed' };

export interface WorkerConfig {
  gateway: Omit<GatewayClusterOptions, 'workers' | 'status' | 'authorize' | 'port' | 'host' | 'execArgv' | 'restart' | 'upstream'> & { upstream: GatewayClusterOptions['upstream'] };
  status: { module: string; export: string; options: unknown };
  authorize: { module: string; export: string; options: unknown } | null;
  port: number;
  host: string;
  events: boolean;
}

function moduleUrl(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (m.startsWith('file:')) return m;
  if (!m.startsWith('/')) throw new ZetaError('ZETA_ERR_CONFIG', `gateway cluster: factory module ${m} must be an absolute path or a file: URL`);
  return pathToFileURL(m).href;
}

function factory(r: WorkerFactoryRef | undefined, what: string): WorkerConfig['status'] | null {
  if (r === undefined) return null;
  if (r === null || typeof r !== 'object' || (typeof r.module !== 'string' && !(r.module instanceof URL))) {
    throw new ZetaError('ZETA_ERR_CONFIG', `gateway cluster: ${what} must be { module, export?, options? } (a factory run in each worker)`);
  }
  return { module: moduleUrl(r.module), export: r.export ?? 'default', options: r.options };
}

/** The worker entry next to this file, with the same extension (`.ts` from source, `.js` built). */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/cluster\.(ts|js|mts|mjs)$/, 'cluster-worker.$1');
}

function defaultExecArgv(entry: string): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    // Test-runner, profiler, inspector and watch flags are for this process only.
    if (/^--(test|cpu-prof|heap-prof|inspect|watch|prof|eval|print)/.test(a) || a === '-e' || a === '-p') continue;
    out.push(a);
  }
  if (/\.(ts|mts)$/.test(entry) && !out.some((a) => a.includes('tsx'))) out.push('--import', 'tsx');
  return out;
}

/** Sums Prometheus samples with the same name and labels; HELP/TYPE kept once, order kept. */
export function mergeMetricsText(texts: readonly string[]): string {
  const order: string[] = [];
  const values = new Map<string, number>();
  const seen = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        if (!seen.has(line)) {
          seen.add(line);
          order.push(line);
        }
        continue;
      }
      const sp = line.lastIndexOf(' ');
      const key = line.slice(0, sp);
      const v = Number(line.slice(sp + 1));
      if (!values.has(key)) order.push(`\u0000${key}`);
      values.set(key, (values.get(key) ?? 0) + v);
    }
  }
  return order.map((l) => (l.startsWith('\u0000') ? `${l.slice(1)} ${values.get(l.slice(1))}` : l)).join('\n') + '\n';
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
}

class Cluster extends EventEmitter implements GatewayCluster {
  port = 0;
  readonly #config: WorkerConfig;
  readonly #execArgv: string[];
  readonly #entry: string;
  readonly #restart: boolean;
  readonly #slots: Slot[] = [];
  /** deviceId → holder: the primary's view of live identities across workers. */
  readonly #holders = new Map<string, { slot: number; sessionId: number }>();
  readonly #pending = new Map<number, { left: number; values: unknown[]; resolve: (v: unknown[]) => void }>();
  #nextAsk = 1;
  #closing = false;

  constructor(config: WorkerConfig, execArgv: string[], entry: string, restart: boolean) {
    super();
    this.#config = config;
    this.#execArgv = execArgv;
    this.#entry = entry;
    this.#restart = restart;
    this.on('error', () => undefined);
    this.on('newListener', (name: string | symbol) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#broadcast({ t: 'events', on: true });
    });
    this.on('removeListener', (name: string | symbol) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#broadcast({ t: 'events', on: false });
    });
  }

  get pids(): number[] {
    return this.#slots.map((s) => s.worker.process.pid ?? 0);
  }

  #broadcast(m: ToWorker): void {
    for (const s of this.#slots) if (s.ready && s.worker.isConnected()) s.worker.send(m);
  }

  /** Forks worker `index`; resolves with the port it listens on. */
  spawn(index: number, port: number): Promise<number> {
    cluster.setupPrimary({ exec: this.#entry, execArgv: this.#execArgv, args: [], serialization: 'advanced', silent: false });
    const worker = cluster.fork({ ZETA_GATEWAY_WORKER: String(index) });
    const slot: Slot = { index, worker, ready: false };
    this.#slots[index] = slot;
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          worker.send({ t: 'start', config: { ...this.#config, port, events: this.listenerCount('event') > 0 } } satisfies ToWorker);
        } else if (m.t === 'listening') {
          slot.ready = true;
          settled = true;
          resolve(m.port);
        } else if (m.t === 'failed') {
          settled = true;
          reject(new ZetaError('ZETA_ERR_STATE', `gateway worker ${index}: ${m.message}`));
        } else this.#onMessage(slot, m);
      });
      worker.on('exit', (code, signal) => {
        slot.ready = false;
        for (const [id, h] of this.#holders) if (h.slot === index) this.#holders.delete(id);
        for (const [id, p] of this.#pending) {
          // A worker that will not answer counts as having nothing to say.
          p.left--;
          if (p.left <= 0) {
            this.#pending.delete(id);
            p.resolve(p.values);
          }
        }
        if (!settled) {
          settled = true;
          reject(new ZetaError('ZETA_ERR_STATE', `gateway worker ${index} exited (${code ?? signal}) before listening`));
        }
        if (this.#closing) return;
        this.emit('worker_exit', { worker: index, pid: worker.process.pid ?? 0, code, signal });
        if (this.#restart && this.#slots[index] === slot) {
          setTimeout(() => {
            if (!this.#closing) this.spawn(index, this.#config.port).catch((e: unknown) => this.emit('error', e instanceof Error ? e : new Error(String(e))));
          }, 500).unref();
        }
      });
    });
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'event':
        this.emit('event', { ...m.ev, worker: slot.index });
        return;
      case 'reply': {
        const p = this.#pending.get(m.id);
        if (p === undefined) return;
        p.values.push(m.value);
        if (--p.left <= 0) {
          this.#pending.delete(m.id);
          p.resolve(p.values);
        }
        return;
      }
      case 'claim': {
        const h = this.#holders.get(m.deviceId);
        let answer: ToWorker = { t: 'claimed', id: m.id, ok: true };
        if (h !== undefined && h.slot !== slot.index) {
          const previous = `${h.sessionId} on worker ${h.slot}`;
          if (m.mode === 'refuse') {
            slot.worker.send({ t: 'claimed', id: m.id, ok: false, previous } satisfies ToWorker);
            return;
          }
          const other = this.#slots[h.slot];
          if (other !== undefined && other.worker.isConnected()) other.worker.send({ t: 'replace', deviceId: m.deviceId, sessionId: h.sessionId } satisfies ToWorker);
          answer = { t: 'claimed', id: m.id, ok: true, previous };
        }
        this.#holders.set(m.deviceId, { slot: slot.index, sessionId: m.sessionId });
        slot.worker.send(answer);
        return;
      }
      case 'release': {
        const h = this.#holders.get(m.deviceId);
        if (h !== undefined && h.slot === slot.index && h.sessionId === m.sessionId) this.#holders.delete(m.deviceId);
        return;
      }
      default:
        return;
    }
  }

  #ask(what: 'sessions' | 'metrics' | 'connections'): Promise<unknown[]> {
    const live = this.#slots.filter((s) => s.ready && s.worker.isConnected());
    if (live.length === 0) return Promise.resolve([]);
    const id = this.#nextAsk++;
    return new Promise((resolve) => {
      this.#pending.set(id, { left: live.length, values: [], resolve });
      for (const s of live) s.worker.send({ t: 'ask', id, what } satisfies ToWorker);
    });
  }

  async sessions(): Promise<SessionInfo[]> {
    return ((await this.#ask('sessions')) as SessionInfo[][]).flat();
  }

  async metricsText(): Promise<string> {
    return mergeMetricsText((await this.#ask('metrics')) as string[]);
  }

  async connectionCount(): Promise<number> {
    return ((await this.#ask('connections')) as number[]).reduce((a, b) => a + b, 0);
  }

  notifyStatusChange(ev: DeviceStatusChange): void {
    this.#broadcast({ t: 'status', ev });
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await Promise.all(
      this.#slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            const w = s.worker;
            if (w.process.exitCode !== null || w.process.signalCode !== null) {
              resolve();
              return;
            }
            // Closed sessions first (5.0 DISCONNECT 0x8B), then the process; killed if it lingers.
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (w.isConnected()) w.send({ t: 'close' } satisfies ToWorker);
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  }
}

/**
 * Starts `workers` gateway processes sharing `port` (node:cluster, round-robin distribution by
 * the primary). Resolves once every worker listens; rejects (and stops the rest) if one cannot.
 */
export async function runGatewayCluster(o: GatewayClusterOptions): Promise<GatewayCluster> {
  if (!cluster.isPrimary) throw new ZetaError('ZETA_ERR_STATE', 'runGatewayCluster must be called in a cluster primary');
  const up = o.upstream as unknown;
  if (up === undefined || up === 'embedded' || (typeof up === 'object' && up !== null && (up as { kind?: string }).kind !== 'external')) {
    throw new ZetaError('ZETA_ERR_CONFIG', 'gateway cluster: an external upstream (mqtt:// or mqtts://) is required; the embedded broker cannot be shared across processes');
  }
  if (typeof o.trustDomain !== 'string' || !/^[a-z0-9._-]{1,255}$/.test(o.trustDomain)) {
    throw new ZetaError('ZETA_ERR_CONFIG', 'gateway: trustDomain must be a SPIFFE trust domain');
  }
  resolveLimits(o.limits);
  const status = factory(o.status, 'status');
  if (status === null) throw new ZetaError('ZETA_ERR_CONFIG', 'gateway cluster: a DeviceStatusSource factory is required (fail closed: there is no allow-all default)');
  const workers = o.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new ZetaError('ZETA_ERR_CONFIG', 'gateway cluster: workers must be an integer in [1, 256]');
  const { workers: _w, status: _s, authorize, port, host, execArgv, restart, ...gateway } = o;
  const entry = workerEntry();
  const config: WorkerConfig = { gateway, status, authorize: factory(authorize, 'authorize'), port, host: host ?? '127.0.0.1', events: false };
  const c = new Cluster(config, execArgv ?? defaultExecArgv(entry), entry, restart ?? true);
  try {
    // Every worker asks for the same (address, port): the primary binds once and shares the handle
    // (port 0 included: node:cluster keys shared handles by the requested port).
    const ports = await Promise.all(Array.from({ length: workers }, (_, i) => c.spawn(i, port)));
    c.port = ports[0]!;
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}
