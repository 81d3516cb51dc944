/**
 * Where allowed traffic goes: one upstream MQTT connection per device session, either into an
 * embedded aedes broker in this process (an in-memory stream, no listener) or to an external
 * broker over TCP or TLS. The upstream must not be reachable by devices directly (README.md).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import { ZetaError } from '../common/errors.js';
import { duplexPair } from './duplex-pair.js';

export type UpstreamOptions =
  /** An aedes broker in this process; created (and closed) by the gateway unless one is given. */
  | { kind: 'embedded'; broker?: Aedes }
  /** `mqtt://host:port` or `mqtts://host:port`; `tls` adds CA / client certificate for mqtts. */
  | {
      kind: 'external';
      url: string;
      tls?: ConnectionOptions;
      /**
       * Local addresses upstream connections are made from, in turn (e.g. 127.0.0.2, 127.0.0.3…):
       * one source address has one ephemeral port range (~28 000 ports on Linux by default), so
       * more sessions than that towards one broker address need several.
       */
      sourceAddresses?: string[];
    };

export interface Upstream {
  /** Highest MQTT protocol level the upstream serves. */
  readonly maxProtocolVersion: 4 | 5;
  readonly description: string;
  open(timeoutMs: number): Promise<Duplex>;
  close(): Promise<void>;
  readonly broker: Aedes | null;
}

export function normalizeUpstream(u: string | UpstreamOptions | undefined): UpstreamOptions {
  if (u === undefined || u === 'embedded') return { kind: 'embedded' };
  if (typeof u === 'string') return { kind: 'external', url: u };
  return u;
}

class EmbeddedUpstream implements Upstream {
  readonly maxProtocolVersion = 4 as const;
  readonly description = 'embedded aedes';
  // INVARIANT: only streams the gateway made may connect to a broker it created (aedes' own
  // hooks allow everything by default; cf. STYLE.md).
  readonly #ours = new WeakSet<object>();
  readonly #owned: boolean;
  private constructor(
    readonly broker: Aedes,
    owned: boolean,
  ) {
    this.#owned = owned;
  }

  static async create(given: Aedes | undefined): Promise<EmbeddedUpstream> {
    if (given !== undefined) return new EmbeddedUpstream(given, false);
    let self: EmbeddedUpstream | null = null;
    const broker = await Aedes.createBroker({
      preConnect: (client, _packet, cb) => cb(null, self !== null && self.#ours.has(client.conn)),
    });
    self = new EmbeddedUpstream(broker, true);
    return self;
  }

  async open(): Promise<Duplex> {
    const [ours, theirs] = duplexPair();
    this.#ours.add(theirs);
    this.broker.handle(theirs);
    return ours;
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
  }
}

class ExternalUpstream implements Upstream {
  readonly maxProtocolVersion = 5 as const;
  readonly broker = null;
  readonly description: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: ConnectionOptions | null;
  readonly #sources: string[];
  #nextSource = 0;

  constructor(url: string, tls: ConnectionOptions | undefined, sources: string[] = []) {
    this.#sources = sources;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ZetaError('ZETA_ERR_CONFIG', `upstream ${url} is not a URL`);
    }
    if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:' && u.protocol !== 'tcp:' && u.protocol !== 'tls:') {
      throw new ZetaError('ZETA_ERR_CONFIG', `upstream ${url}: use mqtt://host:port or mqtts://host:port`);
    }
    const secure = u.protocol === 'mqtts:' || u.protocol === 'tls:';
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = u.port === '' ? (secure ? 8883 : 1883) : Number(u.port);
    this.#tls = secure ? { ...(tls ?? {}), servername: tls?.servername ?? this.#host } : null;
    this.description = `${secure ? 'mqtts' : 'mqtt'}://${u.host}`;
  }

  open(timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const src = this.#sources.length === 0 ? undefined : this.#sources[this.#nextSource++ % this.#sources.length];
      const local = src === undefined ? {} : { localAddress: src };
      const sock: Socket =
        this.#tls === null
          ? netConnect({ host: this.#host, port: this.#port, noDelay: true, ...local })
          : tlsConnect({ ...this.#tls, host: this.#host, port: this.#port, ...local });
      const ready = this.#tls === null ? 'connect' : 'secureConnect';
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`upstream connect timeout after ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      });
      sock.once(ready, () => {
        clearTimeout(timer);
        sock.setNoDelay(true);
        resolve(sock);
      });
    });
  }

  async close(): Promise<void> {}
}

export async function createUpstream(o: UpstreamOptions): Promise<Upstream> {
  return o.kind === 'embedded' ? EmbeddedUpstream.create(o.broker) : new ExternalUpstream(o.url, o.tls, o.sourceAddresses);
}
