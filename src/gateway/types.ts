/**
 * The gateway's contracts with the rest of Zeta: the policy decision interface (a pure function,
 * cf. cedar-policy authorizer.rs), the device status source (PIP + change feed), and what it emits.
 * Kept free of I/O so `src/policy/engine` can implement `Authorizer` without importing the gateway.
 */

/** What a device may ask for. `receive` is broker → device delivery. */
export type GatewayAction = 'connect' | 'publish' | 'subscribe' | 'receive';

/** The authenticated device, as bound to the session from its certificate plus the status source. */
export interface DevicePrincipal {
  readonly type: 'device';
  /** From the certificate URI SAN `spiffe://<trust-domain>/device/<id>`; never from the MQTT client id. */
  readonly id: string;
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** Lower-case hex, no leading 00 (same form as src/pki IssuedCert.serialHex). */
  readonly certSerialHex: string;
  readonly segment: string | null;
  readonly deviceType: string;
  readonly state: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

export type GatewayResource =
  | { readonly type: 'broker' }
  /** A concrete topic name (publish, receive, will). */
  | { readonly type: 'topic'; readonly name: string }
  /** A subscription filter, authorized as a filter: wildcards included. `$share/<group>/` already removed. */
  | { readonly type: 'filter'; readonly name: string; readonly shareGroup: string | null };

export interface GatewayRequestContext {
  /** From the injected Clock: the decision function reads no clock itself. */
  readonly now: Date;
  readonly clientAddress: string;
  readonly protocolVersion: number;
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
  readonly bytes?: number;
}

export interface Decision {
  readonly decision: 'allow' | 'deny';
  readonly reasons: readonly string[];
  readonly errors: readonly string[];
}

/**
 * The policy decision point as the gateway sees it: pure and total. The gateway treats a throw, or
 * anything but `{ decision: 'allow' }`, as deny (fail closed).
 */
export type Authorizer = (principal: DevicePrincipal, action: GatewayAction, resource: GatewayResource, context: GatewayRequestContext) => Decision;

export interface DeviceStatus {
  state: string;
  segment: string | null;
  type: string;
  revoked: boolean;
  attributes: Record<string, unknown>;
}

/** `subject` is a device id, or `'*'` when something fleet-wide changed (e.g. the policy set). */
export interface DeviceStatusChange {
  kind: string;
  subject: string;
}

/** The policy information point for device state and revocation, plus its change feed. */
export interface DeviceStatusSource {
  /** `undefined`: unknown device or certificate (refused). A throw is refused too. */
  lookup(deviceId: string, certSerialHex: string): Promise<DeviceStatus | undefined>;
  /** Returns the unsubscribe function. */
  onChange(listener: (ev: DeviceStatusChange) => void): () => void;
}

export type GatewayEventType =
  | 'connect'
  | 'connect_refused'
  | 'disconnect'
  | 'subscribe_allowed'
  | 'subscribe_denied'
  | 'publish_allowed'
  | 'publish_denied'
  | 'receive_allowed'
  | 'receive_denied'
  | 'duplicate_identity'
  | 'limit_exceeded'
  | 'fail_closed';

export interface GatewayEvent {
  readonly type: GatewayEventType;
  /** ISO 8601 from the injected Clock. */
  readonly at: string;
  readonly sessionId: number;
  readonly clientAddress: string;
  readonly deviceId?: string;
  readonly topic?: string;
  readonly bytes?: number;
  /** Stable, low-cardinality reason (also the metrics label). */
  readonly reason?: string;
  /** Operator detail: decision reasons/errors, error messages. */
  readonly detail?: string;
}

export interface SessionInfo {
  readonly sessionId: number;
  readonly deviceId: string;
  readonly spiffeId: string;
  readonly certSerialHex: string;
  readonly clientAddress: string;
  readonly protocolVersion: number;
  readonly connectedAt: string;
  readonly certNotAfter: string;
  readonly subscriptions: readonly string[];
  readonly messagesIn: number;
  readonly messagesOut: number;
}
