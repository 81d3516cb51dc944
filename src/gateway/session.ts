/**
 * One device session: a TLS socket from the device, one upstream MQTT connection, and the stages
 * every packet goes through. Device → broker: frame (size) → parse (structure) → limits →
 * authorize → forward. Broker → device: frame → parse → authorize (`receive`) → forward.
 * Nothing reaches the broker before CONNECT is authorized, and nothing reaches the device that the
 * policy does not allow it to receive.
 */
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type {
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubackPacket,
  ISubscribePacket,
  ISubscription,
  IUnsubscribePacket,
} from 'mqtt-packet';
import type { Clock } from '../common/clock.js';
import { Framer, FrameError } from './framer.js';
import { deviceIdentityOf, type DeviceIdentity } from './identity.js';
import type { GatewayLimits } from './limits.js';
import type { GatewayMetrics, TrafficCounters } from './metrics.js';
import { encode, PacketReader, PT, type Packet } from './packets.js';
import { TokenBucket } from './token-bucket.js';
import { checkTopicName, parseSubscriptionFilter, topicClass } from './topics.js';
import type { Decision, DevicePrincipal, DeviceStatus, GatewayAction, GatewayEvent, GatewayEventType, GatewayResource, SessionInfo } from './types.js';

/** CONNACK codes: 3.1.1 return codes (§3.2.2.3) and 5.0 reason codes (§3.2.2.2). */
const CONNACK = {
  unsupportedVersion: { v4: 1, v5: 0x84 },
  identifierRejected: { v4: 2, v5: 0x85 },
  serverUnavailable: { v4: 3, v5: 0x88 },
  notAuthorized: { v4: 5, v5: 0x87 },
  badAuthMethod: { v4: 5, v5: 0x8c },
} as const;

/** 5.0 DISCONNECT reason codes (§3.14.2.1) the gateway sends. */
const RC = {
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  notAuthorized: 0x87,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicNameInvalid: 0x90,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
} as const;

export type ClientIdMode = 'force' | 'require';
export type DuplicateIdentityMode = 'replace' | 'refuse';
export type DeniedPublishMode = 'drop' | 'disconnect';

/** What a session needs from its gateway. */
export interface SessionHost {
  readonly trustDomain: string;
  readonly limits: Readonly<GatewayLimits>;
  readonly clock: Clock;
  readonly metrics: GatewayMetrics;
  readonly clientIdMode: ClientIdMode;
  readonly deniedPublishWithoutAck: DeniedPublishMode;
  readonly upstreamMaxProtocolVersion: number;
  decide(principal: DevicePrincipal, action: GatewayAction, resource: GatewayResource, session: Session, extra?: { qos?: 0 | 1 | 2; retain?: boolean; bytes?: number }): Decision;
  decideMessage(principal: DevicePrincipal, action: 'publish' | 'receive', topic: string, session: Session, qos: 0 | 1 | 2, retain: boolean, bytes: number): Decision;
  lookupStatus(identity: DeviceIdentity): Promise<DeviceStatus | undefined>;
  /** Registers the live identity; false when refused as a duplicate (event already emitted). */
  claim(session: Session): boolean | Promise<boolean>;
  release(session: Session): void;
  openUpstream(): Promise<Duplex>;
  wantsEvents(): boolean;
  report(type: GatewayEventType, session: Session, extra?: Omit<GatewayEvent, 'type' | 'at' | 'sessionId' | 'clientAddress'>): void;
}

type State = 'await_connect' | 'connecting' | 'open' | 'closed';

interface Sub {
  filter: string;
  shareGroup: string | null;
  qos: number;
}

/** Per-session state most sessions never need (see `Session.#x`). */
class LazyState {
  readonly devAliases = new Map<number, string>();
  readonly upAliases = new Map<number, string>();
  readonly deniedQos2 = new Set<number>();
  readonly swallowedRel = new Set<number>();
  readonly pendingSubs = new Map<number, PendingSub>();
  readonly pendingUnsubs = new Set<number>();
  readonly gatewayUnsubs = new Set<number>();
  readonly subs = new Map<string, Sub>();
}

const SESSION = Symbol('zeta.session');
type Tagged = { [SESSION]?: Session };

// One set of listener functions for all sessions (no closures per connection): the emitter is
// `this`, and the session hangs off it.
function onDevData(this: Tagged, chunk: Buffer): void {
  this[SESSION]?.onDeviceData(chunk);
}
function onDevDrain(this: Tagged): void {
  this[SESSION]?.onDeviceDrain();
}
function onDevError(this: Tagged): void {
  this[SESSION]?.close('client_error');
}
function onDevEnd(this: Tagged): void {
  this[SESSION]?.onDeviceEnd();
}
function onUpData(this: Tagged, chunk: Buffer): void {
  this[SESSION]?.onUpstreamData(chunk);
}
function onUpDrain(this: Tagged): void {
  this[SESSION]?.onUpstreamDrain();
}
function onUpError(this: Tagged, e: Error): void {
  this[SESSION]?.upstreamGone(String(e));
}
function onUpClose(this: Tagged): void {
  this[SESSION]?.upstreamGone('closed');
}
function onUpEnd(this: Tagged): void {
  this[SESSION]?.upstreamGone('ended');
}

interface PendingSub {
  /** One slot per requested filter: a failure code set locally, or null = forwarded. */
  codes: (number | null)[];
  forwarded: ISubscription[];
  raw: string[];
}

export class Session {
  state: State = 'await_connect';
  readonly startedAt = performance.now();
  lastRx = performance.now();
  identity: DeviceIdentity | null = null;
  principal: DevicePrincipal | null = null;
  version = 4;
  keepaliveMs = 0;
  connectedAt: Date | null = null;
  messagesIn = 0;
  messagesOut = 0;
  recheckAfterOpen = false;

  readonly #host: SessionHost;
  readonly #devFramer: Framer;
  readonly #devReader = new PacketReader();
  /** Monotonic time of the packets being pumped now (one clock read per burst). */
  #pumpNow = 0;
  /** Last topic and its topic-class counters: consecutive messages on one topic skip the lookup. */
  #pubTopic = '';
  #pubClass: TrafficCounters | null = null;
  #recvTopic = '';
  #recvClass: TrafficCounters | null = null;
  #upFramer: Framer | null = null;
  #upReader: PacketReader | null = null;
  #up: Duplex | null = null;
  #held: Buffer | null = null;
  #throttled = false;
  #upBlocked = false;
  #devBlocked = false;
  #pumping = false;
  #connect: IConnectPacket | null = null;
  #connackTimer: NodeJS.Timeout | null = null;
  #statusGen = 0;
  #clientDisconnected = false;
  // Made on first use: an idle session (CONNECT, then nothing) never allocates these.
  #lazy: LazyState | null = null;
  get #x(): LazyState {
    return (this.#lazy ??= new LazyState());
  }
  get #devAliases(): Map<number, string> {
    return this.#x.devAliases;
  }
  get #upAliases(): Map<number, string> {
    return this.#x.upAliases;
  }
  #inflightSet: Set<number> | null = null;
  get #inflight(): Set<number> {
    return (this.#inflightSet ??= new Set());
  }
  /** 3.1.1 'drop' mode: denied QoS 2 publishes we PUBREC'd; their PUBREL gets a local PUBCOMP. */
  get #deniedQos2(): Set<number> {
    return this.#x.deniedQos2;
  }
  /** Broker → device QoS 2 publishes denied here; the broker's PUBREL gets a local PUBCOMP. */
  get #swallowedRel(): Set<number> {
    return this.#x.swallowedRel;
  }
  get #pendingSubs(): Map<number, PendingSub> {
    return this.#x.pendingSubs;
  }
  get #pendingUnsubs(): Set<number> {
    return this.#x.pendingUnsubs;
  }
  get #gatewayUnsubs(): Set<number> {
    return this.#x.gatewayUnsubs;
  }
  get #subs(): Map<string, Sub> {
    return this.#x.subs;
  }
  #msgBucket: TokenBucket;
  #byteBucket: TokenBucket;
  #counters: TrafficCounters | null = null;

  constructor(
    readonly id: number,
    readonly sock: TLSSocket,
    readonly clientAddress: string,
    host: SessionHost,
  ) {
    this.#host = host;
    const l = host.limits;
    this.#devFramer = new Framer(l.maxPacketBytes);
    this.#msgBucket = new TokenBucket(l.messagesPerSecond, l.messageBurst);
    this.#byteBucket = new TokenBucket(l.bytesPerSecond, l.byteBurst);
    (sock as Tagged)[SESSION] = this;
    sock.on('data', onDevData);
    sock.on('drain', onDevDrain);
    sock.on('error', onDevError);
    sock.on('close', onDevEnd);
    sock.on('end', onDevEnd);
  }

  /** @internal socket listener */
  onDeviceDrain(): void {
    if (this.#devBlocked) {
      this.#devBlocked = false;
      this.#up?.resume();
    }
  }

  /** @internal socket listener */
  onDeviceEnd(): void {
    this.close(this.#clientDisconnected ? 'client_disconnect' : 'client_closed');
  }

  get deviceId(): string | undefined {
    return this.identity?.deviceId;
  }

  info(): SessionInfo {
    const id = this.identity!;
    return {
      sessionId: this.id,
      deviceId: id.deviceId,
      spiffeId: id.spiffeId,
      certSerialHex: id.serialHex,
      clientAddress: this.clientAddress,
      protocolVersion: this.version,
      connectedAt: (this.connectedAt ?? new Date(0)).toISOString(),
      certNotAfter: id.notAfter.toISOString(),
      subscriptions: [...this.#subs.keys()],
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
    };
  }

  // --- device side ------------------------------------------------------------------------------

  /** @internal socket listener */
  onDeviceData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastRx = performance.now();
    this.#devFramer.push(chunk);
    // Everything this burst makes the gateway write leaves in one write per socket (one TLS
    // record towards the device, one writev towards the broker).
    const up = this.#up;
    const sock = this.sock;
    sock.cork();
    up?.cork();
    try {
      this.#pump();
    } finally {
      up?.uncork();
      sock.uncork();
    }
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    this.#pumpNow = performance.now();
    try {
      while (this.state === 'await_connect' || this.state === 'open') {
        if (this.#throttled) break;
        let frame = this.#held;
        this.#held = null;
        if (frame === null) {
          try {
            frame = this.#devFramer.next();
          } catch (e) {
            const tooLarge = e instanceof FrameError && e.kind === 'too_large';
            this.#limit(tooLarge ? 'max_packet_bytes' : 'malformed', (e as Error).message, false);
            this.close(tooLarge ? 'packet_too_large' : 'malformed', tooLarge ? RC.packetTooLarge : RC.malformed);
            break;
          }
        }
        if (frame === null) break;
        if (this.state === 'await_connect') {
          this.#onConnectFrame(frame);
          continue;
        }
        if (!this.#onDevicePacket(frame)) {
          this.#held = frame;
          break;
        }
      }
    } catch (e) {
      // A bug or a parser surprise must cost this client its connection, never the gateway.
      this.close('internal_error', RC.unspecified, String(e));
    } finally {
      this.#pumping = false;
    }
  }

  #onConnectFrame(frame: Buffer): void {
    // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT.
    if (frame[0]! >> 4 !== PT.CONNECT) {
      this.#refuseSilently('protocol_error', 'first packet is not CONNECT');
      return;
    }
    let p: Packet;
    try {
      p = this.#devReader.read(frame);
    } catch (e) {
      this.#refuseSilently('malformed', String((e as Error).message));
      return;
    }
    const c = p as IConnectPacket;
    this.version = c.protocolVersion ?? 4;
    this.#devReader.setVersion(this.version);
    this.#connect = c;
    this.state = 'connecting';
    this.#updateDeviceFlow();
    this.#authorizeConnect(c).catch((e: unknown) => this.#refuse('internal_error', CONNACK.serverUnavailable, String(e)));
  }

  async #authorizeConnect(c: IConnectPacket): Promise<void> {
    const host = this.#host;
    const ident = deviceIdentityOf(this.sock.getPeerX509Certificate(), host.trustDomain);
    if ('error' in ident) return this.#refuse('bad_identity', CONNACK.notAuthorized, ident.error);
    this.identity = ident;
    const now = host.clock.now().getTime();
    // TLS checked validity against the system clock; the injected Clock is the one decisions use
    // (and a resumed TLS session is not re-verified by OpenSSL).
    if (now < ident.notBefore.getTime()) return this.#refuse('cert_not_yet_valid', CONNACK.notAuthorized);
    if (now >= ident.notAfter.getTime()) return this.#refuse('cert_expired', CONNACK.notAuthorized);
    if (this.version === 5 && host.upstreamMaxProtocolVersion < 5) {
      return this.#refuse('protocol_version', CONNACK.unsupportedVersion, 'the upstream broker serves MQTT 3.1.1 only');
    }
    if (this.version === 5 && c.properties?.authenticationMethod !== undefined) {
      // Enhanced authentication would be a second identity; the certificate is the only one.
      return this.#refuse('auth_method', CONNACK.badAuthMethod);
    }
    if (host.clientIdMode === 'require' && c.clientId !== '' && c.clientId !== ident.deviceId) {
      return this.#refuse('client_id', CONNACK.identifierRejected, `client id ${JSON.stringify(c.clientId.slice(0, 64))} is not the device id`);
    }
    const status = await this.#status();
    if (status === null || this.state !== 'connecting') return;
    const principal = this.#principalFrom(ident, status);
    this.principal = principal;
    const d = host.decide(principal, 'connect', { type: 'broker' }, this);
    if (d.decision !== 'allow') return this.#refuse(d.errors.length > 0 ? 'policy_error' : 'policy_denied', CONNACK.notAuthorized, d.reasons.concat(d.errors).join('; '));
    if (c.will !== undefined && c.will !== null) {
      const bad = checkTopicName(c.will.topic, host.limits);
      if (bad !== null) return this.#refuse('will_denied', CONNACK.notAuthorized, bad);
      const wd = host.decide(principal, 'publish', { type: 'topic', name: c.will.topic }, this, { qos: c.will.qos ?? 0, retain: c.will.retain === true });
      if (wd.decision !== 'allow') return this.#refuse('will_denied', CONNACK.notAuthorized, wd.reasons.concat(wd.errors).join('; '));
    }
    const claimed = host.claim(this);
    if (!(typeof claimed === 'boolean' ? claimed : await claimed)) return this.#refuse('duplicate_identity', CONNACK.notAuthorized);
    if (this.state !== 'connecting') return;
    let up: Duplex;
    try {
      up = await host.openUpstream();
    } catch (e) {
      return this.#refuse('upstream_unavailable', CONNACK.serverUnavailable, String(e));
    }
    if (this.state !== 'connecting') {
      up.destroy();
      return;
    }
    this.#attachUpstream(up);
    up.write(encode(this.#upstreamConnect(c, ident, status), this.version));
    this.#connackTimer = setTimeout(() => this.#refuse('upstream_unavailable', CONNACK.serverUnavailable, 'no CONNACK from upstream'), host.limits.upstreamConnectTimeoutMs);
    this.#connackTimer.unref();
  }

  async #status(): Promise<DeviceStatus | null> {
    const ident = this.identity!;
    let st: DeviceStatus | undefined;
    try {
      st = await this.#host.lookupStatus(ident);
    } catch (e) {
      const timeout = e instanceof Error && e.message === 'status lookup timeout';
      this.#host.metrics.failClosed.set(timeout ? 'status_timeout' : 'status_error', (this.#host.metrics.failClosed.get(timeout ? 'status_timeout' : 'status_error') ?? 0) + 1);
      this.#host.report('fail_closed', this, { reason: timeout ? 'status_timeout' : 'status_error', detail: String(e) });
      this.#endFor(timeout ? 'status_timeout' : 'status_error');
      return null;
    }
    if (st === undefined) return this.#endFor('unknown_device');
    if (st.revoked) return this.#endFor('revoked');
    // INVARIANT: only `active` devices hold a session (inventory CONNECTABLE_STATES).
    if (st.state !== 'active') return this.#endFor('device_state', `state ${st.state}`);
    return st;
  }

  /** Refuses (while connecting) or closes (when open) for a status reason. */
  #endFor(reason: string, detail?: string): null {
    if (this.state === 'connecting') this.#refuse(reason, CONNACK.notAuthorized, detail);
    else this.close(reason, RC.administrativeAction, detail);
    return null;
  }

  #principalFrom(ident: DeviceIdentity, st: DeviceStatus): DevicePrincipal {
    return Object.freeze({
      type: 'device',
      id: ident.deviceId,
      spiffeId: ident.spiffeId,
      trustDomain: ident.trustDomain,
      certSerialHex: ident.serialHex,
      segment: st.segment,
      deviceType: st.type,
      state: st.state,
      attributes: Object.freeze({ ...st.attributes }),
    });
  }

  #effectiveKeepalive(requested: number): number {
    const max = this.#host.limits.maxKeepaliveSeconds;
    return requested === 0 || requested > max ? max : requested;
  }

  #upstreamConnect(c: IConnectPacket, ident: DeviceIdentity, _st: DeviceStatus): IConnectPacket {
    const l = this.#host.limits;
    const out: IConnectPacket = {
      cmd: 'connect',
      protocolId: c.protocolId ?? 'MQTT',
      protocolVersion: c.protocolVersion ?? 4,
      clean: c.clean ?? true,
      keepalive: c.keepalive ?? 0,
      // The session is bound to the certificate: forced client id, and the broker sees the device
      // id as username (defence in depth for its own ACLs); the device's credentials never pass.
      clientId: ident.deviceId,
      username: ident.deviceId,
    };
    if (c.will !== undefined && c.will !== null) out.will = c.will;
    if (this.version === 5) {
      const props = { ...(c.properties ?? {}) };
      // The gateway resolves aliases itself; the broker sends full topic names (so `receive` is
      // authorized on the name, not on an alias).
      delete props.topicAliasMaximum;
      delete props.authenticationMethod;
      delete props.authenticationData;
      props.maximumPacketSize = Math.min(props.maximumPacketSize ?? l.maxPacketBytes, l.maxPacketBytes);
      out.properties = props;
    }
    return out;
  }

  #attachUpstream(up: Duplex): void {
    this.#up = up;
    this.#upFramer = new Framer(this.#host.limits.maxPacketBytes);
    this.#upReader = new PacketReader(this.version);
    (up as Tagged)[SESSION] = this;
    up.on('data', onUpData);
    up.on('drain', onUpDrain);
    up.on('error', onUpError);
    up.on('close', onUpClose);
    up.on('end', onUpEnd);
  }

  /** @internal socket listener */
  onUpstreamDrain(): void {
    if (this.#upBlocked) {
      this.#upBlocked = false;
      this.#updateDeviceFlow();
      this.#pump();
    }
  }

  /** @internal socket listener */
  upstreamGone(detail: string): void {
    if (this.state === 'connecting') this.#refuse('upstream_unavailable', CONNACK.serverUnavailable, detail);
    else if (this.state === 'open') this.close(this.#clientDisconnected ? 'client_disconnect' : 'upstream_closed', RC.unspecified, detail);
  }

  /** Returns false when the frame must wait (rate limit); the caller holds it. */
  #onDevicePacket(frame: Buffer): boolean {
    const type = frame[0]! >> 4;
    const host = this.#host;
    if (type === PT.PUBLISH) {
      const now = this.#pumpNow;
      const w = Math.max(this.#msgBucket.waitMs(1, now), this.#byteBucket.waitMs(frame.length, now));
      if (w > 0) {
        this.#throttle(w);
        return false;
      }
      this.#msgBucket.take(1, now);
      this.#byteBucket.take(frame.length, now);
    }
    let p: Packet;
    try {
      p = this.#devReader.read(frame);
    } catch (e) {
      this.#limit('malformed', String((e as Error).message), false);
      this.close('malformed', RC.malformed, String((e as Error).message));
      return true;
    }
    switch (p.cmd) {
      case 'publish':
        this.#onDevicePublish(p, frame);
        return true;
      case 'pubrel': {
        const id = p.messageId ?? 0;
        if (this.#deniedQos2.delete(id)) this.#toDevice(encode({ cmd: 'pubcomp', messageId: id }, this.version));
        else this.#toUpstream(frame);
        return true;
      }
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
      case 'pingreq':
        this.#toUpstream(frame);
        return true;
      case 'subscribe':
        this.#onDeviceSubscribe(p);
        return true;
      case 'unsubscribe': {
        const u = p as IUnsubscribePacket;
        if (u.unsubscriptions.length > host.limits.maxFiltersPerSubscribe) {
          this.#limit('max_filters_per_subscribe', String(u.unsubscriptions.length));
          this.close('limit', RC.quotaExceeded);
          return true;
        }
        for (const f of u.unsubscriptions) this.#subs.delete(f);
        if (u.messageId !== undefined) this.#pendingUnsubs.add(u.messageId);
        this.#toUpstream(frame);
        return true;
      }
      case 'disconnect':
        this.#clientDisconnected = true;
        this.#toUpstream(frame);
        this.#up?.end();
        this.close('client_disconnect');
        return true;
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        this.close('protocol_error', RC.protocolError, 'second CONNECT');
        return true;
      default:
        // AUTH (no enhanced auth was agreed), or server-to-client packets from a client.
        this.close('protocol_error', RC.protocolError, `unexpected ${p.cmd} from device`);
        return true;
    }
  }

  #onDevicePublish(p: IPublishPacket, frame: Buffer): void {
    const host = this.#host;
    const l = host.limits;
    let modified = false;
    let topic = p.topic;
    const alias = p.properties?.topicAlias;
    if (this.version === 5 && alias !== undefined) {
      // [MQTT-3.3.2-8] alias in 1..Topic Alias Maximum, which the gateway advertised.
      if (alias === 0 || alias > l.maxTopicAliases) {
        this.close('topic_alias_invalid', RC.topicAliasInvalid, `alias ${alias}`);
        return;
      }
      if (topic === '') {
        const t = this.#devAliases.get(alias);
        if (t === undefined) {
          this.close('protocol_error', RC.protocolError, `unknown topic alias ${alias}`);
          return;
        }
        topic = t;
      } else {
        this.#devAliases.set(alias, topic);
      }
      modified = true;
    }
    const bad = checkTopicName(topic, l);
    if (bad !== null) {
      this.close('malformed', RC.topicNameInvalid, bad);
      return;
    }
    const qos = p.qos;
    const id = p.messageId ?? 0;
    if (qos > 0 && !this.#inflight.has(id) && this.#inflight.size >= l.maxInflight) {
      // [MQTT-3.3.4-9] (5.0: Receive Maximum exceeded).
      this.#limit('max_inflight', String(this.#inflight.size));
      this.close('limit', RC.receiveMaximumExceeded);
      return;
    }
    const d = host.decideMessage(this.principal!, 'publish', topic, this, qos, p.retain, frame.length);
    if (d.decision !== 'allow') {
      host.metrics.denied.publish++;
      host.report('publish_denied', this, { topic, bytes: frame.length, reason: d.errors.length > 0 ? 'policy_error' : 'policy_denied', detail: d.reasons.concat(d.errors).join('; ') });
      this.#refusePublish(qos, id);
      return;
    }
    if (qos > 0) this.#inflight.add(id);
    if (modified) {
      const props = { ...p.properties };
      delete props.topicAlias;
      this.#toUpstream(encode({ ...p, topic, properties: props }, this.version));
    } else {
      this.#toUpstream(frame);
    }
    this.messagesIn++;
    const m = host.metrics;
    m.traffic.publishMessages++;
    m.traffic.publishBytes += frame.length;
    const dc = this.#counters!;
    dc.publishMessages++;
    dc.publishBytes += frame.length;
    let tc = this.#pubClass;
    if (tc === null || topic !== this.#pubTopic) {
      tc = this.#pubClass = m.topic(topicClass(topic));
      this.#pubTopic = topic;
    }
    tc.publishMessages++;
    tc.publishBytes += frame.length;
    if (host.wantsEvents()) host.report('publish_allowed', this, { topic, bytes: frame.length });
  }

  #refusePublish(qos: number, id: number): void {
    if (this.version === 5) {
      // 5.0 §3.4.2.1 / §3.5.2.1: 0x87 Not authorized in PUBACK / PUBREC; QoS 0 has no answer.
      if (qos === 1) this.#toDevice(encode({ cmd: 'puback', messageId: id, reasonCode: RC.notAuthorized }, 5));
      else if (qos === 2) this.#toDevice(encode({ cmd: 'pubrec', messageId: id, reasonCode: RC.notAuthorized }, 5));
      else if (this.#host.deniedPublishWithoutAck === 'disconnect') this.close('publish_denied', RC.notAuthorized);
      return;
    }
    // [MQTT-3.3.5-2] 3.1.1 cannot say no: acknowledge as normal, or close the connection.
    if (this.#host.deniedPublishWithoutAck === 'disconnect') {
      this.close('publish_denied');
      return;
    }
    if (qos === 1) this.#toDevice(encode({ cmd: 'puback', messageId: id }, this.version));
    else if (qos === 2) {
      this.#deniedQos2.add(id);
      this.#toDevice(encode({ cmd: 'pubrec', messageId: id }, this.version));
    }
  }

  #onDeviceSubscribe(s: ISubscribePacket): void {
    const host = this.#host;
    const l = host.limits;
    if (s.subscriptions.length > l.maxFiltersPerSubscribe) {
      this.#limit('max_filters_per_subscribe', String(s.subscriptions.length));
      this.close('limit', RC.quotaExceeded);
      return;
    }
    const v5 = this.version === 5;
    // SUBACK failure codes: 3.1.1 has only 0x80 (§3.9.3); 5.0 says why (§3.9.3).
    const denied = v5 ? 0x87 : 0x80;
    const invalid = v5 ? 0x8f : 0x80;
    const quota = v5 ? 0x97 : 0x80;
    const pending: PendingSub = { codes: [], forwarded: [], raw: [] };
    let count = this.#subs.size;
    for (const sub of s.subscriptions) {
      const parsed = parseSubscriptionFilter(sub.topic, l);
      if ('error' in parsed) {
        pending.codes.push(invalid);
        host.metrics.denied.subscribe++;
        host.report('subscribe_denied', this, { topic: sub.topic.slice(0, l.maxTopicBytes), reason: 'invalid_filter', detail: parsed.error });
        continue;
      }
      // INVARIANT: no device reaches $SYS or any other `$` topic, whatever the policy says.
      if (parsed.filter.startsWith('$')) {
        pending.codes.push(denied);
        host.metrics.denied.subscribe++;
        host.report('subscribe_denied', this, { topic: sub.topic, reason: 'reserved_topic' });
        continue;
      }
      if (!this.#subs.has(sub.topic) && count >= l.maxSubscriptionsPerSession) {
        pending.codes.push(quota);
        this.#limit('max_subscriptions_per_session', sub.topic);
        continue;
      }
      const d = host.decide(this.principal!, 'subscribe', { type: 'filter', name: parsed.filter, shareGroup: parsed.shareGroup }, this, { qos: sub.qos });
      if (d.decision !== 'allow') {
        pending.codes.push(denied);
        host.metrics.denied.subscribe++;
        host.report('subscribe_denied', this, { topic: sub.topic, reason: d.errors.length > 0 ? 'policy_error' : 'policy_denied', detail: d.reasons.concat(d.errors).join('; ') });
        continue;
      }
      if (!this.#subs.has(sub.topic)) count++;
      pending.codes.push(null);
      pending.forwarded.push(v5 ? sub : { topic: sub.topic, qos: sub.qos });
      pending.raw.push(sub.topic);
      if (host.wantsEvents()) host.report('subscribe_allowed', this, { topic: sub.topic });
    }
    const id = s.messageId ?? 0;
    if (pending.forwarded.length === 0) {
      this.#toDevice(encode({ cmd: 'suback', messageId: id, granted: pending.codes as number[] }, this.version));
      return;
    }
    this.#pendingSubs.set(id, pending);
    const out: ISubscribePacket = { cmd: 'subscribe', messageId: id, subscriptions: pending.forwarded };
    if (v5 && s.properties !== undefined) out.properties = s.properties;
    this.#toUpstream(encode(out, this.version));
  }

  // --- upstream side ----------------------------------------------------------------------------

  /** @internal socket listener */
  onUpstreamData(chunk: Buffer): void {
    if (this.state !== 'connecting' && this.state !== 'open') return;
    const f = this.#upFramer!;
    f.push(chunk);
    const sock = this.sock;
    const up = this.#up;
    sock.cork();
    up?.cork();
    try {
      for (;;) {
        if (this.state !== 'connecting' && this.state !== 'open') return;
        const frame = f.next();
        if (frame === null) return;
        const p = this.#upReader!.read(frame);
        if (this.state === 'connecting') this.#onUpstreamConnack(p);
        else this.#onUpstreamPacket(p, frame);
      }
    } catch (e) {
      // The broker sent something we cannot vouch for: end this session, not the gateway.
      if (this.state === 'connecting') this.#refuse('upstream_unavailable', CONNACK.serverUnavailable, `upstream: ${String(e)}`);
      else this.close('upstream_protocol_error', RC.unspecified, String(e));
    } finally {
      up?.uncork();
      sock.uncork();
    }
  }

  #onUpstreamConnack(p: Packet): void {
    if (this.#connackTimer !== null) clearTimeout(this.#connackTimer);
    this.#connackTimer = null;
    if (p.cmd !== 'connack') {
      this.#refuse('upstream_unavailable', CONNACK.serverUnavailable, `upstream sent ${p.cmd} before CONNACK`);
      return;
    }
    const ca = p;
    const code = this.version === 5 ? (ca.reasonCode ?? 0) : (ca.returnCode ?? 0);
    if (code !== 0) {
      this.#host.metrics.refusals.set('upstream_refused', (this.#host.metrics.refusals.get('upstream_refused') ?? 0) + 1);
      this.#host.report('connect_refused', this, { reason: 'upstream_refused', detail: `upstream code ${code}` });
      this.#toDevice(encode(ca, this.version));
      this.#finish('upstream_refused', false);
      return;
    }
    const c = this.#connect!;
    const l = this.#host.limits;
    this.keepaliveMs = this.#effectiveKeepalive(c.keepalive ?? 0) * 1500; // [MQTT-3.1.2-24] 1.5 × keepalive
    const out: IConnackPacket = { cmd: 'connack', sessionPresent: ca.sessionPresent };
    if (this.version === 5) {
      const props = { ...(ca.properties ?? {}) };
      if (l.maxTopicAliases > 0) props.topicAliasMaximum = l.maxTopicAliases;
      else delete props.topicAliasMaximum;
      props.maximumPacketSize = Math.min(props.maximumPacketSize ?? l.maxPacketBytes, l.maxPacketBytes);
      props.receiveMaximum = Math.min(props.receiveMaximum ?? 65_535, l.maxInflight);
      // 5.0 §3.2.2.3.7: only for an empty client id (libmosquitto treats it as a protocol error otherwise).
      if (c.clientId === '') props.assignedClientIdentifier = this.identity!.deviceId;
      else delete props.assignedClientIdentifier;
      const ka = c.keepalive ?? 0;
      const eff = props.serverKeepAlive ?? this.#effectiveKeepalive(ka);
      if (eff !== ka || props.serverKeepAlive !== undefined) {
        props.serverKeepAlive = eff;
        this.keepaliveMs = eff * 1500;
      }
      out.reasonCode = 0;
      out.properties = props;
    } else {
      out.returnCode = 0;
    }
    this.state = 'open';
    // The device's CONNECT (Will payload, properties…) is not needed once the session is open.
    this.#connect = null;
    this.connectedAt = this.#host.clock.now();
    this.#counters = this.#host.metrics.device(this.identity!.deviceId);
    this.#host.metrics.connectionsAccepted++;
    this.#host.metrics.sessionsOpen++;
    this.#toDevice(encode(out, this.version));
    this.#host.report('connect', this, { detail: `MQTT ${this.version === 5 ? '5.0' : this.version === 4 ? '3.1.1' : '3.1'}` });
    this.#updateDeviceFlow();
    this.#pump();
    if (this.recheckAfterOpen) {
      this.recheckAfterOpen = false;
      void this.recheck();
    }
  }

  #onUpstreamPacket(p: Packet, frame: Buffer): void {
    switch (p.cmd) {
      case 'publish':
        this.#onUpstreamPublish(p, frame);
        return;
      case 'pubrel': {
        const id = p.messageId ?? 0;
        if (this.#swallowedRel.delete(id)) this.#toUpstream(encode({ cmd: 'pubcomp', messageId: id }, this.version));
        else this.#toDevice(frame);
        return;
      }
      case 'puback':
      case 'pubcomp':
        this.#inflight.delete(p.messageId ?? 0);
        this.#toDevice(frame);
        return;
      case 'pubrec':
        // 5.0: a PUBREC failure code ends the exchange.
        if ((p.reasonCode ?? 0) >= 0x80) this.#inflight.delete(p.messageId ?? 0);
        this.#toDevice(frame);
        return;
      case 'suback':
        this.#onUpstreamSuback(p, frame);
        return;
      case 'unsuback': {
        const id = p.messageId ?? 0;
        if (this.#gatewayUnsubs.delete(id)) return;
        this.#pendingUnsubs.delete(id);
        this.#toDevice(frame);
        return;
      }
      case 'pingresp':
        this.#toDevice(frame);
        return;
      case 'disconnect':
        // 5.0 server DISCONNECT: pass the broker's reason on, then end.
        this.#toDevice(frame);
        this.close('upstream_disconnect', undefined, `upstream reason ${(p as IDisconnectPacket).reasonCode ?? 0}`);
        return;
      default:
        this.close('upstream_protocol_error', RC.unspecified, `unexpected ${p.cmd} from upstream`);
    }
  }

  #onUpstreamPublish(p: IPublishPacket, frame: Buffer): void {
    const host = this.#host;
    let topic = p.topic;
    let modified = false;
    const alias = p.properties?.topicAlias;
    if (this.version === 5 && alias !== undefined) {
      // Not expected (no Topic Alias Maximum was sent upstream); resolved anyway, bounded.
      if (alias === 0 || alias > host.limits.maxTopicAliases) {
        this.close('upstream_protocol_error', RC.unspecified, `upstream alias ${alias}`);
        return;
      }
      if (topic === '') {
        const t = this.#upAliases.get(alias);
        if (t === undefined) {
          this.close('upstream_protocol_error', RC.unspecified, `unknown upstream alias ${alias}`);
          return;
        }
        topic = t;
      } else this.#upAliases.set(alias, topic);
      modified = true;
    }
    const d = host.decideMessage(this.principal!, 'receive', topic, this, p.qos, p.retain, frame.length);
    if (d.decision !== 'allow') {
      host.metrics.denied.receive++;
      host.report('receive_denied', this, { topic, bytes: frame.length, reason: d.errors.length > 0 ? 'policy_error' : 'policy_denied', detail: d.reasons.concat(d.errors).join('; ') });
      // Not the device's fault: complete the exchange with the broker and deliver nothing.
      const id = p.messageId ?? 0;
      if (p.qos === 1) this.#toUpstream(encode({ cmd: 'puback', messageId: id }, this.version));
      else if (p.qos === 2) {
        this.#swallowedRel.add(id);
        this.#toUpstream(encode({ cmd: 'pubrec', messageId: id }, this.version));
      }
      return;
    }
    if (modified) {
      const props = { ...p.properties };
      delete props.topicAlias;
      this.#toDevice(encode({ ...p, topic, properties: props }, this.version));
    } else {
      this.#toDevice(frame);
    }
    this.messagesOut++;
    const m = host.metrics;
    m.traffic.receiveMessages++;
    m.traffic.receiveBytes += frame.length;
    const dc = this.#counters!;
    dc.receiveMessages++;
    dc.receiveBytes += frame.length;
    let tc = this.#recvClass;
    if (tc === null || topic !== this.#recvTopic) {
      tc = this.#recvClass = m.topic(topicClass(topic));
      this.#recvTopic = topic;
    }
    tc.receiveMessages++;
    tc.receiveBytes += frame.length;
    if (host.wantsEvents()) host.report('receive_allowed', this, { topic, bytes: frame.length });
  }

  #onUpstreamSuback(p: ISubackPacket, frame: Buffer): void {
    const id = p.messageId ?? 0;
    const pending = this.#pendingSubs.get(id);
    if (pending === undefined) {
      this.#toDevice(frame);
      return;
    }
    this.#pendingSubs.delete(id);
    const granted = p.granted as number[];
    let j = 0;
    const codes = pending.codes.map((c) => {
      if (c !== null) return c;
      const g = granted[j];
      const raw = pending.raw[j];
      const sub = pending.forwarded[j];
      j++;
      const code = typeof g === 'number' ? g : 0x80;
      if (code < 0x80 && raw !== undefined && sub !== undefined) {
        const parsed = parseSubscriptionFilter(raw, this.#host.limits);
        if (!('error' in parsed)) this.#subs.set(raw, { filter: parsed.filter, shareGroup: parsed.shareGroup, qos: code });
      }
      return code;
    });
    const out: ISubackPacket = { cmd: 'suback', messageId: id, granted: codes };
    if (this.version === 5 && p.properties !== undefined) out.properties = p.properties;
    this.#toDevice(encode(out, this.version));
  }

  // --- continuous verification ------------------------------------------------------------------

  /**
   * Re-checks status and policy for a live session (status change, revocation, policy change):
   * revoked or no longer active → close; access removed → unsubscribe upstream or close.
   */
  async recheck(): Promise<void> {
    if (this.state === 'connecting') {
      this.recheckAfterOpen = true;
      return;
    }
    if (this.state !== 'open') return;
    const gen = ++this.#statusGen;
    const st = await this.#status();
    if (st === null || gen !== this.#statusGen || this.state !== 'open') return;
    const principal = this.#principalFrom(this.identity!, st);
    this.principal = principal;
    const host = this.#host;
    const d = host.decide(principal, 'connect', { type: 'broker' }, this);
    if (d.decision !== 'allow') {
      this.close('policy_changed', RC.administrativeAction, d.reasons.concat(d.errors).join('; '));
      return;
    }
    const revoked: string[] = [];
    for (const [raw, sub] of this.#subs) {
      const sd = host.decide(principal, 'subscribe', { type: 'filter', name: sub.filter, shareGroup: sub.shareGroup }, this, { qos: sub.qos as 0 | 1 | 2 });
      if (sd.decision !== 'allow') {
        revoked.push(raw);
        host.metrics.denied.subscribe++;
        host.report('subscribe_denied', this, { topic: raw, reason: 'policy_changed', detail: sd.reasons.concat(sd.errors).join('; ') });
      }
    }
    if (revoked.length === 0) return;
    for (const r of revoked) this.#subs.delete(r);
    const id = this.#freeMessageId();
    if (id === null) {
      this.close('policy_changed', RC.administrativeAction, 'no packet identifier free to unsubscribe');
      return;
    }
    this.#gatewayUnsubs.add(id);
    this.#toUpstream(encode({ cmd: 'unsubscribe', messageId: id, unsubscriptions: revoked }, this.version));
  }

  /** A packet id the device is not using towards the broker right now. */
  #freeMessageId(): number | null {
    for (let id = 65_535; id > 0; id--) {
      if (!this.#inflight.has(id) && !this.#pendingSubs.has(id) && !this.#pendingUnsubs.has(id) && !this.#gatewayUnsubs.has(id)) return id;
    }
    return null;
  }

  /**
   * Closes the session once the certificate's notAfter has passed on the injected clock. Called by
   * the gateway's sweep (one shared timer instead of one per session) with the clock's time.
   */
  checkExpiry(nowMs: number = this.#host.clock.now().getTime()): void {
    if (this.state !== 'open' || this.identity === null) return;
    if (nowMs >= this.identity.notAfter.getTime()) this.close('cert_expired', RC.notAuthorized);
  }

  // --- flow control, limits, ending -------------------------------------------------------------

  #toDevice(buf: Buffer): void {
    if (this.sock.destroyed) return;
    if (!this.sock.write(buf) && !this.#devBlocked && this.#up !== null) {
      this.#devBlocked = true;
      this.#up.pause();
    }
  }

  #toUpstream(buf: Buffer): void {
    const up = this.#up;
    if (up === null || up.destroyed) return;
    if (!up.write(buf) && !this.#upBlocked) {
      this.#upBlocked = true;
      this.#updateDeviceFlow();
    }
  }

  #throttle(ms: number): void {
    if (this.#throttled) return;
    this.#throttled = true;
    this.#limit('message_rate', `throttled ${ms} ms`, false);
    this.#updateDeviceFlow();
    setTimeout(() => {
      this.#throttled = false;
      this.#updateDeviceFlow();
      this.#pump();
    }, Math.min(ms, 1000)).unref();
  }

  #updateDeviceFlow(): void {
    if (this.sock.destroyed) return;
    if (this.state === 'connecting' || this.#throttled || this.#upBlocked) this.sock.pause();
    else this.sock.resume();
  }

  #limit(name: string, detail: string, _fatal = true): void {
    const m = this.#host.metrics;
    m.limitsExceeded.set(name, (m.limitsExceeded.get(name) ?? 0) + 1);
    this.#host.report('limit_exceeded', this, { reason: name, detail });
  }

  /** CONNECT refused with a CONNACK code, then the connection is closed. */
  #refuse(reason: string, code: { v4: number; v5: number }, detail?: string): void {
    if (this.state === 'closed' || this.state === 'open') return;
    const m = this.#host.metrics;
    m.refusals.set(reason, (m.refusals.get(reason) ?? 0) + 1);
    if (reason === 'policy_denied' || reason === 'policy_error' || reason === 'will_denied') m.denied.connect++;
    this.#host.report('connect_refused', this, detail === undefined ? { reason } : { reason, detail });
    // [MQTT-3.2.2-5] 3.1.1: a non-zero return code, then close. 5.0 §3.2.2.2: reason ≥ 0x80, then close.
    const ack: IConnackPacket = this.version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: code.v5 } : { cmd: 'connack', sessionPresent: false, returnCode: code.v4 };
    this.#toDevice(encode(ack, this.version === 5 ? 5 : 4));
    this.#finish(reason, false);
  }

  /** Closed before any CONNACK could be sent (no CONNECT, or an unreadable one). */
  #refuseSilently(reason: string, detail: string): void {
    const m = this.#host.metrics;
    m.refusals.set(reason, (m.refusals.get(reason) ?? 0) + 1);
    this.#host.report('connect_refused', this, { reason, detail });
    this.#finish(reason, false);
  }

  /** Ends a session; 5.0 sessions that were open get a DISCONNECT with the reason code first. */
  close(reason: string, rc?: number, detail?: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'await_connect' || ((reason === 'client_closed' || reason === 'client_error') && this.state === 'connecting')) {
      this.#refuseSilently(reason, detail ?? reason);
      return;
    }
    if (this.state === 'connecting') {
      this.#refuse(reason, CONNACK.notAuthorized, detail);
      return;
    }
    if (this.version === 5 && rc !== undefined && !this.#clientDisconnected && !this.sock.destroyed) {
      // 5.0 §3.14: the server may send DISCONNECT with a reason before closing.
      this.#toDevice(encode({ cmd: 'disconnect', reasonCode: rc }, 5));
    }
    const m = this.#host.metrics;
    m.disconnects.set(reason, (m.disconnects.get(reason) ?? 0) + 1);
    this.#host.report('disconnect', this, detail === undefined ? { reason } : { reason, detail });
    this.#finish(reason, true);
  }

  #finish(_reason: string, wasOpen: boolean): void {
    const prev = this.state;
    this.state = 'closed';
    if (wasOpen && prev === 'open') this.#host.metrics.sessionsOpen--;
    if (this.#connackTimer !== null) clearTimeout(this.#connackTimer);
    this.#host.release(this);
    this.#devFramer.clear();
    this.#upFramer?.clear();
    const up = this.#up;
    this.#up = null;
    // Whatever this burst already forwarded goes out before the upstream is closed.
    if (up !== null) while (up.writableCorked > 0) up.uncork();
    // An abnormal end (not a DISCONNECT from the device) lets the broker publish the Will.
    if (up !== null) {
      if (this.#clientDisconnected) up.end();
      up.destroy();
    }
    const sock = this.sock;
    if (!sock.destroyed) {
      sock.end();
      // Whatever the peer does, the socket is gone shortly after: a revoked device gets no grace.
      setTimeout(() => sock.destroy(), 250).unref();
    }
  }
}
