import { it } from 'node:test';
import assert from 'node:assert/strict';
import { isZetaError } from '../common/errors.js';
import { DEFAULT_PLAYBOOK, matchStep, needsApproval, parsePlaybook, type ResponseInput, type Step } from './playbook.js';

const input = (o: Partial<ResponseInput> = {}): ResponseInput => ({
  rule: 'fan-out-hosts', severity: 'high', trustScore: 70, deviceType: 'camera', segment: 'cams', attestationFailed: false, repeatCount: () => 1, ...o,
});
const step = (when: Step['when'], action: Step['action'] = 'quarantine'): Step => ({ id: 's', action, when });

it('every condition must hold, and each that holds is named', () => {
  const s = step({ trustBelow: 80, rules: ['fan-out-hosts'], severityAtLeast: 'medium', deviceTypes: ['camera'], segments: ['cams'], repeat: { count: 1, withinMinutes: 5 } });
  assert.deepEqual(matchStep(s, input()), ['trust 70 < 80', 'rule fan-out-hosts', 'severity high ≥ medium', 'type camera', 'segment cams', '1 alerts in 5 min ≥ 1']);
  assert.equal(matchStep(s, input({ trustScore: 80 })), undefined, 'below, not at');
  assert.equal(matchStep(s, input({ trustScore: null })), undefined, 'no score yet is not low trust');
  assert.equal(matchStep(s, input({ rule: 'beacon' })), undefined);
  assert.equal(matchStep(s, input({ severity: 'low' })), undefined);
  assert.equal(matchStep(s, input({ deviceType: 'lock' })), undefined);
  assert.equal(matchStep(s, input({ segment: null })), undefined);
  assert.equal(matchStep(s, input({ repeatCount: () => 0 })), undefined);
  assert.deepEqual(matchStep(step({ attestationFailed: true }), input({ attestationFailed: true })), ['attestation failed']);
  assert.equal(matchStep(step({ attestationFailed: true }), input()), undefined);
});

it('revoke needs approval unless a playbook says auto; other actions do not unless required', () => {
  assert.equal(needsApproval(step({ severityAtLeast: 'low' }, 'revoke')), true);
  assert.equal(needsApproval({ ...step({ severityAtLeast: 'low' }, 'revoke'), approval: 'auto' }), false);
  assert.equal(needsApproval(step({ severityAtLeast: 'low' }, 'quarantine')), false);
  assert.equal(needsApproval({ ...step({ severityAtLeast: 'low' }, 'restrict'), approval: 'required' }), true);
  assert.ok(DEFAULT_PLAYBOOK.steps.filter((s) => s.action === 'revoke').every(needsApproval));
});

it('the schema is strict and fills documented defaults', () => {
  const p = parsePlaybook({ name: 'p', guard: { maxDevices: 1, maxSegmentPercent: 5, windowMinutes: 10 }, steps: [{ id: 'a', action: 'alert', when: { severityAtLeast: 'low' } }] });
  assert.equal(p.enabled, true);
  assert.equal(p.guard.segmentMinDevices, 4);
  for (const bad of [
    { ...p, extra: 1 },
    { ...p, guard: { ...p.guard, extra: 1 } },
    { ...p, steps: [{ id: 'a', action: 'alert', when: { severityAtLeast: 'low', typo: 1 } }] },
    { ...p, steps: [] },
    { ...p, steps: [{ id: 'a', action: 'alert', when: { rules: [] } }] },
    { ...p, steps: [{ id: 'a', action: 'alert', when: { severityAtLeast: 'critical' } }] },
  ]) assert.throws(() => parsePlaybook(bad), (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_PLAYBOOK_INVALID', JSON.stringify(bad));
});
