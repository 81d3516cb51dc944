import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../common/clock.js';
import { Monitor } from './monitor.js';
import type { Alert } from './rules.js';
import { CAMS, SEGMENTS, T0, flow, normal } from './test-fixtures.js';

describe('Monitor (live ingest)', () => {
  it('scores off the caller\'s stack and emits alerts; behaviour feeds the trust score', async () => {
    const clock = new ManualClock(T0 + 30 * 60_000);
    const m = new Monitor({ devices: CAMS, segments: SEGMENTS, learnRecords: 100, learnMs: 5 * 60_000, clock });
    const alerts: Alert[] = [];
    m.on('alert', (a) => alerts.push(a));
    for (const s of normal(T0, 20)) m.ingest(s);
    assert.ok(m.ingest(flow(T0 + 20 * 60_000, '10.1.0.2', '10.2.0.9', 502)));
    assert.equal(alerts.length, 0, 'nothing is scored synchronously');
    await m.idle();
    assert.deepEqual(alerts.map((a) => [a.key, a.rule]), [['cam-1', 'cross-segment']]);
    const b = m.behavior('cam-1');
    assert.equal(b.nowMs, T0 + 30 * 60_000);
    assert.equal(b.recentScores.length, 1);
    assert.equal(m.stats().processed, normal(T0, 20).length + 1);
  });

  it('gateway events and raw lines go through the same parsers; malformed ones are counted', async () => {
    const m = new Monitor();
    m.ingestGatewayEvent({ type: 'connect', at: new Date(T0).toISOString(), sessionId: 1, clientAddress: '10.0.0.1', deviceId: 'd-1' });
    m.ingestGatewayEvent({ type: 'connect', at: 'not a date', sessionId: 1, clientAddress: '10.0.0.1' });
    m.ingestLine('telemetry', '{"ts":1767600000,"device":"d-1","metric":"cpu","value":3}');
    m.ingestLine('telemetry', 'ts,device,metric,value');
    m.ingestLine('telemetry', 'garbage');
    m.ingestLine('zeek-conn', '{"ts":1767600000,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","id.resp_p":80}');
    await m.idle();
    assert.deepEqual([m.stats().processed, m.stats().malformed], [3, 2]);
  });

  it('bounded queue: back-pressure above the high-water mark, drops (counted) at the limit, then drain', async () => {
    const m = new Monitor({ highWaterMark: 10, queueLimit: 20 });
    let drained = 0;
    m.on('drain', () => drained++);
    const results = Array.from({ length: 30 }, (_, i) => m.ingest(flow(T0 + i, '10.0.0.1', '10.0.0.2', 80)));
    assert.deepEqual([results.slice(0, 9).every(Boolean), results[9], results.slice(10).some(Boolean)], [true, false, false]);
    assert.equal(m.stats().dropped, 10);
    await m.idle();
    assert.equal(m.stats().processed, 20);
    assert.equal(drained, 1);
    m.close();
    assert.equal(m.ingest(flow(T0, '10.0.0.1', '10.0.0.2', 80)), false);
  });
});
