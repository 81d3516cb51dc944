/** `zeta detect` as a user runs it: a Zeek conn.log in, one JSON line per record out, in order. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, zeta } from './helpers.js';

it('zeta detect scores a Zeek conn.log, flags a port scan, and keeps indexes aligned with bad lines', async () => {
  const d = tempDir('zeta-detect-');
  try {
    const lines: string[] = [];
    let t = 1_700_000_000;
    // A quiet camera talking to its recorder, then a burst to many hosts and ports (scanning).
    for (let i = 0; i < 400; i++) lines.push(JSON.stringify({ ts: t += 5, uid: `C${i}`, 'id.orig_h': '10.1.0.7', 'id.orig_p': 40000 + i, 'id.resp_h': '10.9.0.10', 'id.resp_p': 554, proto: 'tcp', duration: 4.8, orig_bytes: 1200, resp_bytes: 900000, conn_state: 'SF', orig_pkts: 40, resp_pkts: 700 }));
    lines.push('this line is not JSON');
    for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ ts: t += 0.01, uid: `S${i}`, 'id.orig_h': '10.1.0.7', 'id.orig_p': 50000 + i, 'id.resp_h': `10.2.${i % 250}.${(i * 7) % 250}`, 'id.resp_p': [22, 23, 2323, 80, 8080][i % 5], proto: 'tcp', duration: 0.001, orig_bytes: 0, resp_bytes: 0, conn_state: 'S0', orig_pkts: 1, resp_pkts: 0 }));
    const input = join(d.path, 'conn.log.json');
    const out = join(d.path, 'scores.jsonl');
    writeFileSync(input, lines.join('\n') + '\n');
    const r = await zeta(['detect', '--input', input, '--format', 'zeek-conn', '--out', out, '--warmup', '200', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const summary = JSON.parse(r.stdout) as { records: number; malformed: number; alerts: number };
    assert.equal(summary.malformed, 1);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { i: number; key: string; score: number; alert?: { rule?: string } });
    assert.equal(rows.length, lines.length);
    rows.forEach((row, i) => {
      assert.equal(row.i, i);
      assert.ok(row.score >= 0 && row.score <= 1);
    });
    assert.ok(rows.slice(0, 200).every((row) => row.alert === undefined), 'no alerts during warm-up');
    assert.ok(rows.slice(401).some((row) => row.alert !== undefined), 'the scan raises an alert');
    const bad = await zeta(['detect', '--input', join(d.path, 'missing'), '--format', 'zeek-conn', '--out', out, '--json']);
    assert.notEqual(bad.code, 0);
  } finally {
    d.cleanup();
  }
});
