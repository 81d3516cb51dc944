/**
 * End to end on the simulated fleet (src/monitor/sim.ts): every attack type is detected, benign
 * change (roll-out, outage, reboot storm, late joiners) raises cohort notices rather than
 * per-device alerts. The full-size figures are in bench/detect.ts; this is the regression guard.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTACK_KINDS, Detector, RULE_IDS, simulateFleet, type Alert } from '../src/monitor/index.js';

it('detects every attack episode in a simulated half day, with few false alerts', () => {
  // The sim starts at midnight: lock events (a diurnal topic) first appear in the morning, so the
  // cohorts learn for 3 h (in production: at least one daily cycle) and attacks start after 4 h.
  const fleet = simulateFleet({ devices: 300, days: 0.5, seed: 21, attacksPerKind: 1, benign: true, quietMs: 4 * 3600_000 });
  const d = new Detector({ devices: fleet.inventory, segments: fleet.segments, learnMs: 3 * 3600_000 });
  const alerts: Alert[] = [];
  let notices = 0;
  for (const chunk of fleet.chunks()) {
    for (const e of chunk) {
      const v = d.process(e.signal);
      assert.ok(v.score >= 0 && v.score <= 1);
      if (v.alert) alerts.push(v.alert);
      if (v.notice) notices++;
    }
  }
  const attacks = fleet.episodes.filter((e) => e.label === 'attack');
  assert.equal(attacks.length, ATTACK_KINDS.length);
  const hit = (a: Alert): boolean => attacks.some((e) => e.keys.includes(a.key) && a.atMs >= e.startMs && a.atMs <= e.endMs + 300_000);
  const missed = attacks.filter((e) => !alerts.some((a) => e.keys.includes(a.key) && a.atMs >= e.startMs && a.atMs <= e.endMs + 300_000));
  assert.deepEqual(missed.map((e) => e.kind), []);
  const falseAlerts = alerts.filter((a) => !hit(a));
  assert.ok(falseAlerts.length <= 1, JSON.stringify(falseAlerts.map((a) => [a.key, a.rule, a.at])));
  assert.ok(notices >= 1, 'benign changes surface as cohort notices');
});

it('every rule id is documented in src/monitor/README.md', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'src', 'monitor', 'README.md'), 'utf8');
  for (const id of RULE_IDS) assert.ok(readme.includes(`\`${id}\``), id);
});
