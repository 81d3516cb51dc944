/**
 * `zeta sim` in scale mode: a small simulated fleet through the real CLI writes the events (in the
 * formats `zeta detect` reads), the labels beside them, and a summary in which every attack kind
 * was detected; bad flags are refused before anything is written.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, zeta } from './helpers.js';
import { ATTACK_KINDS, BENIGN_KINDS } from '../src/monitor/index.js';
import type { ScaleSummary } from '../src/sim/index.js';

it('scale mode: a small fleet writes events and labels, and every attack kind is detected', async () => {
  const work = tempDir('zeta-simscale-');
  try {
    const out = join(work.path, 'run');
    // Midnight start: cohorts learn for 4 h before the first episode (lock events are diurnal).
    const r = await zeta(['sim', '--devices', '300', '--days', '0.5', '--attacks', '1', '--quiet-hours', '4', '--seed', '21', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sim/, 'a progress bar on stderr');
    const s = JSON.parse(r.stdout) as ScaleSummary;
    assert.equal(s.devices, 300);
    assert.ok(s.events > 100_000);
    // Labels: one line per episode, every attack kind and every benign change.
    const labels = readFileSync(join(out, 'labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; label: string; keys: string[]; start: string; end: string });
    assert.deepEqual(labels.filter((l) => l.label === 'attack').map((l) => l.kind).sort(), [...ATTACK_KINDS].sort());
    assert.deepEqual(labels.filter((l) => l.label === 'benign').map((l) => l.kind).sort(), [...BENIGN_KINDS].sort());
    for (const l of labels) assert.ok(Date.parse(l.end) > Date.parse(l.start) && l.keys.length > 0 === (l.label === 'attack' || l.kind === 'late-join'));
    // Every attack kind found, within 60 s of becoming detectable.
    for (const k of ATTACK_KINDS) {
      const f = s.evaluation.perKind[k];
      assert.equal(f.detected, f.episodes, `${k}: ${JSON.stringify(f)}`);
      assert.equal(f.within60s, f.episodes, `${k} within 60 s: ${JSON.stringify(f)}`);
    }
    assert.ok(s.evaluation.falseAlerts <= 1, JSON.stringify(s.evaluation.falseAlertsByRule));
    assert.ok(s.rocAuc > 0.9, String(s.rocAuc));
    assert.ok(s.cohortNotices >= 1, 'benign change surfaces as cohort notices');
    // The events are in the formats `zeta detect` reads, and alerts name labelled keys.
    for (const f of ['flows.zeek.jsonl', 'telemetry.jsonl', 'gateway.jsonl', 'alerts.jsonl', 'summary.json', 'inventory.json']) assert.ok(existsSync(join(out, f)), f);
    const sample = join(work.path, 'sample.jsonl');
    writeFileSync(sample, readFileSync(join(out, 'gateway.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
    const d = await zeta(['detect', '--input', sample, '--format', 'gateway', '--out', join(work.path, 'scored.jsonl'), '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.equal((JSON.parse(d.stdout) as { malformed: number }).malformed, 0);
    const attacked = new Set(labels.flatMap((l) => l.keys));
    const alerts = readFileSync(join(out, 'alerts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; key?: string });
    assert.ok(alerts.filter((a) => a.level === 'device').every((a) => attacked.has(a.key ?? '') || s.evaluation.falseAlerts > 0));
  } finally {
    work.cleanup();
  }
});

it('scale mode refuses bad flags before writing anything', async () => {
  const work = tempDir('zeta-simscale-');
  try {
    for (const bad of [['--devices', '5'], ['--devices', '2000000'], ['--days', 'x'], ['--attacks', '-1'], ['--mode', 'fast']]) {
      const out = join(work.path, bad.join(''));
      const r = await zeta(['sim', ...bad, '--out', out, '--json']);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /ZETA_ERR_VALIDATION/);
      assert.ok(!existsSync(out) || readdirSync(out).length === 0, `nothing written for ${bad.join(' ')}`);
    }
  } finally {
    work.cleanup();
  }
});
