/**
 * MqttGateway: the message-plane policy enforcement point. A TLS listener that demands a client
 * certificate from Zeta's CA, one Session per device connection, the registry of live identities,
 * the status change feed, and telemetry (events + Prometheus text).
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Aedes } from 'aedes';
import { systemClock, type Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { defaultDevicePolicy } from './default-policy.js';
import type { DeviceIdentity } from './identity.js';
import { resolveLimits, type GatewayLimits } from './limits.js';
import { GatewayMetrics } from './metrics.js';
import { Session, type ClientIdMode, type DeniedPublishMode, type DuplicateIdentityMode, type SessionHost } from './session.js';
import { KeyedRateLimiter } from './token-bucket.js';
import type { Authorizer, Decision, DevicePrincipal, DeviceStatus, DeviceStatusChange, DeviceStatusSource, GatewayAction, GatewayEvent, GatewayEventType, GatewayRequestContext, GatewayResource, SessionInfo } from './types.js';
import { createUpstream, normalizeUpstream, type Upstream, type UpstreamOptions } from './upstream.js';

export interface GatewayTlsOptions {
  /** PEM private key and certificate of the gateway (see createGatewayServerCert). */
  key: string | Buffer;
  cert: string | Buffer;
  /** Zeta's issuing CA(s) and root, PEM: the only issuers whose device certificates are accepted. */
  ca: string | Buffer | (string | Buffer)[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface GatewayOptions {
  /** SPIFFE trust domain of device identities (config `trustDomain`). */
  trustDomain: string;
  tls: GatewayTlsOptions;
  /** Device state and revocation, and its change feed. Required: there is no allow-all default. */
  status: DeviceStatusSource;
  /** The policy decision function; default `defaultDevicePolicy(trustDomain)`. */
  authorize?: Authorizer;
  /** 'embedded' (default), `mqtt://host:port`, `mqtts://host:port`, or the object form. */
  upstream?: string | UpstreamOptions;
  /** 'force' (default): the client id becomes the device id. 'require': a different one is refused. */
  clientIdMode?: ClientIdMode;
  /** A second live connection with the same identity: 'replace' (default, as [MQTT-3.1.4-2]) or 'refuse'. */
  duplicateIdentity?: DuplicateIdentityMode;
  /** A denied PUBLISH the protocol cannot refuse (3.1.1 any QoS, 5.0 QoS 0): 'disconnect' (default) or 'drop'. */
  deniedPublishWithoutAck?: DeniedPublishMode;
  limits?: Partial<GatewayLimits>;
  clock?: Clock;
  /**
   * Identities live in other processes (set by `runGatewayCluster` in its workers): a claim is
   * checked there too, so `duplicateIdentity` holds across the cluster. Default: this process only.
   */
  sharedIdentities?: SharedIdentityRegistry;
}

/** A registry of live device identities shared by several gateway processes (see cluster.ts). */
export interface SharedIdentityRegistry {
  /** Resolves false when another process holds the identity and the mode is 'refuse'. */
  claim(deviceId: string, sessionId: number, mode: DuplicateIdentityMode): Promise<{ ok: boolean; previous?: string }>;
  release(deviceId: string, sessionId: number): void;
}

const SWEEP_MS = 250;

export class MqttGateway extends EventEmitter implements SessionHost {
  readonly trustDomain: string;
  readonly limits: Readonly<GatewayLimits>;
  readonly clock: Clock;
  readonly metrics: GatewayMetrics;
  readonly clientIdMode: ClientIdMode;
  readonly duplicateIdentity: DuplicateIdentityMode;
  readonly deniedPublishWithoutAck: DeniedPublishMode;
  readonly #authorize: Authorizer;
  readonly #status: DeviceStatusSource;
  #tls: GatewayTlsOptions;
  readonly #upstreamOptions: UpstreamOptions;
  #upstream: Upstream | null = null;
  #server: Server | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #unsubscribeStatus: (() => void) | null = null;
  #nextId = 1;
  readonly #all = new Set<Session>();
  readonly #live = new Map<string, Session>();
  readonly #connRate: KeyedRateLimiter;
  readonly #shared: SharedIdentityRegistry | null;
  #closing = false;

  constructor(o: GatewayOptions) {
    super();
    if (typeof o.trustDomain !== 'string' || !/^[a-z0-9._-]{1,255}$/.test(o.trustDomain)) {
      throw new ZetaError('ZETA_ERR_CONFIG', 'gateway: trustDomain must be a SPIFFE trust domain');
    }
    if (o.status === undefined || typeof o.status.lookup !== 'function') {
      throw new ZetaError('ZETA_ERR_CONFIG', 'gateway: a DeviceStatusSource is required (fail closed: there is no allow-all default)');
    }
    this.trustDomain = o.trustDomain;
    this.limits = resolveLimits(o.limits);
    this.clock = o.clock ?? systemClock;
    this.metrics = new GatewayMetrics(this.limits.metricsMaxDevices, this.limits.metricsMaxTopicClasses);
    this.clientIdMode = o.clientIdMode ?? 'force';
    this.duplicateIdentity = o.duplicateIdentity ?? 'replace';
    this.deniedPublishWithoutAck = o.deniedPublishWithoutAck ?? 'disconnect';
    this.#authorize = o.authorize ?? defaultDevicePolicy(o.trustDomain);
    this.#status = o.status;
    this.#tls = o.tls;
    this.#upstreamOptions = normalizeUpstream(o.upstream);
    this.#shared = o.sharedIdentities ?? null;
    this.#connRate = new KeyedRateLimiter(this.limits.connectionsPerSecondPerAddress, this.limits.connectionBurstPerAddress, this.limits.maxTrackedAddresses);
    // Never let a listener-less 'error' emit take the process down.
    this.on('error', () => undefined);
  }

  /** The embedded broker (after listen), for in-process publishers in `zeta serve`; null when external. */
  get embeddedBroker(): Aedes | null {
    return this.#upstream?.broker ?? null;
  }

  get upstreamMaxProtocolVersion(): number {
    return this.#upstream?.maxProtocolVersion ?? 4;
  }

  /**
   * Replaces the trusted CA set (and optionally the server identity) for new handshakes, e.g. after
   * an issuing-CA rotation: certificates of the retiring and the new issuing CA both verify.
   */
  updateTrust(o: { ca: GatewayTlsOptions['ca']; key?: GatewayTlsOptions['key']; cert?: GatewayTlsOptions['cert'] }): void {
    this.#tls = { ...this.#tls, ca: o.ca, ...(o.key === undefined ? {} : { key: o.key }), ...(o.cert === undefined ? {} : { cert: o.cert }) };
    this.#server?.setSecureContext({ key: this.#tls.key, cert: this.#tls.cert, ca: this.#tls.ca, minVersion: this.#tls.minVersion ?? 'TLSv1.2' });
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ port: number }> {
    if (this.#server !== null) throw new ZetaError('ZETA_ERR_STATE', 'gateway is already listening');
    this.#upstream = await createUpstream(this.#upstreamOptions);
    const server = createServer({
      key: this.#tls.key,
      cert: this.#tls.cert,
      ca: this.#tls.ca,
      // INVARIANT: mutual TLS, always. A device without a certificate from our CA never gets a byte through.
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: this.#tls.minVersion ?? 'TLSv1.2',
      handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
    });
    server.maxConnections = this.limits.maxConnections;
    server.on('connection', (raw: Socket) => this.#onTcp(raw));
    server.on('secureConnection', (sock: TLSSocket) => this.#onSecure(sock));
    server.on('tlsClientError', (err: Error & { code?: string }, sock: TLSSocket) => this.#onTlsError(err, sock));
    server.on('drop', () => this.#countLimit('max_connections'));
    server.on('error', (e) => this.emit('error', e));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#unsubscribeStatus = this.#status.onChange((ev) => this.#onStatusChange(ev));
    this.#sweep = setInterval(() => this.#sweepSessions(), SWEEP_MS);
    this.#sweep.unref();
    const addr = server.address();
    return { port: typeof addr === 'object' && addr !== null ? addr.port : port };
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#unsubscribeStatus?.();
    if (this.#sweep !== null) clearInterval(this.#sweep);
    const server = this.#server;
    const closed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of [...this.#all]) s.close('gateway_closing', 0x8b);
    for (const s of [...this.#all]) s.sock.destroy();
    await closed;
    await this.#upstream?.close();
  }

  metricsText(): string {
    return this.metrics.text();
  }

  sessions(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.#live.values()) if (s.state === 'open') out.push(s.info());
    return out;
  }

  /** Connections in any state (handshaken, not yet closed): for tests and load checks. */
  get connectionCount(): number {
    return this.#all.size;
  }

  override on(event: 'event', listener: (ev: GatewayEvent) => void): this;
  override on(event: 'error', listener: (e: Error) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  // --- SessionHost ------------------------------------------------------------------------------

  decide(principal: DevicePrincipal, action: GatewayAction, resource: GatewayResource, session: Session, extra: { qos?: 0 | 1 | 2; retain?: boolean; bytes?: number } = {}): Decision {
    return this.#decide(principal, action, resource, session, { now: this.#now(), clientAddress: session.clientAddress, protocolVersion: session.version, ...extra });
  }

  /** `decide` for a PUBLISH in either direction (the hot path): no spread, one Date per tick. */
  decideMessage(principal: DevicePrincipal, action: 'publish' | 'receive', topic: string, session: Session, qos: 0 | 1 | 2, retain: boolean, bytes: number): Decision {
    return this.#decide(principal, action, { type: 'topic', name: topic }, session, { now: this.#now(), clientAddress: session.clientAddress, protocolVersion: session.version, qos, retain, bytes });
  }

  /**
   * The injected clock's time, read once per run of synchronous work (a burst of packets from one
   * socket read shares it) and dropped at the next microtask checkpoint.
   */
  #now(): Date {
    let now = this.#tickNow;
    if (now === null) {
      now = this.clock.now();
      this.#tickNow = now;
      queueMicrotask(this.#dropNow);
    }
    return now;
  }

  #tickNow: Date | null = null;
  readonly #dropNow = (): void => {
    this.#tickNow = null;
  };

  #decide(principal: DevicePrincipal, action: GatewayAction, resource: GatewayResource, session: Session, ctx: GatewayRequestContext): Decision {
    const t0 = performance.now();
    let d: Decision;
    try {
      const r = this.#authorize(principal, action, resource, ctx);
      // INVARIANT: only an explicit, well-formed allow allows.
      if (r !== null && typeof r === 'object' && r.decision === 'allow') d = r;
      else if (r !== null && typeof r === 'object' && r.decision === 'deny') d = { decision: 'deny', reasons: Array.isArray(r.reasons) ? r.reasons : [], errors: Array.isArray(r.errors) ? r.errors : [] };
      else throw new Error('decision function returned no decision');
    } catch (e) {
      d = { decision: 'deny', reasons: [], errors: [`decision function failed: ${e instanceof Error ? e.message : String(e)}`] };
      this.metrics.failClosed.set('decision_error', (this.metrics.failClosed.get('decision_error') ?? 0) + 1);
      this.emit('event', this.#event('fail_closed', session, { reason: 'decision_error', detail: d.errors[0]!, ...(resource.type === 'broker' ? {} : { topic: resource.name }) }));
    }
    this.metrics.observeDecision((performance.now() - t0) / 1000);
    return d;
  }

  lookupStatus(identity: DeviceIdentity): Promise<DeviceStatus | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('status lookup timeout')), this.limits.statusLookupTimeoutMs);
      timer.unref();
      let p: Promise<DeviceStatus | undefined>;
      try {
        p = Promise.resolve(this.#status.lookup(identity.deviceId, identity.serialHex));
      } catch (e) {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  claim(session: Session): boolean | Promise<boolean> {
    const id = session.deviceId!;
    const prev = this.#live.get(id);
    if (prev !== undefined && prev !== session && prev.state !== 'closed') {
      // Two live connections with one certificate identity: a reconnect racing its own ghost, or a
      // cloned credential. Either way it is reported.
      this.#countLimit('duplicate_identity', false);
      this.emit('event', this.#event('duplicate_identity', session, { deviceId: id, reason: this.duplicateIdentity === 'refuse' ? 'refused' : 'replaced', detail: `existing session ${prev.id} from ${prev.clientAddress}` }));
      if (this.duplicateIdentity === 'refuse') return false;
      prev.close('replaced', 0x8e);
    }
    this.#live.set(id, session);
    const shared = this.#shared;
    if (shared === null) return true;
    return shared.claim(id, session.id, this.duplicateIdentity).then(
      (r) => {
        if (r.previous !== undefined) {
          this.#countLimit('duplicate_identity', false);
          this.emit('event', this.#event('duplicate_identity', session, { deviceId: id, reason: r.ok ? 'replaced' : 'refused', detail: `existing session ${r.previous}` }));
        }
        if (!r.ok && this.#live.get(id) === session) this.#live.delete(id);
        return r.ok;
      },
      () => {
        // No answer from the registry: fail closed.
        if (this.#live.get(id) === session) this.#live.delete(id);
        return false;
      },
    );
  }

  release(session: Session): void {
    this.#all.delete(session);
    const id = session.deviceId;
    if (id !== undefined && this.#live.get(id) === session) {
      this.#live.delete(id);
      this.#shared?.release(id, session.id);
    }
  }

  /** Closes this process's session `sessionId` of `deviceId`, taken over elsewhere (cluster 'replace'). */
  replaceSession(deviceId: string, sessionId: number): void {
    const s = this.#live.get(deviceId);
    if (s !== undefined && s.id === sessionId) s.close('replaced', 0x8e);
  }

  /** Re-checks sessions as if the DeviceStatusSource had reported `ev` (cluster primaries relay changes this way). */
  statusChanged(ev: DeviceStatusChange): void {
    this.#onStatusChange(ev);
  }

  async openUpstream(): Promise<Duplex> {
    if (this.#upstream === null || this.#closing) throw new Error('gateway is not running');
    return this.#upstream.open(this.limits.upstreamConnectTimeoutMs);
  }

  wantsEvents(): boolean {
    return this.listenerCount('event') > 0;
  }

  /** SessionHost.report: the event object is built only when someone listens. */
  report(type: GatewayEventType, session: Session, extra: Omit<GatewayEvent, 'type' | 'at' | 'sessionId' | 'clientAddress'> = {}): void {
    if (this.listenerCount('event') === 0) return;
    this.emit('event', this.#event(type, session, extra));
  }

  #event(type: GatewayEventType, s: Session, extra: Omit<GatewayEvent, 'type' | 'at' | 'sessionId' | 'clientAddress'>): GatewayEvent {
    const deviceId = s.deviceId;
    return { type, at: this.clock.now().toISOString(), sessionId: s.id, clientAddress: s.clientAddress, ...(deviceId === undefined ? {} : { deviceId }), ...extra };
  }

  // --- connections ------------------------------------------------------------------------------

  #onTcp(raw: Socket): void {
    const addr = raw.remoteAddress ?? 'unknown';
    if (this.#closing || !this.#connRate.take(addr)) {
      this.#countLimit('connection_rate');
      if (this.listenerCount('event') > 0) {
        this.emit('event', { type: 'limit_exceeded', at: this.clock.now().toISOString(), sessionId: 0, clientAddress: addr, reason: 'connection_rate' } satisfies GatewayEvent);
      }
      raw.destroy();
    }
  }

  #onTlsError(err: Error & { code?: string }, sock: TLSSocket): void {
    const addr = sock.remoteAddress ?? 'unknown';
    const m = this.metrics;
    const reason = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : 'tls_handshake';
    m.refusals.set(reason, (m.refusals.get(reason) ?? 0) + 1);
    if (this.listenerCount('event') > 0) {
      this.emit('event', { type: 'connect_refused', at: this.clock.now().toISOString(), sessionId: 0, clientAddress: addr, reason, detail: `${err.code ?? ''} ${err.message}`.trim() } satisfies GatewayEvent);
    }
    sock.destroy();
  }

  #onSecure(sock: TLSSocket): void {
    if (this.#closing) {
      sock.destroy();
      return;
    }
    sock.setNoDelay(true);
    const s = new Session(this.#nextId++, sock, sock.remoteAddress ?? 'unknown', this);
    this.#all.add(s);
  }

  #countLimit(name: string, _event = true): void {
    const m = this.metrics;
    m.limitsExceeded.set(name, (m.limitsExceeded.get(name) ?? 0) + 1);
  }

  #sweepSessions(): void {
    const now = performance.now();
    const nowMs = this.clock.now().getTime();
    for (const s of this.#all) {
      if (s.state === 'await_connect' && now - s.startedAt > this.limits.connectTimeoutMs) {
        // [MQTT-3.1.4-1]-style bound on a TLS connection that never sends CONNECT (slowloris).
        this.#countLimit('connect_timeout');
        s.close('connect_timeout');
      } else if (s.state === 'open') {
        if (s.keepaliveMs > 0 && now - s.lastRx > s.keepaliveMs) s.close('idle_timeout', 0x8d);
        else s.checkExpiry(nowMs);
      }
    }
  }

  #onStatusChange(ev: DeviceStatusChange): void {
    if (ev === null || typeof ev !== 'object' || typeof ev.subject !== 'string') return;
    if (ev.subject === '*') {
      void this.#recheckAll();
      return;
    }
    for (const s of this.#all) if (s.deviceId === ev.subject) void s.recheck();
  }

  async #recheckAll(): Promise<void> {
    const list = [...this.#all];
    // Bounded fan-out so a fleet-wide policy change does not hit the status source all at once.
    for (let i = 0; i < list.length; i += 64) await Promise.all(list.slice(i, i + 64).map((s) => s.recheck()));
  }
}
