/**
 * Entry of a gateway cluster worker (forked by `runGatewayCluster`, see cluster.ts): builds the
 * DeviceStatusSource (and Authorizer) from their factories, runs one MqttGateway on the shared
 * port, registers identities with the primary and answers its questions.
 */
import cluster from 'node:cluster';
import { ZetaError } from '../common/errors.js';
import type { FromWorker, ToWorker, WorkerConfig } from './cluster.js';
import { MqttGateway, type SharedIdentityRegistry } from './gateway.js';
import type { DuplicateIdentityMode } from './session.js';
import type { Authorizer, DeviceStatusSource, GatewayEvent } from './types.js';

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

async function build<T>(ref: { module: string; export: string; options: unknown }, what: string): Promise<T> {
  const mod = (await import(ref.module)) as Record<string, unknown>;
  const f = mod[ref.export];
  if (typeof f !== 'function') throw new ZetaError('ZETA_ERR_CONFIG', `${what} factory ${ref.module}#${ref.export} is not a function`);
  return (await (f as (o: unknown) => unknown)(ref.options)) as T;
}

class PrimaryRegistry implements SharedIdentityRegistry {
  readonly #waiting = new Map<number, (r: { ok: boolean; previous?: string }) => void>();
  #next = 1;
  claim(deviceId: string, sessionId: number, mode: DuplicateIdentityMode): Promise<{ ok: boolean; previous?: string }> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (!process.connected) {
        reject(new Error('no primary'));
        return;
      }
      this.#waiting.set(id, resolve);
      send({ t: 'claim', id, deviceId, sessionId, mode });
    });
  }
  answered(id: number, ok: boolean, previous: string | undefined): void {
    const r = this.#waiting.get(id);
    this.#waiting.delete(id);
    r?.(previous === undefined ? { ok } : { ok, previous });
  }
  release(deviceId: string, sessionId: number): void {
    send({ t: 'release', deviceId, sessionId });
  }
}

let gw: MqttGateway | null = null;
const registry = new PrimaryRegistry();
const forward = (ev: GatewayEvent): void => send({ t: 'event', ev });

async function start(c: WorkerConfig): Promise<void> {
  const status = await build<DeviceStatusSource>(c.status, 'status');
  const authorize = c.authorize === null ? undefined : await build<Authorizer>(c.authorize, 'authorize');
  const g = new MqttGateway({ ...c.gateway, status, ...(authorize === undefined ? {} : { authorize }), sharedIdentities: registry });
  gw = g;
  if (c.events) g.on('event', forward);
  const { port } = await g.listen(c.port, c.host);
  send({ t: 'listening', port });
}

async function stop(): Promise<void> {
  const g = gw;
  gw = null;
  await g?.close();
  process.exit(0);
}

if (cluster.isWorker) {
  process.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'start':
        start(m.config).catch((e: unknown) => {
          send({ t: 'failed', message: e instanceof Error ? e.message : String(e) });
          setTimeout(() => process.exit(1), 50);
        });
        return;
      case 'events':
        gw?.off('event', forward);
        if (m.on) gw?.on('event', forward);
        return;
      case 'ask': {
        const g = gw;
        const value = g === null ? (m.what === 'sessions' ? [] : m.what === 'metrics' ? '' : 0) : m.what === 'sessions' ? g.sessions() : m.what === 'metrics' ? g.metricsText() : g.connectionCount;
        send({ t: 'reply', id: m.id, value });
        return;
      }
      case 'claimed':
        registry.answered(m.id, m.ok, m.previous);
        return;
      case 'replace':
        gw?.replaceSession(m.deviceId, m.sessionId);
        return;
      case 'status':
        gw?.statusChanged(m.ev);
        return;
      case 'close':
        void stop();
        return;
    }
  });
  // Messages that arrive before a listener exists are lost: ask for the configuration now.
  send({ t: 'ready' });
  // The primary went away: nobody can coordinate identities any more, so stop serving.
  process.on('disconnect', () => void stop());
}
