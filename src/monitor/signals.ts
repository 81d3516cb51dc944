/**
 * The signals monitor consumes, after parsing and bounding (see parse-*.ts). Every field here has
 * already been checked: strings are length-capped, numbers are finite and non-negative where the
 * source defines them so. Time is always epoch milliseconds of the event, never a clock read.
 */

/** One Zeek conn.log record (the fields detection uses; the rest are dropped at parse time). */
export interface FlowRecord {
  readonly kind: 'flow';
  readonly tsMs: number;
  readonly uid: string;
  readonly origH: string;
  readonly origP: number;
  readonly respH: string;
  readonly respP: number;
  readonly proto: string;
  /** `''` when Zeek left it unset (`-`). */
  readonly service: string;
  readonly duration: number;
  readonly origBytes: number;
  readonly respBytes: number;
  /** Zeek conn_state: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH. */
  readonly connState: string;
  readonly history: string;
  readonly origPkts: number;
  readonly respPkts: number;
}

/** One device telemetry value. */
export interface TelemetryRecord {
  readonly kind: 'telemetry';
  readonly tsMs: number;
  readonly device: string;
  readonly metric: string;
  readonly value: number;
}

/**
 * The gateway's event, structurally identical to `GatewayEvent` in src/gateway/types.ts (monitor
 * may not import the gateway; ARCHITECTURE.md dependency direction). A `GatewayEvent` is assignable.
 */
export interface GatewayEventLike {
  readonly type: string;
  /** ISO 8601. */
  readonly at: string;
  readonly sessionId: number;
  readonly clientAddress: string;
  readonly deviceId?: string;
  readonly topic?: string;
  readonly bytes?: number;
  readonly reason?: string;
  readonly detail?: string;
}

export interface GatewayRecord {
  readonly kind: 'gateway';
  readonly tsMs: number;
  readonly event: GatewayEventLike;
}

export type Signal = FlowRecord | TelemetryRecord | GatewayRecord;

export type SignalFormat = 'zeek-conn' | 'telemetry' | 'gateway';

/** Wrap a gateway event (e.g. from `gateway.on('event')`) as a signal; `undefined` if `at` is not a date. */
export function gatewaySignal(event: GatewayEventLike): GatewayRecord | undefined {
  const tsMs = Date.parse(event.at);
  if (!Number.isFinite(tsMs)) return undefined;
  return { kind: 'gateway', tsMs, event };
}
