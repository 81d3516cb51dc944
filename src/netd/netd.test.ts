/**
 * netd against a fake nft: scheduling (debounce, coalescing), fail-closed behaviour, status and
 * counters. The real kernel path is test/netd-namespaces.test.ts.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SegmentsSnapshot } from '../segments/index.js';
import { Netd, runNetd, nftCommandFor, parseNftCounters, type NetdChange, type NetdLogger, type NftRunner } from './index.js';

function fakeRunner(failApply = false): NftRunner & { applied: string[]; calls: string[][]; fail: boolean } {
  const r = {
    command: ['nft'] as const,
    applied: [] as string[],
    calls: [] as string[][],
    fail: failApply,
    run(args: readonly string[], stdin?: string) {
      r.calls.push([...args]);
      if (args[0] === '-f') {
        if (r.fail) return Promise.resolve({ code: 1, stdout: '', stderr: 'Error: Could not process rule: No such file or directory' });
        r.applied.push(stdin ?? '');
      }
      if (args[0] === '-j') {
        return Promise.resolve({ code: 0, stdout: JSON.stringify({ nftables: [{ rule: { family: 'inet', table: 'zeta', chain: 'forward', handle: 7, comment: 'flow:fl-a v4', expr: [{ counter: { packets: 3, bytes: 180 } }, { accept: null }] } }] }), stderr: '' });
      }
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    },
  };
  return r;
}

const quietLog = (): NetdLogger & { errors: string[] } => {
  const errors: string[] = [];
  return { errors, info: () => undefined, warn: () => undefined, error: (_o, m) => { errors.push(m); } };
};

function snap(state = 'active'): SegmentsSnapshot {
  return {
    segments: [{ name: 'cameras', kind: 'type', description: null, builtin: false, createdAt: '' }],
    services: [],
    flows: [],
    devices: [{ id: 'cam-1', type: 'camera', segment: 'cameras', state, addresses: ['10.0.0.2'] }],
  };
}

function changes(): { emit: (c: NetdChange) => void; subscribe: (l: (c: NetdChange) => void) => () => void } {
  let listener: ((c: NetdChange) => void) | undefined;
  return {
    emit: (c) => listener?.(c),
    subscribe: (l) => { listener = l; return () => { listener = undefined; }; },
  };
}

describe('netd', () => {
  // A failed assertion must not leave retry timers holding the test process open.
  const started: Netd[] = [];
  const track = (n: Netd): Netd => { started.push(n); return n; };
  afterEach(async () => { for (const n of started.splice(0)) await n.stop(); });

  it('applies at start, then once per debounce window however many changes arrive', async () => {
    const runner = fakeRunner();
    let state = 'active';
    const feed = changes();
    const netd = track(new Netd({ snapshot: () => Promise.resolve(snap(state)), changes: feed, runner, debounceMs: 30, resyncIntervalMs: 0, logger: quietLog() }));
    assert.equal((await netd.start()).outcome, 'applied');
    assert.equal(runner.applied.length, 1);
    assert.match(runner.applied[0]!, /^table inet zeta$/m);
    state = 'quarantined';
    const applied = new Promise((resolve) => netd.once('applied', resolve));
    for (let i = 0; i < 5; i++) feed.emit({ kind: i % 2 === 0 ? 'device.state' : 'segments.changed', subject: 'cam-1' });
    feed.emit({ kind: 'policy.changed', subject: '*' });
    await applied;
    assert.equal(runner.applied.length, 2, 'coalesced');
    assert.match(runner.applied[1]!, /set seg_quarantine_v4 \{[^}]*elements = \{ 10\.0\.0\.2 \}/);
    const st = netd.status();
    assert.equal(st.healthy, true);
    assert.ok(st.lastChangeLatencyMs !== null && st.lastChangeLatencyMs < 1000);
    await netd.stop();
    feed.emit({ kind: 'device.state', subject: 'cam-1' });
    await sleep(60);
    assert.equal(runner.applied.length, 2, 'no applies after stop');
  });

  it('does not re-apply an identical ruleset (counters survive)', async () => {
    const runner = fakeRunner();
    const netd = track(new Netd({ snapshot: () => Promise.resolve(snap()), runner, resyncIntervalMs: 0, logger: quietLog() }));
    await netd.start();
    assert.equal((await netd.reconcile()).outcome, 'unchanged');
    assert.equal((await netd.reconcile({ force: true })).outcome, 'applied');
    assert.equal(runner.applied.length, 2);
    await netd.stop();
  });

  it('fails closed: snapshot unreadable at start → lockdown; later → keeps the last good ruleset', async () => {
    const runner = fakeRunner();
    const log = quietLog();
    let broken = true;
    const netd = track(new Netd({
      snapshot: () => (broken ? Promise.reject(new Error('database is unavailable')) : Promise.resolve(snap())),
      runner, resyncIntervalMs: 0, retryMs: 20, logger: log,
    }));
    const first = await netd.start();
    assert.equal(first.outcome, 'failed');
    assert.match(runner.applied[0]!, /policy drop;\n\t\tcounter drop comment "zeta:lockdown"/);
    assert.deepEqual([netd.status().healthy, netd.status().lockdown], [false, true]);
    assert.match(netd.status().lastError?.message ?? '', /database is unavailable/);
    broken = false;
    await new Promise((resolve) => netd.once('applied', resolve)); // the retry
    assert.deepEqual([netd.status().healthy, netd.status().lockdown], [true, false]);
    const good = runner.applied.at(-1);

    broken = true;
    const r = await netd.reconcile({ force: true });
    assert.equal(r.outcome, 'failed');
    assert.equal(runner.applied.at(-1), good, 'nothing else was loaded');
    assert.equal(netd.appliedRuleset(), good);
    assert.equal(netd.status().healthy, false);
    assert.ok(log.errors.some((m) => /keeping the last good ruleset/.test(m)));
    await netd.stop();
  });

  it('reports nft refusing a ruleset, and retries', async () => {
    const runner = fakeRunner(true);
    const netd = track(new Netd({ snapshot: () => Promise.resolve(snap()), runner, resyncIntervalMs: 0, retryMs: 20, logger: quietLog() }));
    const r = await netd.start();
    assert.equal(r.outcome, 'failed');
    assert.match(r.error ?? '', /nft refused the ruleset \(exit 1\): Error: Could not process rule/);
    assert.equal(netd.status().failureCount, 1);
    runner.fail = false;
    await new Promise((resolve) => netd.once('applied', resolve));
    assert.equal(netd.status().healthy, true);
    await netd.stop();
  });

  it('reads per-rule and per-flow counters', async () => {
    const runner = fakeRunner();
    const netd = track(new Netd({ snapshot: () => Promise.resolve(snap()), runner, resyncIntervalMs: 0, logger: quietLog() }));
    const c = await netd.counters();
    assert.deepEqual(runner.calls.at(-1), ['-j', 'list', 'table', 'inet', 'zeta']);
    assert.deepEqual(c.rules, [{ chain: 'forward', handle: 7, comment: 'flow:fl-a v4', flowId: 'fl-a', packets: 3, bytes: 180 }]);
    assert.deepEqual({ ...c.flows }, { 'fl-a': { packets: 3, bytes: 180 } });
    const other = parseNftCounters(JSON.stringify({ nftables: [{ rule: { family: 'ip', table: 'filter', chain: 'x', handle: 1, expr: [] } }, { rule: { family: 'inet', table: 'zeta', chain: 'forward', handle: 2, comment: 'zeta:default-drop', expr: [{ counter: { packets: 9, bytes: 900 } }] } }] }));
    assert.deepEqual([other.rules.length, { ...other.fixed }], [1, { 'zeta:default-drop': { packets: 9, bytes: 900 } }]);
  });

  it('builds the nft argv without a shell, optionally inside a network namespace', () => {
    assert.deepEqual(nftCommandFor(), ['nft']);
    assert.deepEqual(nftCommandFor({ netns: 'zt42-gw' }), ['ip', 'netns', 'exec', 'zt42-gw', 'nft']);
    assert.throws(() => nftCommandFor({ netns: 'gw; rm -rf /' }), /not valid/);
    assert.throws(() => nftCommandFor({ nftCommand: [] }), /non-empty/);
  });

  it('runNetd starts, and stops on abort leaving the ruleset (or removing it when asked)', async () => {
    const runner = fakeRunner();
    const ac = new AbortController();
    const { netd, first, done } = await runNetd({ snapshot: () => Promise.resolve(snap()), runner, resyncIntervalMs: 0, logger: quietLog(), signal: ac.signal, removeOnExit: true, skipPreflight: true });
    assert.equal(first.outcome, 'applied');
    ac.abort();
    await done;
    assert.equal(netd.status().running, false);
    assert.match(runner.applied.at(-1)!, /^table inet zeta\ndelete table inet zeta\n$/);
  });
});
