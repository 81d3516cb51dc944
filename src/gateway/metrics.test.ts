import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from './metrics.js';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';

describe('metrics and limits', () => {
  it('bounds the device label set: overflow is summed under _other', () => {
    const m = new GatewayMetrics(2, 1);
    for (const id of ['a', 'b', 'c', 'd']) m.device(id).publishMessages++;
    m.topic('devices').publishMessages++;
    m.topic('weird').publishMessages++;
    const text = m.text();
    assert.match(text, /zeta_gateway_device_messages_total\{device="_other",direction="publish"\} 2/);
    assert.doesNotMatch(text, /device="c"/);
    assert.match(text, /topic_class="_other"/);
  });

  it('escapes label values (Prometheus text format 0.0.4)', () => {
    const m = new GatewayMetrics(10, 10);
    m.topic('a"b\\c\nd').publishMessages++;
    assert.match(m.text(), /topic_class="a\\"b\\\\c\\nd"/);
  });

  it('observes decision latency into cumulative buckets', () => {
    const m = new GatewayMetrics(1, 1);
    m.observeDecision(0.000_003);
    m.observeDecision(0.2);
    const t = m.text();
    assert.match(t, /zeta_gateway_decision_seconds_bucket\{le="0.000005"\} 1/);
    assert.match(t, /zeta_gateway_decision_seconds_bucket\{le="\+Inf"\} 2/);
  });

  it('limits: defaults, overrides, and refusal of unknown or out-of-range values', () => {
    assert.equal(resolveLimits().maxPacketBytes, DEFAULT_LIMITS.maxPacketBytes);
    assert.equal(resolveLimits({ maxInflight: 5 }).maxInflight, 5);
    assert.throws(() => resolveLimits({ maxInflight: 0 }), /maxInflight/);
    assert.throws(() => resolveLimits({ bogus: 1 } as never), /bogus/);
    assert.ok(Object.isFrozen(resolveLimits()));
  });
});
