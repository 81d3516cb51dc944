import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDatetime, parseDecimal, parseDuration, parseIp } from './extensions.js';
import { compilePolicySet, EntityStore, isAuthorized, parseJsonLossless, type ExprJson, type PolicyJson } from './index.js';

const device = (id: string): { type: string; id: string } => ({ type: 'Device', id });
const req = (ctx: Record<string, never> = {}) => ({ principal: device('d1'), action: { type: 'Action', id: 'publish' }, resource: { type: 'Topic', id: 't' }, context: ctx });

function policy(effect: 'permit' | 'forbid', when?: ExprJson, principalIn?: { type: string; id: string }): PolicyJson {
  return {
    effect,
    principal: principalIn === undefined ? { op: 'All' } : { op: 'in', entity: principalIn },
    action: { op: 'All' },
    resource: { op: 'All' },
    conditions: when === undefined ? [] : [{ kind: 'when', body: when }],
  };
}

test('default deny, forbid overrides permit, errors skip the policy and are reported', () => {
  const store = new EntityStore([{ uid: device('d1'), attrs: { trust: 10 }, parents: [] }]);
  assert.deepEqual(isAuthorized(req(), compilePolicySet([]), store), { decision: 'deny', determining: [], errors: [] });
  const set = compilePolicySet({
    allow: policy('permit'),
    low: policy('forbid', { '<': { left: { '.': { left: { Var: 'principal' }, attr: 'trust' } }, right: { Value: 50 } } }),
    broken: policy('forbid', { '.': { left: { Var: 'principal' }, attr: 'missing' } }),
  });
  const d = isAuthorized(req(), set, store);
  assert.equal(d.decision, 'deny');
  assert.deepEqual(d.determining, ['low']);
  assert.deepEqual(d.errors.map((e) => e.policyId), ['broken']);
});

test('a store change applies to the very next decision (hierarchy and attributes)', () => {
  const store = new EntityStore([
    { uid: device('d1'), attrs: {}, parents: [{ type: 'Segment', id: 'a' }] },
    { uid: { type: 'Segment', id: 'a' }, attrs: {}, parents: [{ type: 'Site', id: 's1' }] },
  ]);
  const set = compilePolicySet([policy('permit', undefined, { type: 'Site', id: 's1' })]);
  assert.equal(isAuthorized(req(), set, store).decision, 'allow');
  store.upsert({ uid: { type: 'Segment', id: 'a' }, attrs: {}, parents: [{ type: 'Site', id: 's2' }] });
  assert.equal(isAuthorized(req(), set, store).decision, 'deny');
  store.upsert({ uid: { type: 'Segment', id: 'a' }, attrs: {}, parents: [{ type: 'Site', id: 's1' }] });
  assert.equal(isAuthorized(req(), set, store).decision, 'allow');
  store.remove({ type: 'Segment', id: 'a' });
  assert.equal(isAuthorized(req(), set, store).decision, 'deny', 'ancestors through a removed entity are gone');
});

test('i64 overflow is an error, never a wrapped value', () => {
  const store = new EntityStore([]);
  const big = parseJsonLossless('{"x": 9223372036854775807}') as { x: bigint };
  assert.equal(big.x, 9223372036854775807n);
  const set = compilePolicySet([policy('permit', { '==': { left: { '+': { left: { Value: big.x }, right: { Value: 1 } } }, right: { Value: 0 } } })]);
  const d = isAuthorized(req(), set, store);
  assert.equal(d.decision, 'deny');
  assert.match(d.errors[0]?.message ?? '', /overflow/);
});

test('extension parsers follow Cedar', () => {
  assert.equal(parseIp('10.0.0.1/8')?.prefix, 8);
  for (const bad of ['010.0.0.1', '1.2.3', '1.2.3.4/33', '1.2.3.4/08', '::ffff:127.0.0.1', '1::2::3', '12345::']) assert.equal(parseIp(bad), undefined, bad);
  assert.equal(parseIp('::1')?.addr, 1n);
  assert.equal(parseDecimal('-0.5')?.v, -5000n);
  for (const bad of ['1', '1.23456', '.5', '922337203685477.5808']) assert.equal(parseDecimal(bad), undefined, bad);
  assert.equal(parseDatetime('1970-01-02')?.ms, 86_400_000);
  assert.equal(parseDatetime('1970-01-01T01:00:00.000+0100')?.ms, 0);
  assert.equal(parseDatetime('0000-01-01')?.ms, -62_167_219_200_000);
  for (const bad of ['2023-02-29', '2020-01-01T24:00:00Z', '2020-01-01T00:00:00+2400', '2020-1-01']) assert.equal(parseDatetime(bad), undefined, bad);
  assert.equal(parseDuration('1d2h3m4s5ms')?.ms, 93_784_005);
  assert.equal(parseDuration('-9223372036854775808ms')?.ms, -9223372036854775808n);
  for (const bad of ['', '-', '1h1d', '9223372036854775808ms', '1.5h']) assert.equal(parseDuration(bad), undefined, bad);
});

test('policies that are not valid EST are refused with ZETA_ERR_POLICY_INVALID', () => {
  assert.throws(() => compilePolicySet([{ ...policy('permit'), principal: { op: '==', slot: '?principal' } }]), { code: 'ZETA_ERR_POLICY_INVALID' });
  assert.throws(() => compilePolicySet([policy('permit', { nosuchfn: [] } as ExprJson)]), { code: 'ZETA_ERR_POLICY_INVALID' });
  assert.throws(() => new EntityStore([{ uid: device('x') }, { uid: device('x') }]), { code: 'ZETA_ERR_ENTITY_INVALID' });
});
