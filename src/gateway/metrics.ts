/**
 * Prometheus text exposition (format 0.0.4), written by hand: a handful of counters, one gauge and
 * one histogram do not justify a dependency. Label cardinality is bounded: per-device series exist
 * for the first `metricsMaxDevices` devices seen (the rest add to device="_other"), per-topic series
 * are per first topic level (`topic_class`), capped the same way.
 */

export type Direction = 'publish' | 'receive';

export interface TrafficCounters {
  publishMessages: number;
  publishBytes: number;
  receiveMessages: number;
  receiveBytes: number;
}

const OTHER = '_other';
const DECISION_BUCKETS = [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function newTraffic(): TrafficCounters {
  return { publishMessages: 0, publishBytes: 0, receiveMessages: 0, receiveBytes: 0 };
}

class BoundedTraffic {
  readonly #m = new Map<string, TrafficCounters>();
  constructor(readonly max: number) {}
  get(key: string): TrafficCounters {
    let c = this.#m.get(key);
    if (c !== undefined) return c;
    const k = this.#m.size < this.max ? key : OTHER;
    c = this.#m.get(k);
    if (c === undefined) {
      c = newTraffic();
      this.#m.set(k, c);
    }
    return c;
  }
  entries(): IterableIterator<[string, TrafficCounters]> {
    return this.#m.entries();
  }
}

export class GatewayMetrics {
  connectionsAccepted = 0;
  sessionsOpen = 0;
  readonly refusals = new Map<string, number>();
  readonly disconnects = new Map<string, number>();
  readonly limitsExceeded = new Map<string, number>();
  readonly denied = { publish: 0, subscribe: 0, receive: 0, connect: 0 };
  readonly failClosed = new Map<string, number>();
  readonly traffic: TrafficCounters = newTraffic();
  readonly #devices: BoundedTraffic;
  readonly #topics: BoundedTraffic;
  readonly #decisionBuckets = new Array<number>(DECISION_BUCKETS.length).fill(0);
  #decisionCount = 0;
  #decisionSum = 0;

  constructor(maxDevices: number, maxTopicClasses: number) {
    this.#devices = new BoundedTraffic(maxDevices);
    this.#topics = new BoundedTraffic(maxTopicClasses);
  }

  device(id: string): TrafficCounters {
    return this.#devices.get(id);
  }

  topic(cls: string): TrafficCounters {
    return this.#topics.get(cls);
  }

  static inc(m: Map<string, number>, key: string): void {
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  observeDecision(seconds: number): void {
    this.#decisionCount++;
    this.#decisionSum += seconds;
    for (let i = 0; i < DECISION_BUCKETS.length; i++) {
      if (seconds <= DECISION_BUCKETS[i]!) {
        this.#decisionBuckets[i]!++;
        return;
      }
    }
  }

  get decisions(): number {
    return this.#decisionCount;
  }

  text(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const labelled = (name: string, label: string, m: Map<string, number>): void => {
      for (const [k, v] of [...m.entries()].sort()) out.push(`${name}{${label}="${esc(k)}"} ${v}`);
    };
    family('zeta_gateway_connections_total', 'counter', 'Device MQTT sessions accepted (CONNACK success).');
    out.push(`zeta_gateway_connections_total ${this.connectionsAccepted}`);
    family('zeta_gateway_sessions', 'gauge', 'Device MQTT sessions open now.');
    out.push(`zeta_gateway_sessions ${this.sessionsOpen}`);
    family('zeta_gateway_refusals_total', 'counter', 'Connections refused, by reason.');
    labelled('zeta_gateway_refusals_total', 'reason', this.refusals);
    family('zeta_gateway_disconnects_total', 'counter', 'Sessions ended, by reason.');
    labelled('zeta_gateway_disconnects_total', 'reason', this.disconnects);
    family('zeta_gateway_denied_total', 'counter', 'Requests denied by policy, by action.');
    for (const [a, v] of Object.entries(this.denied)) out.push(`zeta_gateway_denied_total{action="${a}"} ${v}`);
    family('zeta_gateway_limit_exceeded_total', 'counter', 'Limits hit, by limit name.');
    labelled('zeta_gateway_limit_exceeded_total', 'limit', this.limitsExceeded);
    family('zeta_gateway_fail_closed_total', 'counter', 'Checks that could not be made and were answered deny, by cause.');
    labelled('zeta_gateway_fail_closed_total', 'cause', this.failClosed);
    family('zeta_gateway_messages_total', 'counter', 'PUBLISH packets forwarded, by direction (publish: device to broker; receive: broker to device).');
    out.push(`zeta_gateway_messages_total{direction="publish"} ${this.traffic.publishMessages}`, `zeta_gateway_messages_total{direction="receive"} ${this.traffic.receiveMessages}`);
    family('zeta_gateway_bytes_total', 'counter', 'PUBLISH packet bytes forwarded, by direction.');
    out.push(`zeta_gateway_bytes_total{direction="publish"} ${this.traffic.publishBytes}`, `zeta_gateway_bytes_total{direction="receive"} ${this.traffic.receiveBytes}`);
    const perKey = (name: string, label: string, src: BoundedTraffic, help: string): void => {
      family(`${name}_messages_total`, 'counter', `${help} messages (bounded label set; overflow in "${OTHER}").`);
      const rows = [...src.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const [k, c] of rows) {
        out.push(`${name}_messages_total{${label}="${esc(k)}",direction="publish"} ${c.publishMessages}`);
        out.push(`${name}_messages_total{${label}="${esc(k)}",direction="receive"} ${c.receiveMessages}`);
      }
      family(`${name}_bytes_total`, 'counter', `${help} bytes (bounded label set; overflow in "${OTHER}").`);
      for (const [k, c] of rows) {
        out.push(`${name}_bytes_total{${label}="${esc(k)}",direction="publish"} ${c.publishBytes}`);
        out.push(`${name}_bytes_total{${label}="${esc(k)}",direction="receive"} ${c.receiveBytes}`);
      }
    };
    perKey('zeta_gateway_device', 'device', this.#devices, 'Per-device');
    perKey('zeta_gateway_topic_class', 'topic_class', this.#topics, 'Per first topic level');
    family('zeta_gateway_decision_seconds', 'histogram', 'Policy decision latency.');
    let cum = 0;
    for (let i = 0; i < DECISION_BUCKETS.length; i++) {
      cum += this.#decisionBuckets[i]!;
      out.push(`zeta_gateway_decision_seconds_bucket{le="${DECISION_BUCKETS[i]}"} ${cum}`);
    }
    out.push(`zeta_gateway_decision_seconds_bucket{le="+Inf"} ${this.#decisionCount}`);
    out.push(`zeta_gateway_decision_seconds_sum ${this.#decisionSum}`);
    out.push(`zeta_gateway_decision_seconds_count ${this.#decisionCount}`);
    return out.join('\n') + '\n';
  }
}
