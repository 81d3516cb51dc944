/**
 * Every resource a device can make the gateway spend has a named bound here. Defaults suit a fleet
 * of small devices; `zeta gateway` exposes them as flags. Validated once, frozen.
 */
import { ZetaError } from '../common/errors.js';

export interface GatewayLimits {
  /** Largest MQTT packet accepted from a device or the broker (bytes, whole packet). */
  maxPacketBytes: number;
  /** Topic names and filters, in UTF-8 bytes ([MQTT-4.7.3-3] allows 65535). */
  maxTopicBytes: number;
  maxTopicLevels: number;
  /** Device → broker QoS 1/2 messages awaiting acknowledgement (5.0: Receive Maximum). */
  maxInflight: number;
  /** MQTT 5 topic aliases a device may define (Topic Alias Maximum in CONNACK). */
  maxTopicAliases: number;
  maxSubscriptionsPerSession: number;
  maxFiltersPerSubscribe: number;
  /** Per-device token buckets; a device over its rate is throttled (its socket is paused). */
  messagesPerSecond: number;
  messageBurst: number;
  bytesPerSecond: number;
  byteBurst: number;
  /** New TCP connections per client address (token bucket), checked before TLS. */
  connectionsPerSecondPerAddress: number;
  connectionBurstPerAddress: number;
  /** Addresses tracked by the connection-rate limiter (oldest forgotten first). */
  maxTrackedAddresses: number;
  maxConnections: number;
  tlsHandshakeTimeoutMs: number;
  /** TLS up → CONNECT received ([MQTT-3.1.4-1] slowloris). */
  connectTimeoutMs: number;
  /** A device with keepalive 0 (or more than this) is held to this many seconds. */
  maxKeepaliveSeconds: number;
  statusLookupTimeoutMs: number;
  upstreamConnectTimeoutMs: number;
  /** Distinct `device` label values in per-device metrics; the rest are summed under `_other`. */
  metricsMaxDevices: number;
  /** Distinct `topic_class` label values (first topic level); the rest under `_other`. */
  metricsMaxTopicClasses: number;
}

export const DEFAULT_LIMITS: Readonly<GatewayLimits> = Object.freeze({
  maxPacketBytes: 256 * 1024,
  maxTopicBytes: 512,
  maxTopicLevels: 16,
  maxInflight: 64,
  maxTopicAliases: 16,
  maxSubscriptionsPerSession: 64,
  maxFiltersPerSubscribe: 32,
  messagesPerSecond: 100,
  messageBurst: 500,
  bytesPerSecond: 1024 * 1024,
  byteBurst: 4 * 1024 * 1024,
  connectionsPerSecondPerAddress: 20,
  connectionBurstPerAddress: 100,
  maxTrackedAddresses: 10_000,
  maxConnections: 20_000,
  tlsHandshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxKeepaliveSeconds: 1200,
  statusLookupTimeoutMs: 2_000,
  upstreamConnectTimeoutMs: 5_000,
  metricsMaxDevices: 1_000,
  metricsMaxTopicClasses: 64,
});

const BOUNDS: Readonly<Record<keyof GatewayLimits, readonly [number, number]>> = {
  maxPacketBytes: [64, 268_435_455],
  maxTopicBytes: [8, 65_535],
  maxTopicLevels: [1, 1_000],
  maxInflight: [1, 65_535],
  maxTopicAliases: [0, 65_535],
  maxSubscriptionsPerSession: [1, 100_000],
  maxFiltersPerSubscribe: [1, 10_000],
  messagesPerSecond: [1, 1e9],
  messageBurst: [1, 1e9],
  bytesPerSecond: [64, 1e12],
  byteBurst: [64, 1e12],
  connectionsPerSecondPerAddress: [0.001, 1e9],
  connectionBurstPerAddress: [1, 1e9],
  maxTrackedAddresses: [1, 10_000_000],
  maxConnections: [1, 10_000_000],
  tlsHandshakeTimeoutMs: [100, 600_000],
  connectTimeoutMs: [100, 600_000],
  maxKeepaliveSeconds: [1, 65_535],
  statusLookupTimeoutMs: [10, 60_000],
  upstreamConnectTimeoutMs: [10, 60_000],
  metricsMaxDevices: [0, 1_000_000],
  metricsMaxTopicClasses: [0, 10_000],
};

/** Defaults plus overrides; unknown keys and out-of-range values are refused by name. */
export function resolveLimits(overrides: Partial<GatewayLimits> = {}): Readonly<GatewayLimits> {
  const out: GatewayLimits = { ...DEFAULT_LIMITS };
  const problems: string[] = [];
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    const bounds = BOUNDS[k as keyof GatewayLimits] as readonly [number, number] | undefined;
    if (bounds === undefined) {
      problems.push(`${k}: unknown limit`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < bounds[0] || v > bounds[1]) {
      problems.push(`${k}: must be a number in [${bounds[0]}, ${bounds[1]}]`);
      continue;
    }
    out[k as keyof GatewayLimits] = v;
  }
  if (problems.length > 0) {
    throw new ZetaError('ZETA_ERR_CONFIG', `invalid gateway limits: ${problems.join('; ')}`, { fields: { problems } });
  }
  return Object.freeze(out);
}
