/**
 * netd: the network enforcement point. It reads the segments snapshot, compiles it to one nftables
 * transaction (segments/compile-nft.ts) and applies it with `nft -f -`, again whenever a relevant
 * change arrives (debounced), and periodically to repair drift.
 *
 * INVARIANTs (fail closed, ARCHITECTURE.md Conventions):
 * - If the snapshot cannot be read or compiled, the ruleset in the kernel stays as it is (the last
 *   good one, which drops by default); netd logs it and reports unhealthy. If it never applied one,
 *   it loads the lockdown ruleset, which drops all forwarded traffic.
 * - A ruleset nft refuses is never half-applied (one netlink batch); the previous one stays.
 * - Stopping netd leaves the ruleset in force: enforcement does not end because the agent did.
 * - Latency: a change is applied within `debounceMs` plus one snapshot read and one nft run. The
 *   debounce window is fixed from the first change (later changes do not extend it), so a steady
 *   stream of changes cannot starve the apply.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import {
  compileNftRuleset, renderLockdownRuleset, renderRemoveRuleset, NFT_FAMILY, NFT_TABLE,
  type CompiledNftRuleset, type NftCompileOptions, type SegmentsSnapshot,
} from '../segments/index.js';
import { createNftRunner, type NftRunner } from './nft-runner.js';
import { parseNftCounters, type NftCounters } from './nft-counters.js';

/** Reads the current source of truth (e.g. `() => segments.snapshot()`). A throw means "cannot read". */
export type SnapshotProvider = () => Promise<SegmentsSnapshot>;

export interface NetdChange {
  kind: string;
  subject: string;
}

/** Where changes come from (e.g. the store's ChangeFeed). Returns the unsubscribe function. */
export interface ChangeSubscription {
  subscribe(listener: (change: NetdChange) => void, onError?: (error: unknown) => void): () => void;
}

/** pino-compatible subset. */
export interface NetdLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface NetdOptions {
  snapshot: SnapshotProvider;
  changes?: ChangeSubscription;
  /** Run nft inside this network namespace. Ignored when `runner` is given. */
  netns?: string;
  /** argv of nft; default `['nft']`. Ignored when `runner` is given. */
  nftCommand?: readonly string[];
  runner?: NftRunner;
  /** Coalescing window after a change, ms; default 100. */
  debounceMs?: number;
  /** Full reconcile (re-read, verify the table is there, re-apply if needed), ms; default 30 000. 0 disables. */
  resyncIntervalMs?: number;
  /** Retry after a failed reconcile, ms; default 1000. */
  retryMs?: number;
  compile?: NftCompileOptions;
  logger?: NetdLogger;
  clock?: Clock;
  /** Which change kinds trigger a reconcile; default `segments.changed` and every `device.*`. */
  isRelevant?: (change: NetdChange) => boolean;
}

export interface NetdStatus {
  running: boolean;
  /** The last reconcile read the snapshot and the kernel holds its ruleset. */
  healthy: boolean;
  /** The kernel holds the lockdown ruleset (never had a good snapshot). */
  lockdown: boolean;
  command: readonly string[];
  applied: {
    sha256: string;
    at: string;
    rules: number;
    warnings: readonly string[];
    stats: CompiledNftRuleset['stats'];
  } | null;
  lastError: { at: string; message: string } | null;
  lastReconcileAt: string | null;
  applyCount: number;
  failureCount: number;
  pending: boolean;
  /** From the change that triggered it to the ruleset being in the kernel, ms. */
  lastChangeLatencyMs: number | null;
}

export interface ReconcileResult {
  outcome: 'applied' | 'unchanged' | 'failed';
  sha256: string | null;
  error?: string;
}

const stderrLogger: NetdLogger = {
  info: (o, m) => process.stderr.write(`${JSON.stringify({ level: 'info', component: 'netd', msg: m, ...o })}\n`),
  warn: (o, m) => process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'netd', msg: m, ...o })}\n`),
  error: (o, m) => process.stderr.write(`${JSON.stringify({ level: 'error', component: 'netd', msg: m, ...o })}\n`),
};

export function defaultIsRelevant(c: NetdChange): boolean {
  return c.kind === 'segments.changed' || c.kind.startsWith('device.');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Netd extends EventEmitter<{ applied: [ReconcileResult]; failed: [ReconcileResult] }> {
  readonly #snapshot: SnapshotProvider;
  readonly #changes: ChangeSubscription | undefined;
  readonly #runner: NftRunner;
  readonly #debounceMs: number;
  readonly #resyncMs: number;
  readonly #retryMs: number;
  readonly #compileOpts: NftCompileOptions;
  readonly #log: NetdLogger;
  readonly #clock: Clock;
  readonly #isRelevant: (c: NetdChange) => boolean;

  #running = false;
  #unsubscribe: (() => void) | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #inFlight: Promise<ReconcileResult> | undefined;
  #next: Promise<ReconcileResult> | undefined;
  #nextForce = false;
  /** performance.now() of the earliest change not yet applied. */
  #changeSince: number | undefined;
  #good: CompiledNftRuleset | undefined;
  #goodAt: string | null = null;
  #lockdown = false;
  #healthy = false;
  #lastError: { at: string; message: string } | null = null;
  #lastReconcileAt: string | null = null;
  #applyCount = 0;
  #failureCount = 0;
  #lastLatency: number | null = null;

  constructor(options: NetdOptions) {
    super();
    this.#snapshot = options.snapshot;
    this.#changes = options.changes;
    this.#runner = options.runner ?? createNftRunner({
      ...(options.netns === undefined ? {} : { netns: options.netns }),
      ...(options.nftCommand === undefined ? {} : { nftCommand: options.nftCommand }),
    });
    const ms = (v: number | undefined, d: number, name: string, min = 0): number => {
      const x = v ?? d;
      if (!Number.isInteger(x) || x < min || x > 3_600_000) throw new ZetaError('ZETA_ERR_CONFIG', `netd: ${name} must be an integer number of ms (${min}..3600000)`);
      return x;
    };
    this.#debounceMs = ms(options.debounceMs, 100, 'debounceMs');
    this.#resyncMs = ms(options.resyncIntervalMs, 30_000, 'resyncIntervalMs');
    this.#retryMs = ms(options.retryMs, 1000, 'retryMs', 10);
    this.#compileOpts = options.compile ?? {};
    this.#log = options.logger ?? stderrLogger;
    this.#clock = options.clock ?? systemClock;
    this.#isRelevant = options.isRelevant ?? defaultIsRelevant;
  }

  /** Applies the first ruleset (or the lockdown), then follows changes. Resolves after the first reconcile. */
  async start(): Promise<ReconcileResult> {
    if (this.#running) throw new ZetaError('ZETA_ERR_CONFLICT', 'netd is already running');
    this.#running = true;
    this.#unsubscribe = this.#changes?.subscribe(
      (c) => { if (this.#isRelevant(c)) this.notifyChange(); },
      (e) => {
        // The change source failing means changes may be missed: say so, and re-read now.
        this.#healthy = false;
        this.#lastError = { at: this.#clock.now().toISOString(), message: `change source: ${message(e)}` };
        this.#log.error({ err: message(e) }, 'netd: change source failed; re-reading the snapshot');
        this.notifyChange();
      },
    );
    if (this.#resyncMs > 0) {
      // Not unref()'d: a running netd keeps its process alive; stop() clears it.
      this.#resync = setInterval(() => void this.reconcile({ verify: true }), this.#resyncMs);
    }
    return this.reconcile({ force: true });
  }

  /** Stops following changes. The ruleset stays in the kernel (fail closed). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const t of [this.#debounce, this.#retry]) if (t !== undefined) clearTimeout(t);
    if (this.#resync !== undefined) clearInterval(this.#resync);
    this.#debounce = this.#retry = this.#resync = undefined;
    await this.#inFlight?.catch(() => undefined);
  }

  /** Something relevant changed: reconcile within the debounce window. */
  notifyChange(): void {
    if (!this.#running) return;
    this.#changeSince ??= performance.now();
    if (this.#debounce !== undefined) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.reconcile();
    }, this.#debounceMs);
  }

  /**
   * Reads, compiles and applies. `force` applies even if the compiled text equals what is applied
   * (which resets counters); `verify` checks that the table is still in the kernel and re-applies
   * if it is not. Concurrent calls are coalesced: one runs, the next runs once after it.
   */
  async reconcile(opts: { force?: boolean; verify?: boolean } = {}): Promise<ReconcileResult> {
    const inFlight = this.#inFlight;
    if (inFlight !== undefined) {
      // One follow-up run for everything that arrived meanwhile; callers get its fresh result.
      this.#nextForce ||= opts.force === true;
      this.#next ??= inFlight.then(() => {
        this.#next = undefined;
        const force = this.#nextForce;
        this.#nextForce = false;
        return this.reconcile({ force });
      });
      return this.#next;
    }
    const run = this.#reconcileOnce(opts).finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = run;
    return run;
  }

  async #reconcileOnce(opts: { force?: boolean; verify?: boolean }): Promise<ReconcileResult> {
    const changeSince = this.#changeSince;
    this.#changeSince = undefined;
    this.#lastReconcileAt = this.#clock.now().toISOString();
    let compiled: CompiledNftRuleset;
    try {
      compiled = compileNftRuleset(await this.#snapshot(), this.#compileOpts);
    } catch (e) {
      return this.#failed(`cannot read or compile the segments snapshot: ${message(e)}`, e, true);
    }
    if (!opts.force && this.#good?.sha256 === compiled.sha256 && !this.#lockdown) {
      if (!opts.verify || (await this.#tablePresent(compiled.rules.length))) {
        this.#succeeded(changeSince);
        return { outcome: 'unchanged', sha256: compiled.sha256 };
      }
      this.#log.warn({}, 'netd: table inet zeta is missing or altered in the kernel; re-applying');
    }
    const r = await this.#runner.run(['-f', '-'], compiled.text).catch((e: unknown) => ({ code: -1, stdout: '', stderr: message(e) }));
    if (r.code !== 0) {
      return this.#failed(`nft refused the ruleset (exit ${r.code}): ${r.stderr.trim().slice(0, 2000)}`, undefined, false);
    }
    this.#good = compiled;
    this.#goodAt = this.#clock.now().toISOString();
    this.#lockdown = false;
    this.#applyCount++;
    for (const w of compiled.warnings) this.#log.warn({ sha256: compiled.sha256 }, `netd: ${w}`);
    this.#log.info({ sha256: compiled.sha256, rules: compiled.rules.length, ...compiled.stats }, 'netd: ruleset applied');
    this.#succeeded(changeSince);
    const result: ReconcileResult = { outcome: 'applied', sha256: compiled.sha256 };
    this.emit('applied', result);
    return result;
  }

  #succeeded(changeSince: number | undefined): void {
    this.#healthy = true;
    this.#lastError = null;
    if (changeSince !== undefined) this.#lastLatency = Math.round(performance.now() - changeSince);
  }

  async #failed(why: string, cause: unknown, snapshotFailed: boolean): Promise<ReconcileResult> {
    this.#healthy = false;
    this.#failureCount++;
    this.#lastError = { at: this.#clock.now().toISOString(), message: why };
    const err = new ZetaError('ZETA_ERR_NFT_APPLY', why, { cause });
    this.#log.error({ code: err.code, kept: this.#good?.sha256 ?? (this.#lockdown ? 'lockdown' : null) }, `netd: ${why}; keeping the last good ruleset`);
    if (snapshotFailed && this.#good === undefined && !this.#lockdown) {
      const r = await this.#runner.run(['-f', '-'], renderLockdownRuleset(this.#compileOpts.priority ?? 0))
        .catch((e: unknown) => ({ code: -1, stdout: '', stderr: message(e) }));
      if (r.code === 0) {
        this.#lockdown = true;
        this.#log.error({}, 'netd: no good ruleset yet; lockdown ruleset loaded (all forwarded traffic dropped)');
      } else {
        this.#log.error({ stderr: r.stderr.trim().slice(0, 2000) }, 'netd: could not load the lockdown ruleset either');
      }
    }
    if (this.#running && this.#retry === undefined) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        void this.reconcile();
      }, this.#retryMs);
    }
    const result: ReconcileResult = { outcome: 'failed', sha256: this.#good?.sha256 ?? null, error: why };
    this.emit('failed', result);
    return result;
  }

  async #tablePresent(expectedRules: number): Promise<boolean> {
    try {
      return (await this.counters()).rules.length === expectedRules;
    } catch {
      return false;
    }
  }

  status(): NetdStatus {
    const g = this.#good;
    return {
      running: this.#running,
      healthy: this.#healthy,
      lockdown: this.#lockdown,
      command: this.#runner.command,
      applied: g === undefined || this.#goodAt === null ? null : { sha256: g.sha256, at: this.#goodAt, rules: g.rules.length, warnings: g.warnings, stats: g.stats },
      lastError: this.#lastError,
      lastReconcileAt: this.#lastReconcileAt,
      applyCount: this.#applyCount,
      failureCount: this.#failureCount,
      pending: this.#debounce !== undefined || this.#inFlight !== undefined,
      lastChangeLatencyMs: this.#lastLatency,
    };
  }

  /** The text of the last ruleset applied, for `zeta netd --show` and debugging. */
  appliedRuleset(): string | null {
    return this.#good?.text ?? null;
  }

  /** Per-rule and per-flow counters, read from the kernel. */
  async counters(): Promise<NftCounters> {
    const r = await this.#runner.run(['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
    if (r.code !== 0) throw new ZetaError('ZETA_ERR_NFT_APPLY', `cannot list table ${NFT_FAMILY} ${NFT_TABLE}: ${r.stderr.trim().slice(0, 500)}`);
    return parseNftCounters(r.stdout);
  }

  /** Removes Zeta's table (and only it). For uninstall and tests; netd never does this on its own. */
  async removeRuleset(): Promise<void> {
    const r = await this.#runner.run(['-f', '-'], renderRemoveRuleset());
    if (r.code !== 0) throw new ZetaError('ZETA_ERR_NFT_APPLY', `cannot remove table ${NFT_FAMILY} ${NFT_TABLE}: ${r.stderr.trim().slice(0, 500)}`);
    this.#good = undefined;
    this.#goodAt = null;
    this.#lockdown = false;
  }
}
