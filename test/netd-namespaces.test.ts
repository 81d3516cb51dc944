/**
 * netd on a real kernel: four network namespaces, a gateway routing between segment subnets, and
 * real TCP traffic over IPv4 and IPv6. Needs root and `ip netns` (CI runs as root): without them
 * this test FAILS with the reason; it never skips.
 *
 *   zt<pid>-cam  10.71.1.2 fd71:1::2 ──┐
 *   zt<pid>-plc  10.71.2.2 fd71:2::2 ──┼── zt<pid>-gw (forwarding; netd's `table inet zeta` lives here)
 *   zt<pid>-srv  10.71.3.2 fd71:3::2 ──┘   srv listens on tcp/554 (video-recorder), tcp/8443 (remediation)
 *
 * Steps, in order: baseline routing → netd applies → allowed flow passes (v4, v6) → denied flow is
 * dropped (v4, v6) → counters → quarantine through the inventory cuts the camera off (an open
 * connection too) within one second, leaving only remediation → resume → an unreadable snapshot
 * keeps the last good ruleset.
 *
 * Teardown always runs (after hook + exit handler) and deletes the namespaces, which takes their
 * veths and nft state with them; leftovers of crashed earlier runs (`zt<pid>-*` whose pid is gone)
 * are swept first.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { systemClock } from '../src/common/clock.js';
import { Store, ChangeFeed } from '../src/store/index.js';
import { AuditLog } from '../src/audit/index.js';
import { Inventory } from '../src/inventory/index.js';
import { Segments, type SegmentsSnapshot } from '../src/segments/index.js';
import { Netd, changeFeedSubscription, type NetdLogger } from '../src/netd/index.js';

const execFileP = promisify(execFile);
const PREFIX = `zt${process.pid}-`;
const NS = { gw: `${PREFIX}gw`, cam: `${PREFIX}cam`, plc: `${PREFIX}plc`, srv: `${PREFIX}srv` } as const;
const HOSTS = [['cam', 1], ['plc', 2], ['srv', 3]] as const;
const LEFTOVER = /^zt(\d+)-(gw|cam|plc|srv)$/;

async function ip(...args: string[]): Promise<string> {
  try {
    return (await execFileP('ip', args)).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Synchronous so it can also run from an exit handler. */
function removeNamespaces(names: Iterable<string>): void {
  for (const n of names) {
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** Namespaces of earlier runs whose test process is gone; their agents (if any survived) go first. */
function sweepLeftovers(): void {
  const stale = netnsNames().filter((n) => {
    const m = LEFTOVER.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  for (const n of stale) {
    const pids = execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).split('\n').filter((p) => /^\d+$/.test(p));
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
  removeNamespaces(stale);
}

// A small agent inside a namespace: JSON lines in, JSON lines out. Plain JS so it starts fast.
const AGENT = String.raw`
const net = require('node:net');
const rl = require('node:readline').createInterface({ input: process.stdin });
const held = new Map();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
if (process.env.LISTEN) {
  for (const port of process.env.LISTEN.split(',')) {
    net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen({ port: Number(port), host: '::', ipv6Only: false }, () => out({ listening: Number(port) }));
  }
}
// The test process holds our stdin: when it goes (even by SIGKILL), so do we.
rl.on('close', () => process.exit(0));
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.op === 'connect' || m.op === 'open') {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host: m.host, port: m.port });
    const timer = setTimeout(() => { s.destroy(); out({ id: m.id, ok: false, error: 'timeout' }); }, m.timeoutMs);
    s.on('connect', () => {
      clearTimeout(timer);
      out({ id: m.id, ok: true, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      if (m.op === 'open') { held.set(m.key, s); s.setNoDelay(true); } else s.destroy();
    });
    s.on('error', (e) => { clearTimeout(timer); if (!held.has(m.key)) out({ id: m.id, ok: false, error: e.code || e.message }); });
  } else if (m.op === 'echo') {
    const s = held.get(m.key);
    if (!s) return out({ id: m.id, ok: false, error: 'no such connection' });
    const timer = setTimeout(() => { s.removeListener('data', onData); out({ id: m.id, ok: false, error: 'timeout' }); }, m.timeoutMs);
    const onData = () => { clearTimeout(timer); s.removeListener('data', onData); out({ id: m.id, ok: true }); };
    s.on('data', onData);
    s.write('x');
  }
});
`;

interface ProbeResult { id: number; ok: boolean; ms?: number; error?: string }

class Agent {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting = new Map<number, (r: ProbeResult) => void>();
  #next = 1;
  readonly ready: Promise<void>;

  constructor(ns: string, listen: number[] = []) {
    this.#child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', AGENT], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LISTEN: listen.join(',') },
    });
    let pending = listen.length;
    let readyResolve: () => void = () => undefined;
    this.ready = new Promise((resolve) => { readyResolve = resolve; });
    if (pending === 0) readyResolve();
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as ProbeResult & { listening?: number };
      if (m.listening !== undefined) {
        if (--pending === 0) readyResolve();
        return;
      }
      this.#waiting.get(m.id)?.(m);
      this.#waiting.delete(m.id);
    });
  }

  #ask(msg: Record<string, unknown>): Promise<ProbeResult> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
  }

  connect(host: string, port: number, timeoutMs = 300): Promise<ProbeResult> {
    return this.#ask({ op: 'connect', host, port, timeoutMs });
  }

  open(key: string, host: string, port: number): Promise<ProbeResult> {
    return this.#ask({ op: 'open', key, host, port, timeoutMs: 1000 });
  }

  echo(key: string, timeoutMs = 300): Promise<ProbeResult> {
    return this.#ask({ op: 'echo', key, timeoutMs });
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

const quietLogger = (): NetdLogger & { lines: string[] } => {
  const lines: string[] = [];
  const log = (level: string) => (o: Record<string, unknown>, m: string): void => { lines.push(`${level} ${m} ${JSON.stringify(o)}`); };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
};

describe('netd in network namespaces (real nftables, real traffic)', { timeout: 60_000 }, () => {
  const agents: Agent[] = [];
  let dataDir = '';
  let store: Store | undefined;
  let feed: ChangeFeed | undefined;
  let netd: Netd | undefined;
  let inventory: Inventory;
  let segments: Segments;
  let cam: Agent;
  let snapshotBroken = false;
  const logger = quietLogger();
  const onExit = (): void => removeNamespaces(Object.values(NS));

  before(async () => {
    // INVARIANT: never skip. Without root or `ip netns` this must fail, loudly.
    assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, nftables); CI runs it as root');
    try {
      netnsNames();
      execFileSync('nft', ['--version'], { stdio: 'ignore' });
    } catch (e) {
      assert.fail(`ip netns / nft unavailable: ${(e as Error).message}. Install iproute2 and nftables; this test must not be skipped.`);
    }
    process.on('exit', onExit);
    sweepLeftovers();
    removeNamespaces(Object.values(NS));

    for (const ns of Object.values(NS)) {
      await ip('netns', 'add', ns);
      // No duplicate address detection on these private links: link-local addresses (which
      // neighbour discovery uses) are usable at once instead of after a second or two.
      await execFileP('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    }
    await ip('-n', NS.gw, 'link', 'set', 'lo', 'up');
    for (const [h, i] of HOSTS) {
      const ns = NS[h];
      const gwIf = `v${h}`;
      await ip('-n', NS.gw, 'link', 'add', gwIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await ip('-n', NS.gw, 'addr', 'add', `10.71.${i}.1/24`, 'dev', gwIf);
      await ip('-n', NS.gw, '-6', 'addr', 'add', `fd71:${i}::1/64`, 'dev', gwIf, 'nodad');
      await ip('-n', NS.gw, 'link', 'set', gwIf, 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'addr', 'add', `10.71.${i}.2/24`, 'dev', 'eth0');
      await ip('-n', ns, '-6', 'addr', 'add', `fd71:${i}::2/64`, 'dev', 'eth0', 'nodad');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'route', 'add', 'default', 'via', `10.71.${i}.1`);
      await ip('-n', ns, '-6', 'route', 'add', 'default', 'via', `fd71:${i}::1`);
    }
    // Forwarding in the gateway namespace only; the host's sysctls are untouched.
    await execFileP('ip', ['netns', 'exec', NS.gw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);

    const srv = new Agent(NS.srv, [554, 8443]);
    const plc = new Agent(NS.plc, [502]);
    cam = new Agent(NS.cam);
    agents.push(srv, plc, cam);
    await Promise.all(agents.map((a) => a.ready));

    dataDir = mkdtempSync(join(tmpdir(), 'zeta-netd-ns-'));
    store = await Store.open({ dataDir, databaseUrl: 'sqlite' });
    const audit = new AuditLog(store, { dataDir, clock: systemClock });
    inventory = new Inventory(store, audit, systemClock, { enrollmentTokenTtlHours: 1 });
    segments = new Segments(store, audit, systemClock);
    await segments.addSegment({ name: 'cameras', kind: 'type' }, 'test');
    await segments.addSegment({ name: 'plcs', kind: 'function' }, 'test');
    await segments.addService({ name: 'video-recorder', addresses: ['10.71.3.2', 'fd71:3::2'], protocol: 'tcp', ports: [554] }, 'test');
    await segments.addService({ name: 'remediation', addresses: ['10.71.3.2', 'fd71:3::2'], protocol: 'tcp', ports: [8443], role: 'remediation' }, 'test');
    await segments.addFlow({ id: 'fl-rtsp', from: 'cameras', toService: 'video-recorder' }, 'test');
    await segments.addFlow({ id: 'fl-fix', from: 'quarantine', toService: 'remediation' }, 'test');
    await inventory.add({ id: 'cam-1', name: 'Gate camera', type: 'camera', segment: 'cameras' }, 'test');
    await inventory.add({ id: 'plc-1', name: 'Line PLC', type: 'plc', segment: 'plcs' }, 'test');
    await segments.setDeviceAddresses('cam-1', ['10.71.1.2', 'fd71:1::2'], 'test');
    await segments.setDeviceAddresses('plc-1', ['10.71.2.2', 'fd71:2::2'], 'test');
    feed = new ChangeFeed(store, 50);
    await feed.start();
  });

  after(async () => {
    for (const a of agents) a.kill();
    await netd?.stop().catch(() => undefined);
    feed?.stop();
    await store?.close().catch(() => undefined);
    removeNamespaces(Object.values(NS));
    process.removeListener('exit', onExit);
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
    const left = netnsNames().filter((n) => n.startsWith(PREFIX));
    assert.deepEqual(left, [], 'namespaces removed');
  });

  it('routes between segments before netd runs (baseline)', async () => {
    // Links settle within milliseconds; allow a second so a slow CI host does not flake here.
    for (const [host, port] of [['10.71.2.2', 502], ['fd71:2::2', 502], ['10.71.3.2', 554], ['fd71:3::2', 554]] as const) {
      let r = await cam.connect(host, port);
      for (let i = 0; i < 5 && !r.ok; i++) r = await cam.connect(host, port);
      assert.equal(r.ok, true, `cam → ${host}:${port} routes when nothing enforces (${r.error ?? ''})`);
    }
  });

  it('applies the compiled ruleset inside the gateway namespace', async () => {
    netd = new Netd({
      snapshot: (): Promise<SegmentsSnapshot> => (snapshotBroken ? Promise.reject(new Error('store unavailable (test)')) : segments.snapshot()),
      changes: changeFeedSubscription(feed!),
      netns: NS.gw,
      debounceMs: 50,
      resyncIntervalMs: 0,
      retryMs: 5000,
      logger,
    });
    const r = await netd.start();
    assert.equal(r.outcome, 'applied', logger.lines.join('\n'));
    assert.deepEqual(netd.status().command, ['ip', 'netns', 'exec', NS.gw, 'nft']);
    const listed = execFileSync('ip', ['netns', 'exec', NS.gw, 'nft', 'list', 'tables'], { encoding: 'utf8' });
    assert.deepEqual(listed.trim().split('\n'), ['table inet zeta']);
  });

  it('lets the allowed flow through: camera → video-recorder tcp/554, IPv4 and IPv6', async () => {
    assert.equal((await cam.connect('10.71.3.2', 554)).ok, true);
    assert.equal((await cam.connect('fd71:3::2', 554)).ok, true);
  });

  it('drops what no flow allows: camera → PLC, camera → remediation port', async () => {
    for (const [host, port] of [['10.71.2.2', 502], ['fd71:2::2', 502], ['10.71.3.2', 8443], ['fd71:3::2', 8443]] as const) {
      const r = await cam.connect(host, port);
      assert.deepEqual([r.ok, r.error], [false, 'timeout'], `${host}:${port} must be silently dropped`);
    }
  });

  it('counts per flow and per default drop', async () => {
    const c = await netd!.counters();
    assert.ok((c.flows['fl-rtsp']?.packets ?? 0) >= 2, JSON.stringify(c.flows));
    assert.ok((c.fixed['zeta:default-drop']?.packets ?? 0) >= 4, JSON.stringify(c.fixed));
    assert.ok(c.rules.every((r) => r.comment !== ''));
  });

  it('cuts a quarantined camera off within one second, open connections included; only remediation remains', async (t) => {
    assert.equal((await cam.open('rtsp', '10.71.3.2', 554)).ok, true);
    assert.equal((await cam.echo('rtsp')).ok, true, 'open connection works before');
    const applied = new Promise<number>((resolve) => netd!.once('applied', () => resolve(performance.now())));
    const t0 = performance.now();
    await inventory.quarantine('cam-1', 'test', 'suspicious scan');
    let cutAt: number | undefined;
    while (performance.now() - t0 < 3000) {
      const r = await cam.connect('10.71.3.2', 554, 100);
      if (!r.ok) { cutAt = performance.now(); break; }
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(cutAt !== undefined, 'camera was not cut off within 3 s');
    const ruleAt = await applied;
    const ms = Math.round(ruleAt - t0);
    t.diagnostic(`quarantine: ruleset applied ${ms} ms after the inventory change; traffic observed cut at ${Math.round(cutAt - t0)} ms (netd change→apply ${netd!.status().lastChangeLatencyMs} ms)`);
    assert.ok(ms < 1000, `applied after ${ms} ms`);
    assert.ok(cutAt - t0 < 1000 + 100, `cut after ${Math.round(cutAt - t0)} ms`);
    assert.equal((await cam.echo('rtsp')).ok, false, 'the established connection is cut too');
    assert.equal((await cam.connect('fd71:3::2', 554)).ok, false);
    assert.equal((await cam.connect('10.71.3.2', 8443)).ok, true, 'remediation is reachable over IPv4');
    assert.equal((await cam.connect('fd71:3::2', 8443)).ok, true, 'and IPv6');
    assert.equal((await cam.connect('10.71.2.2', 502)).ok, false);
  });

  it('restores the camera\'s flows when it is resumed', async () => {
    const applied = new Promise((resolve) => netd!.once('applied', resolve));
    await inventory.resume('cam-1', 'test');
    await applied;
    assert.equal((await cam.connect('10.71.3.2', 554)).ok, true);
    assert.equal((await cam.connect('10.71.3.2', 8443)).ok, false);
  });

  it('fails closed: an unreadable snapshot keeps the last good ruleset and reports unhealthy', async () => {
    snapshotBroken = true;
    const r = await netd!.reconcile({ force: true });
    assert.equal(r.outcome, 'failed');
    assert.equal(netd!.status().healthy, false);
    assert.ok(logger.lines.some((l) => /^error netd: cannot read or compile the segments snapshot: store unavailable \(test\); keeping the last good ruleset/.test(l)));
    assert.equal((await cam.connect('10.71.2.2', 502)).ok, false, 'still dropping');
    assert.equal((await cam.connect('10.71.3.2', 554)).ok, true, 'still allowing the last good flows');
    snapshotBroken = false;
    assert.equal((await netd!.reconcile()).outcome, 'unchanged');
    assert.equal(netd!.status().healthy, true);
  });
});
