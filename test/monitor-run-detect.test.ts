/**
 * The offline replay's output contract (what `zeta detect` writes): one JSON line per input record,
 * in input order, `i` aligned with the records (malformed lines included), score in [0, 1], `alert`
 * only on the lines where one is raised.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isZetaError } from '../src/common/errors.js';
import { runDetect, simulateFleet, zeekTsvHeader, zeekTsvLine, type FlowRecord } from '../src/monitor/index.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'zeta-monitor-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface OutLine {
  i: number;
  key: string | null;
  score: number;
  alert?: { rule: string; key: string; summary: string; observed: object; baseline: object };
  notice?: object;
  error?: string;
  line?: number;
}

function readOut(path: string): OutLine[] {
  return readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as OutLine);
}

describe('runDetect', () => {
  it('Zeek TSV: one line per record in order, malformed lines aligned, alerts only where raised', async () => {
    const fleet = simulateFleet({ devices: 60, days: 0.25, seed: 11, attacksPerKind: 0, benign: false, quietMs: 0 });
    const flows: FlowRecord[] = [];
    for (const c of fleet.chunks()) for (const e of c) if (e.signal.kind === 'flow') flows.push(e.signal);
    const victim = fleet.devices.find((d) => d.type === 'camera');
    assert.ok(victim);
    const t = flows.at(-1)?.tsMs ?? 0;
    // A scan at the end, and three malformed lines at known places.
    for (let k = 0; k < 60; k++) flows.push({ ...(flows[0] as FlowRecord), tsMs: t + 1000 + k * 100, origH: victim.ip, respH: `10.99.0.${k + 1}`, respP: 23, connState: 'S0' });
    const lines = flows.map(zeekTsvLine);
    lines.splice(5, 0, 'this is not a conn.log line');
    lines.splice(100, 0, '1767600000.0\tCx\t10.0.0.1\t99999\t10.0.0.2\t80\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t40\t0\t0\t-');
    lines.push('{"ts": broken');
    const input = join(dir, 'conn.log');
    writeFileSync(input, zeekTsvHeader(fleet.startMs) + lines.join('\n') + '\n#close\t2026-03-02-06-00-00\n');
    const inventory = join(dir, 'inventory.json');
    writeFileSync(inventory, JSON.stringify({ devices: fleet.inventory, segments: fleet.segments }));
    const out = join(dir, 'out.jsonl');
    const r = await runDetect({ input, format: 'zeek-conn', out, inventory, warmup: 100 });
    const o = readOut(out);
    assert.deepEqual([r.records, r.malformed], [flows.length, 3]);
    assert.equal(o.length, lines.length);
    assert.deepEqual(o.map((x) => x.i), o.map((_, i) => i));
    for (const x of o) assert.ok(typeof x.score === 'number' && x.score >= 0 && x.score <= 1);
    assert.deepEqual(o.filter((x) => x.error !== undefined).map((x) => [x.i, x.key, x.score]), [[5, null, 0], [100, null, 0], [lines.length - 1, null, 0]]);
    assert.equal(o[5]?.line, 8 + 6, 'errors carry the 1-based input line number (8 header lines)');
    assert.equal(o.filter((x) => x.alert !== undefined).length, r.alerts);
    const scan = o.find((x) => x.alert?.rule === 'fan-out-hosts');
    assert.ok(scan, 'the scan is alerted');
    assert.equal(scan.key, victim.id);
    assert.equal(scan.alert?.key, victim.id);
    assert.ok(o.slice(0, 100).every((x) => x.alert === undefined), 'no alert during warmup');
    // Every non-malformed line's key is the inventory device of its orig_h.
    assert.equal(o[0]?.key, fleet.devices.find((d) => d.ip === flows[0]?.origH)?.id);
  });

  it('telemetry CSV and gateway JSON lines', async () => {
    const tin = join(dir, 't.csv');
    const rows = ['ts,device,metric,value'];
    for (let k = 0; k < 400; k++) for (let d = 0; d < 5; d++) rows.push(`${1767600000 + k * 10},therm-${d},temperature,${(21 + d * 0.5 + ((k * 7 + d) % 5) * 0.02).toFixed(2)}`);
    rows.push('1767604000,therm-2,temperature,35', 'x,y');
    writeFileSync(tin, rows.join('\r\n') + '\r\n');
    const r = await runDetect({ input: tin, format: 'telemetry', out: join(dir, 't.jsonl'), detector: { learnMs: 0, learnRecords: 0 } });
    const o = readOut(join(dir, 't.jsonl'));
    assert.deepEqual([r.records, r.malformed, o.length], [2001, 1, 2002]);
    assert.equal(o.at(-2)?.key, 'therm-2');
    assert.ok((o.at(-2)?.score ?? 0) > 0.5, 'the 35 °C reading scores high');
    assert.match(o.at(-1)?.error ?? '', /expected at least 4 columns/);

    const gin = join(dir, 'g.jsonl');
    const ev = (k: number, type: string, extra: object = {}): string => JSON.stringify({ type, at: new Date(1767600000000 + k * 1000).toISOString(), sessionId: k, clientAddress: '198.51.100.4', ...extra });
    writeFileSync(gin, [ev(0, 'connect', { deviceId: 'lock-1' }), ...Array.from({ length: 12 }, (_, k) => ev(k + 1, 'connect_refused', { reason: 'bad_certificate' })), '{}'].join('\n'));
    const g = await runDetect({ input: gin, format: 'gateway', out: join(dir, 'g-out.jsonl') });
    const go = readOut(join(dir, 'g-out.jsonl'));
    assert.deepEqual([g.records, g.malformed, g.alerts], [13, 1, 1]);
    assert.equal(go.find((x) => x.alert)?.alert?.rule, 'auth-failure-burst');
    assert.equal(go.find((x) => x.alert)?.key, '198.51.100.4');
  });

  it('an endless line is reported, not buffered; bad paths and formats are ZetaErrors', async () => {
    const big = join(dir, 'big.log');
    writeFileSync(big, '{"ts":1,' + 'x'.repeat(200_000) + '\n{"ts":1767600000,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2"}\n');
    const r = await runDetect({ input: big, format: 'zeek-conn', out: join(dir, 'big.jsonl') });
    assert.deepEqual([r.records, r.malformed], [1, 1]);
    assert.match(readOut(join(dir, 'big.jsonl'))[0]?.error ?? '', /longer than/);
    await assert.rejects(runDetect({ input: join(dir, 'nope'), format: 'zeek-conn', out: join(dir, 'x') }), (e) => isZetaError(e) && e.code === 'ZETA_ERR_SIGNAL_INPUT');
    await assert.rejects(runDetect({ input: big, format: 'pcap' as 'zeek-conn', out: join(dir, 'x') }), (e) => isZetaError(e) && e.code === 'ZETA_ERR_SIGNAL_INPUT');
    writeFileSync(join(dir, 'inv.json'), '{"devices":[{"id":1}]}');
    await assert.rejects(runDetect({ input: big, format: 'zeek-conn', out: join(dir, 'x'), inventory: join(dir, 'inv.json') }), (e) => isZetaError(e) && e.code === 'ZETA_ERR_SIGNAL_INPUT');
  });
});
