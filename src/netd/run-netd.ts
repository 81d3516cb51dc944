/**
 * The entry `zeta netd` calls: preflight (root, nft present), start, stop on the abort signal.
 * CLI-independent: the caller builds the snapshot provider and change subscription (normally from
 * Segments.snapshot() and the store's ChangeFeed, see `changeFeedSubscription`).
 */
import { ZetaError } from '../common/errors.js';
import { Netd, type ChangeSubscription, type NetdChange, type NetdOptions, type ReconcileResult } from './netd.js';
import { createNftRunner } from './nft-runner.js';

export interface RunNetdOptions extends NetdOptions {
  /** Stops netd when aborted. The ruleset stays in force unless `removeOnExit`. */
  signal?: AbortSignal;
  /** Remove `table inet zeta` on exit (development only: it ends enforcement). */
  removeOnExit?: boolean;
  /** Skip the root / nft checks (tests with an injected runner). */
  skipPreflight?: boolean;
}

export interface RunningNetd {
  netd: Netd;
  /** Result of the first reconcile (applied, or failed and fell back to the last good / lockdown). */
  first: ReconcileResult;
  /** Resolves once netd has stopped (after `signal` aborts). */
  done: Promise<void>;
}

/**
 * Anything with the ChangeFeed's event shape (`on('change')`, `on('error')`), so netd needs no
 * import of the store. Usage: `changes: changeFeedSubscription(feed)` after `await feed.start()`.
 */
export interface ChangeEmitter {
  on(event: 'change', listener: (c: NetdChange) => void): unknown;
  on(event: 'error', listener: (e: unknown) => void): unknown;
  off(event: 'change', listener: (c: NetdChange) => void): unknown;
  off(event: 'error', listener: (e: unknown) => void): unknown;
}

export function changeFeedSubscription(feed: ChangeEmitter): ChangeSubscription {
  return {
    subscribe(listener, onError) {
      const onChange = (c: NetdChange): void => listener({ kind: c.kind, subject: c.subject });
      const onErr = (e: unknown): void => onError?.(e);
      feed.on('change', onChange);
      feed.on('error', onErr);
      return () => {
        feed.off('change', onChange);
        feed.off('error', onErr);
      };
    },
  };
}

async function preflight(options: RunNetdOptions): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ZetaError('ZETA_ERR_CONFIG', 'netd must run as root (or with CAP_NET_ADMIN) to load nftables rules');
  }
  const runner = options.runner ?? createNftRunner({
    ...(options.netns === undefined ? {} : { netns: options.netns }),
    ...(options.nftCommand === undefined ? {} : { nftCommand: options.nftCommand }),
  });
  const r = await runner.run(['--version']);
  if (r.code !== 0) {
    throw new ZetaError('ZETA_ERR_CONFIG', `netd cannot run nft (${runner.command.join(' ')}): ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

export async function runNetd(options: RunNetdOptions): Promise<RunningNetd> {
  if (options.skipPreflight !== true) await preflight(options);
  const netd = new Netd(options);
  if (options.signal?.aborted === true) throw new ZetaError('ZETA_ERR_CONFLICT', 'netd: aborted before start');
  const first = await netd.start();
  // With resync disabled nothing else may hold the event loop open; `zeta netd` must stay up.
  const keepAlive = options.signal === undefined ? undefined : setInterval(() => undefined, 1 << 30);
  const done = new Promise<void>((resolve) => {
    const finish = (): void => {
      void (async () => {
        if (keepAlive !== undefined) clearInterval(keepAlive);
        await netd.stop();
        if (options.removeOnExit === true) await netd.removeRuleset().catch(() => undefined);
        resolve();
      })();
    };
    if (options.signal === undefined) return;
    if (options.signal.aborted) finish();
    else options.signal.addEventListener('abort', finish, { once: true });
  });
  return { netd, first, done };
}
