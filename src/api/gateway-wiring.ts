/**
 * Wires the MQTT enforcement point to the control plane: the device status source (inventory +
 * certificate status, and the change feed for continuous verification), the gateway's TLS identity
 * from Zeta's CA, and its events into last-seen, the audit log and a bounded ring for the API.
 */
import type { ChangeFeed, Change } from '../store/index.js';
import { MqttGateway, createGatewayServerCert, type DeviceStatus, type DeviceStatusChange, type DeviceStatusSource, type GatewayEvent, type Authorizer, type GatewayOptions } from '../gateway/index.js';
import type { ControlPlane } from './control-plane.js';
import { isZetaError } from '../common/errors.js';
import type { PolicyDecisionPoint } from '../policy/index.js';
import { compileMqttAccess, mqttAllows, SEGMENTS_CHANGED, type Flow, type MqttAccess, type Segments } from '../segments/index.js';

/**
 * The segment flows as the gateway sees them: MQTT flows between segments (one source of truth
 * with netd), refreshed on `segments.changed`, compiled per device on demand.
 */
export class FlowView {
  #flows: readonly Flow[] = [];
  readonly #cache = new Map<string, MqttAccess>();

  async load(segments: Segments): Promise<void> {
    this.#flows = (await segments.snapshot()).flows.filter((f) => f.mqttTopicPrefix !== null);
    this.#cache.clear();
  }

  follow(feed: ChangeFeed, segments: Segments): void {
    feed.on('change', (c) => { if (c.kind === SEGMENTS_CHANGED) void this.load(segments).catch(() => undefined); });
  }

  /** What flows add for this device: allowed with the flows and not without them. */
  grants(d: { id: string; segment: string | null; type: string; state: string }, action: 'publish' | 'subscribe' | 'receive', topic: string): readonly string[] {
    const key = `${d.id}\u0000${d.segment ?? ''}\u0000${d.type}\u0000${d.state}`;
    let a = this.#cache.get(key);
    if (a === undefined) {
      if (this.#cache.size > 100_000) this.#cache.clear();
      a = compileMqttAccess(d, this.#flows);
      this.#cache.set(key, a);
    }
    if (a.flows.length === 0 || !mqttAllows(a, action, topic)) return [];
    return mqttAllows(compileMqttAccess(d, []), action, topic) ? [] : a.flows;
  }
}

/**
 * The gateway's decision function. Cedar decides; an MQTT flow between segments may grant topic
 * access that no permit covers (the segment model is a source of truth too), but never over an
 * explicit Cedar forbid, and only for an active device.
 */
export function pdpAuthorizer(pdp: PolicyDecisionPoint, flows?: FlowView): Authorizer {
  return (principal, action, resource, context) => {
    const d = pdp.decide({
      principal: principal.id, action,
      ...(resource.type === 'broker' ? {} : { topic: resource.name }),
      clientAddress: context.clientAddress, protocolVersion: context.protocolVersion,
      ...(context.qos === undefined ? {} : { qos: context.qos }),
      ...(context.retain === undefined ? {} : { retain: context.retain }),
    });
    if (d.decision === 'allow' || flows === undefined || resource.type === 'broker' || action === 'connect') {
      return { decision: d.decision, reasons: d.reasons, errors: d.errors };
    }
    const explicitForbid = d.reasons.length > 0;
    if (explicitForbid || d.errors.length > 0 || principal.state !== 'active') return { decision: 'deny', reasons: d.reasons, errors: d.errors };
    const granted = flows.grants({ id: principal.id, segment: principal.segment, type: principal.deviceType, state: principal.state }, action, resource.name);
    if (granted.length > 0) return { decision: 'allow', reasons: granted.map((f) => `flow:${f}`), errors: [] };
    return { decision: 'deny', reasons: [], errors: [] };
  };
}

/** Change kinds that can alter what a live device session may do. */
const DEVICE_KINDS = new Set(['device.state', 'device.updated', 'cert.revoked', 'cert.issued']);
const FLEET_KINDS = new Set(['ca.rotated', 'policy.changed', 'segments.changed']);

export class ControlPlaneStatusSource implements DeviceStatusSource {
  readonly #cp: ControlPlane;
  readonly #feed: ChangeFeed;

  constructor(cp: ControlPlane, feed: ChangeFeed) {
    this.#cp = cp;
    this.#feed = feed;
  }

  async lookup(deviceId: string, certSerialHex: string): Promise<DeviceStatus | undefined> {
    let device;
    try {
      device = await this.#cp.inventory.get(deviceId);
    } catch (e) {
      if (isZetaError(e) && e.code === 'ZETA_ERR_NOT_FOUND') return undefined;
      throw e; // store down: the gateway fails closed
    }
    const cert = await this.#cp.authority.certificateStatus(certSerialHex);
    if (cert === undefined || cert.deviceId !== deviceId) return undefined;
    return {
      state: device.state,
      segment: device.segment,
      type: device.type,
      revoked: cert.revoked,
      attributes: { site: device.site, vendor: device.vendor, model: device.model, firmware: device.firmware, tags: device.tags, ...device.posture },
    };
  }

  onChange(listener: (ev: DeviceStatusChange) => void): () => void {
    const h = (c: Change): void => {
      if (DEVICE_KINDS.has(c.kind)) listener({ kind: c.kind, subject: c.subject });
      else if (FLEET_KINDS.has(c.kind)) listener({ kind: c.kind, subject: '*' });
    };
    this.#feed.on('change', h);
    return () => { this.#feed.off('change', h); };
  }
}

export interface GatewayHandle {
  gateway: MqttGateway;
  port: number;
  url: string;
  recentEvents: GatewayEvent[];
  close(): Promise<void>;
}

/** Starts a gateway for this control plane: embedded broker by default, or an external upstream. */
export async function startGateway(cp: ControlPlane, feed: ChangeFeed, o: {
  port: number; host: string; upstream?: string; authorize?: Authorizer;
  limits?: GatewayOptions['limits']; duplicateIdentity?: GatewayOptions['duplicateIdentity'];
}): Promise<GatewayHandle> {
  const names = [cp.config.publicHost, ...cp.config.serverNames.split(',').map((s) => s.trim()).filter((s) => s !== '')];
  const issuer = cp.authority.activeIssuing;
  const tlsId = createGatewayServerCert({ issuer, hostNames: names, now: cp.clock.now() });
  const gateway = new MqttGateway({
    trustDomain: cp.config.trustDomain,
    // The leaf goes with its issuing CA so clients holding only the root (mosquitto_pub --cafile) verify it.
    tls: { key: tlsId.key, cert: tlsId.cert + issuer.row.cert_pem, ca: cp.authority.chainPem() },
    status: new ControlPlaneStatusSource(cp, feed),
    upstream: o.upstream ?? 'embedded',
    clock: cp.clock,
    ...(o.authorize === undefined ? {} : { authorize: o.authorize }),
    ...(o.limits === undefined ? {} : { limits: o.limits }),
    ...(o.duplicateIdentity === undefined ? {} : { duplicateIdentity: o.duplicateIdentity }),
  });
  const recent: GatewayEvent[] = [];
  gateway.on('event', (e: GatewayEvent) => {
    if (e.type === 'publish_allowed' || e.type === 'receive_allowed') return; // counted in metrics; too many to keep
    recent.push(e);
    if (recent.length > 2000) recent.splice(0, recent.length - 2000);
    if (e.type === 'connect' && e.deviceId !== undefined) void cp.inventory.touchLastSeen(e.deviceId, cp.clock.now()).catch(() => undefined);
    if (e.type === 'duplicate_identity' && e.deviceId !== undefined) {
      // A second live connection with one identity may be a cloned credential: that is an audit matter.
      void cp.audit.record({ actor: 'gateway', action: 'gateway.duplicate_identity', outcome: 'refused', subject: e.deviceId, details: { client: e.clientAddress, ...(e.detail === undefined ? {} : { detail: e.detail }) } }).catch(() => undefined);
    }
  });
  const { port } = await gateway.listen(o.port, o.host);
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    gateway, port, url: `mqtts://${host}:${port}`, recentEvents: recent,
    close: () => gateway.close(),
  };
}
