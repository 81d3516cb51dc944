import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CAMS, T0, detector, flow, gw, normal, run, tel } from './test-fixtures.js';
import { topicPattern } from './detector.js';
import type { Signal } from './signals.js';

const WARM = 20; // minutes of normal behaviour before each injection
const AT = T0 + WARM * 60_000;

/** Normal traffic for WARM + 8 minutes (longer than every hold) with `inject` mixed in; returns the alerts by rule. */
function scenario(inject: Signal[], o: Parameters<typeof detector>[0] = {}) {
  const d = detector(o);
  const r = run(d, [...normal(T0, WARM + 8), ...inject]);
  for (const v of r.verdicts) assert.ok(v.score >= 0 && v.score <= 1, `score ${v.score} out of [0,1]`);
  return { ...r, rules: new Set(r.alerts.map((a) => a.rule)), d };
}

describe('Detector rules', () => {
  it('raises nothing on normal behaviour', () => {
    const r = scenario([]);
    assert.deepEqual(r.alerts, []);
    assert.deepEqual(r.notices, []);
  });

  it('refused-connect-burst', () => {
    const inj = Array.from({ length: 30 }, (_, i) => flow(AT + i * 1500, '10.1.0.3', '52.0.0.1', 8443, { connState: 'REJ', history: 'Sr', origBytes: 0, respBytes: 0 }));
    const r = scenario(inj);
    const a = r.alerts.find((x) => x.rule === 'refused-connect-burst');
    assert.ok(a, JSON.stringify(r.alerts));
    assert.equal(a.key, 'cam-2');
    assert.equal(a.cohort, 'camera');
    assert.ok(Number(a.observed['failedPer60s']) >= 12);
    assert.equal(a.baseline['thresholdPer60s'], 12);
    assert.match(a.summary, /refused or unanswered/);
  });

  it('auth-failure-burst from flows (ssh brute force)', () => {
    const inj = Array.from({ length: 40 }, (_, i) => flow(AT + i * 800, '10.1.0.4', '10.1.0.9', 22, { service: 'ssh', duration: 0.6, connState: i % 3 ? 'SF' : 'RSTO' }));
    const r = scenario(inj);
    assert.ok(r.rules.has('auth-failure-burst'), JSON.stringify([...r.rules]));
    assert.equal(r.alerts.find((a) => a.rule === 'auth-failure-burst')?.key, 'cam-3');
  });

  it('auth-failure-burst from gateway refusals, keyed by the client address', () => {
    const inj = Array.from({ length: 20 }, (_, i) => gw(AT + i * 1000, 'connect_refused', { clientAddress: '203.0.113.5', sessionId: 0, reason: 'not_authorized' }));
    const r = scenario(inj);
    const a = r.alerts.find((x) => x.rule === 'auth-failure-burst');
    assert.ok(a);
    assert.equal(a.key, '203.0.113.5');
    assert.equal(a.observed['lastReason'], 'not_authorized');
  });

  it('fan-out-hosts (Mirai-style scan) and fan-out-ports (vertical scan)', () => {
    const scan = Array.from({ length: 80 }, (_, i) => flow(AT + i * 100, '10.1.0.5', `10.9.${i >> 4}.${i + 1}`, 23, { connState: 'S0', origBytes: 0, respBytes: 0 }));
    const ports = Array.from({ length: 80 }, (_, i) => flow(AT + i * 100, '10.1.0.6', '10.1.0.200', 1000 + i, { connState: 'REJ', origBytes: 0, respBytes: 0 }));
    const r = scenario([...scan, ...ports]);
    assert.equal(r.alerts.find((a) => a.rule === 'fan-out-hosts')?.key, 'cam-4');
    assert.equal(r.alerts.find((a) => a.rule === 'fan-out-ports')?.key, 'cam-5');
  });

  it('cross-segment traffic the cohort never uses', () => {
    const r = scenario([flow(AT, '10.1.0.7', '10.2.0.10', 502)]);
    const a = r.alerts.find((x) => x.rule === 'cross-segment');
    assert.ok(a);
    assert.deepEqual([a.key, a.observed['from'], a.observed['to']], ['cam-6', 'cams', 'ot']);
    assert.equal(a.severity, 'high');
  });

  it('rate-spike: a connection flood, and bytes toward an unused destination (exfiltration)', () => {
    const flood = Array.from({ length: 600 }, (_, i) => flow(AT + i * 50, '10.1.0.8', '198.18.0.1', 80, { proto: 'udp', connState: 'S0', origBytes: 1400, respBytes: 0 }));
    const exfil = Array.from({ length: 6 }, (_, i) => flow(AT + i * 5000, '10.1.0.9', '185.1.2.3', 443, { origBytes: 4_000_000 }));
    const r = scenario([...flood, ...exfil]);
    const keys = r.alerts.filter((a) => a.rule === 'rate-spike').map((a) => a.key);
    assert.ok(keys.includes('cam-7'), JSON.stringify(r.alerts.map((a) => [a.key, a.rule])));
    const ex = r.alerts.find((a) => a.rule === 'rate-spike' && a.key === 'cam-8');
    assert.ok(ex);
    assert.ok(Number(ex.observed['bytesToUnusedDestinationsPer60s']) >= 4_000_000);
  });

  it('beacon: periodic connections to a destination no other camera uses', () => {
    const inj = Array.from({ length: 12 }, (_, i) => flow(AT + i * 15_000 + (i % 2) * 40, '10.1.0.10', '198.51.100.7', 443, { origBytes: 300 }));
    const r = scenario(inj);
    const a = r.alerts.find((x) => x.rule === 'beacon');
    assert.ok(a, JSON.stringify(r.alerts.map((x) => x.rule)));
    assert.equal(a.key, 'cam-9');
    assert.ok(Number(a.observed['cv']) < 0.08);
    assert.ok(Math.abs(Number(a.observed['intervalS']) - 15) < 0.1);
  });

  it('duplicate-identity: one identity from two addresses', () => {
    const inj = [
      gw(AT, 'duplicate_identity', { deviceId: 'cam-1', clientAddress: '203.0.113.9', sessionId: 99, reason: 'replaced', detail: 'existing session 2 from 10.1.0.2' }),
    ];
    const r = scenario(inj);
    const a = r.alerts.find((x) => x.rule === 'duplicate-identity');
    assert.ok(a);
    assert.equal(a.observed['addresses'], '10.1.0.2,203.0.113.9');
  });

  it('duplicate-identity also from overlapping sessions (no gateway duplicate event, e.g. two gateways)', () => {
    const inj = [gw(AT, 'connect', { deviceId: 'cam-2', clientAddress: '10.1.0.3', sessionId: 500 }), gw(AT + 5000, 'connect', { deviceId: 'cam-2', clientAddress: '198.51.100.1', sessionId: 501 })];
    assert.ok(scenario(inj).rules.has('duplicate-identity'));
  });

  it('a reconnect from the same address after a disconnect is not a duplicate', () => {
    const inj = [gw(AT, 'connect', { deviceId: 'cam-2', clientAddress: '10.1.0.3', sessionId: 500 }), gw(AT + 1000, 'disconnect', { deviceId: 'cam-2', clientAddress: '10.1.0.3', sessionId: 500 }), gw(AT + 2000, 'connect', { deviceId: 'cam-2', clientAddress: '10.1.0.3', sessionId: 501 })];
    assert.equal(scenario(inj).rules.has('duplicate-identity'), false);
  });

  it('connect-flapping', () => {
    const inj = Array.from({ length: 12 }, (_, i) => gw(AT + i * 10_000, 'connect', { deviceId: 'cam-3', clientAddress: '10.1.0.4', sessionId: 1000 + i }));
    assert.ok(scenario(inj).rules.has('connect-flapping'));
  });

  it('new-topic: a topic pattern never seen for the device type', () => {
    const inj = [gw(AT, 'publish_allowed', { deviceId: 'cam-4', clientAddress: '10.1.0.5', topic: 'devices/cam-4/shell', bytes: 10 })];
    const r = scenario(inj);
    const a = r.alerts.find((x) => x.rule === 'new-topic');
    assert.ok(a);
    assert.equal(a.observed['pattern'], 'devices/{id}/shell');
  });

  it('telemetry-zscore: a spike against the device\'s usual offset from its cohort', () => {
    const r = scenario([tel(AT + 1, 'cam-5', 'cpu', 95)]);
    const a = r.alerts.find((x) => x.rule === 'telemetry-zscore');
    assert.ok(a);
    assert.ok(Number(a.observed['robustZ']) > 7);
    assert.ok(typeof a.baseline['cohortLevel'] === 'number');
  });

  it('telemetry-drift: a slow, persistent shift is found by CUSUM before a spike threshold', () => {
    const inj = Array.from({ length: 30 }, (_, i) => tel(AT + i * 10_000 + 7, 'cam-6', 'cpu', 33 + 3 + i * 0.12));
    const d = detector();
    const base = normal(T0, WARM + 6).filter((s) => !(s.kind === 'telemetry' && s.device === 'cam-6' && s.tsMs >= AT));
    const r = run(d, [...base, ...inj]);
    const a = r.alerts.find((x) => x.rule === 'telemetry-drift');
    assert.ok(a, JSON.stringify(r.alerts.map((x) => x.rule)));
    assert.equal(r.alerts.some((x) => x.rule === 'telemetry-zscore' && x.atMs < a.atMs), false);
  });

  it('hst: an unusual traffic mix is scored high and explained by its features', () => {
    // Many small connections with large inbound volume to the usual cloud: no rule covers this mix.
    const inj = Array.from({ length: 40 }, (_, i) => flow(AT + i * 200, '10.1.0.12', '52.0.0.1', 443, { origBytes: 100, respBytes: 3_000_000 }));
    const r = scenario(inj, { thresholds: { hstZ: 4 } });
    const a = r.alerts.find((x) => x.rule === 'hst');
    assert.ok(a, JSON.stringify(r.alerts.map((x) => x.rule)));
    assert.equal(a.family, 'model');
    assert.ok(a.features !== undefined && a.features.length === 3);
    assert.ok(a.features.some((f) => f.name === 'connections' || f.name === 'bytesIn'));
  });

  it('a new device is scored by its cohort from its first records', () => {
    const late = { id: 'cam-new', type: 'camera', segment: 'cams', hosts: ['10.1.0.77'] };
    const d = detector({ devices: [...CAMS, late] });
    const r = run(d, [...normal(T0, WARM), flow(AT, '10.1.0.77', '52.0.0.1', 443), flow(AT + 100, '10.1.0.77', '10.2.0.5', 22)]);
    assert.ok(r.alerts.some((a) => a.key === 'cam-new' && a.rule === 'cross-segment'));
    assert.ok((r.verdicts.at(-2)?.score ?? 1) < 0.5, 'an ordinary first flow is not anomalous');
  });
});

describe('cohort context', () => {
  it('damps a cohort-wide failure (cloud outage) into one notice (a single device is alerted: see refused-connect-burst)', () => {
    const outage: Signal[] = [];
    for (const [i, c] of CAMS.entries()) for (let k = 0; k < 30; k++) outage.push(flow(AT + k * 2000 + i * 50, c.hosts?.[0] ?? '', '52.0.0.1', 443, { connState: 'S0', origBytes: 0, respBytes: 0 }));
    const d = detector();
    const r = run(d, [...normal(T0, WARM), ...outage, ...normal(AT + 70_000, 3).filter((s) => s.kind !== 'flow')]);
    assert.deepEqual(r.alerts.map((a) => [a.key, a.rule]), []);
    assert.equal(r.notices.length, 1);
    assert.equal(r.notices[0]?.cohort, 'camera');
    // Whichever detector crossed first (failure burst, or the HST on the same windows) names the notice.
    assert.ok(['failures', 'model'].includes(r.notices[0]?.reason ?? ''), r.notices[0]?.reason);
    assert.ok((r.notices[0]?.share ?? 0) > 0.5);
    assert.ok(d.stats.damped >= 3);
  });

  it('damps a topic the whole cohort takes up (roll-out) via adoption', () => {
    const inj = CAMS.map((c, i) => gw(AT + i * 5000, 'publish_allowed', { deviceId: c.id, clientAddress: c.hosts?.[0] ?? '', topic: `devices/${c.id}/diag` }));
    const r = run(detector(), [...normal(T0, WARM + 8), ...inj]);
    assert.equal(r.alerts.filter((a) => a.rule === 'new-topic').length, 0);
    assert.equal(r.notices.length, 1);
    assert.match(r.notices[0]?.summary ?? '', /new topic/);
  });
});

describe('helpers', () => {
  it('topicPattern folds ids, numbers and hex', () => {
    assert.equal(topicPattern('devices/cam-1/sensor/12/abcdef0123456789', 'cam-1'), 'devices/{id}/sensor/{n}/{x}');
  });
});
