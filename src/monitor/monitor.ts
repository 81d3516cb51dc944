/**
 * Live ingest: the gateway, flow collectors and telemetry feed signals in; the same `Detector` as
 * the offline replay scores them off the caller's stack, in batches. The queue is bounded:
 * `ingest` returns false above the high-water mark (slow down, wait for 'drain'), and a signal that
 * arrives with the queue full is dropped and counted — the monitor never grows without bound and
 * never blocks the enforcement point that feeds it.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../common/clock.js';
import { Detector, type DetectorOptions, type DetectorStats } from './detector.js';
import { createParser, type LineParser } from './parse.js';
import type { Alert, CohortNotice } from './rules.js';
import { gatewaySignal, type GatewayEventLike, type Signal, type SignalFormat } from './signals.js';
import type { TrustInput } from './trust-score.js';

export interface MonitorOptions extends DetectorOptions {
  readonly clock?: Clock;
  /** `ingest` returns false at or above this many queued signals. */
  readonly highWaterMark?: number;
  /** Signals arriving with this many queued are dropped (counted in `stats().dropped`). */
  readonly queueLimit?: number;
  /** Signals scored per turn of the event loop. */
  readonly batchSize?: number;
  /** Recent alert scores kept per device for the trust score. */
  readonly scoresPerDevice?: number;
}

export interface MonitorStats extends DetectorStats {
  queued: number;
  dropped: number;
  malformed: number;
  processed: number;
}

export interface MonitorEvents {
  alert: [Alert];
  notice: [CohortNotice];
  drain: [];
  error: [unknown];
}

export class Monitor extends EventEmitter<MonitorEvents> {
  readonly detector: Detector;
  readonly #clock: Clock;
  readonly #high: number;
  readonly #limit: number;
  readonly #batch: number;
  readonly #perDevice: number;
  #queue: Signal[] = [];
  #head = 0;
  #scheduled = false;
  #needDrain = false;
  #dropped = 0;
  #malformed = 0;
  #processed = 0;
  #closed = false;
  #lastEventMs = 0;
  readonly #idle: (() => void)[] = [];
  readonly #parsers = new Map<SignalFormat, LineParser>();
  readonly #recent = new Map<string, { score: number; atMs: number }[]>();
  readonly #maxRecentKeys: number;

  constructor(o: MonitorOptions = {}) {
    super();
    this.detector = new Detector(o);
    this.#clock = o.clock ?? systemClock;
    this.#high = o.highWaterMark ?? 10_000;
    this.#limit = Math.max(this.#high, o.queueLimit ?? 100_000);
    this.#batch = o.batchSize ?? 2_000;
    this.#perDevice = o.scoresPerDevice ?? 16;
    this.#maxRecentKeys = o.maxKeys ?? 250_000;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Queue one signal. Returns false when the caller should wait for 'drain' (or the signal was dropped). */
  ingest(s: Signal): boolean {
    if (this.#closed || this.queued >= this.#limit) {
      this.#dropped++;
      this.#needDrain = true;
      return false;
    }
    this.#queue.push(s);
    this.#schedule();
    if (this.queued >= this.#high) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** A gateway event as emitted by `Gateway#on('event')`. */
  ingestGatewayEvent(ev: GatewayEventLike): boolean {
    const s = gatewaySignal(ev);
    if (s === undefined) {
      this.#malformed++;
      return true;
    }
    return this.ingest(s);
  }

  /** One raw line of a signal format (e.g. a tailed conn.log); malformed lines are counted. */
  ingestLine(format: SignalFormat, line: string): boolean {
    let p = this.#parsers.get(format);
    if (p === undefined) {
      p = createParser(format);
      this.#parsers.set(format, p);
    }
    const r = p.parse(line);
    if (r.ok === 'skip') return true;
    if (r.ok === false) {
      this.#malformed++;
      return true;
    }
    return this.ingest(r.record);
  }

  /** Resolves once everything queued so far has been scored. */
  async idle(): Promise<void> {
    if (this.queued === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  stats(): MonitorStats {
    return { ...this.detector.stats, queued: this.queued, dropped: this.#dropped, malformed: this.#malformed, processed: this.#processed };
  }

  /** The behaviour part of `trustScore` input for a device (recent alert scores, now from the clock). */
  behavior(deviceId: string): TrustInput['behavior'] {
    return { recentScores: [...(this.#recent.get(deviceId) ?? [])], nowMs: this.#clock.now().getTime() };
  }

  /** Stop accepting signals; what is queued is still scored. */
  close(): void {
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#run());
  }

  #run(): void {
    this.#scheduled = false;
    const end = Math.min(this.#queue.length, this.#head + this.#batch);
    try {
      for (; this.#head < end; this.#head++) {
        const s = this.#queue[this.#head] as Signal;
        const v = this.detector.process(s);
        this.#processed++;
        if (v.alert !== undefined) {
          this.#remember(v.alert);
          this.emit('alert', v.alert);
        }
        if (v.notice !== undefined) this.emit('notice', v.notice);
        if (s.tsMs > this.#lastEventMs) this.#lastEventMs = s.tsMs;
      }
      // Held alerts of keys that went quiet are released by event time, not left waiting.
      if (this.detector.pending > 0) {
        const f = this.detector.flush(this.#lastEventMs);
        for (const a of f.alerts) {
          this.#remember(a);
          this.emit('alert', a);
        }
        for (const n of f.notices) this.emit('notice', n);
      }
    } catch (e) {
      // A detector bug must not stop ingest: skip the record, report it.
      this.#head++;
      if (this.listenerCount('error') > 0) this.emit('error', e);
    }
    if (this.#head >= 4096 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.queued > 0) {
      this.#schedule();
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.emit('drain');
    }
    for (const r of this.#idle.splice(0)) r();
  }

  #remember(a: Alert): void {
    let l = this.#recent.get(a.key);
    if (l === undefined) {
      if (this.#recent.size >= this.#maxRecentKeys) {
        const first = this.#recent.keys().next();
        if (first.done !== true) this.#recent.delete(first.value);
      }
      l = [];
      this.#recent.set(a.key, l);
    }
    l.push({ score: a.score, atMs: a.atMs });
    if (l.length > this.#perDevice) l.shift();
  }
}
