/**
 * Property test: random requests over a small generated fleet, and random policies drawn from a
 * grammar that reaches every operator (including the ones that error: missing attributes, i64
 * overflow, type mismatches, bad extension strings), compared with cedar-wasm `isAuthorized`.
 * Agreement must be 100 %: decision, determining policies and erroring policies. Seeds are fixed,
 * so a failure is reproducible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { setFlagsFromString } from 'node:v8';
import { entitiesFor, generateFleet, iotPolicyText, randomRequest, rng } from '../bench/policy.js';
import { policySetTextToJson } from '../src/policy/cedar-json.js';
import { compilePolicySet, EntityStore, isAuthorized, type CedarRequest, type Decision, type EntityJson } from '../src/policy/engine/index.js';

// See policy-engine-corpus.test.ts: Node 20's V8 can abort when it lazily deoptimises a function
// that inlined a JS-to-Wasm call while the call runs; these loops call cedar-wasm and the engine.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

function agree(ours: Decision, w: cedar.AuthorizationAnswer): string | undefined {
  if (w.type !== 'success') return `cedar-wasm failed: ${JSON.stringify(w.errors)}`;
  const a = JSON.stringify([ours.decision, [...ours.determining].sort(), ours.errors.map((e) => e.policyId).sort()]);
  const b = JSON.stringify([w.response.decision, [...w.response.diagnostics.reason].sort(), w.response.diagnostics.errors.map((e) => e.policyId).sort()]);
  return a === b ? undefined : `ours ${a} (${ours.errors.map((e) => e.message).join(' | ')}) cedar-wasm ${b}`;
}

function wasmDecide(req: CedarRequest, text: string, entities: EntityJson[]): cedar.AuthorizationAnswer {
  return cedar.isAuthorized({
    principal: req.principal,
    action: req.action,
    resource: req.resource,
    context: req.context as never,
    policies: { staticPolicies: text },
    entities: entities as never,
  });
}

test('IoT policy set: random requests agree with cedar-wasm', () => {
  const fleet = generateFleet(300, 3);
  const text = iotPolicyText(fleet.sites);
  const policies = compilePolicySet(policySetTextToJson(text));
  const store = new EntityStore(fleet.all);
  const r = rng(11);
  const mismatches: string[] = [];
  let allows = 0;
  const n = 1500;
  for (let i = 0; i < n; i++) {
    const q = randomRequest(r, fleet);
    const ours = isAuthorized(q, policies, store);
    if (ours.decision === 'allow') allows++;
    const d = agree(ours, wasmDecide(q, text, entitiesFor(q, fleet)));
    if (d !== undefined) mismatches.push(`${JSON.stringify(q)}: ${d}`);
  }
  assert.deepEqual(mismatches.slice(0, 5), []);
  assert.ok(allows > 20 && allows < n - 20, `both outcomes exercised (${allows} allows)`);
});

// --- random policies -------------------------------------------------------------------------

const pickOf = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

function randomExpr(r: () => number, depth: number): string {
  const leaf = (): string =>
    pickOf(r, [
      'principal.trustScore',
      'principal.type',
      'principal.state',
      'principal.fwVersion',
      'principal.tags',
      'principal.owner',
      'principal.nope',
      'resource.kind',
      'resource.device',
      'resource.name',
      'resource.owner',
      'context.qos',
      'context.retain',
      'context.clientIp',
      'context.now',
      'context.lockdown',
      'principal',
      'resource',
      'action',
      '9223372036854775807',
      '-9223372036854775808',
      '0',
      '-1',
      '42',
      '"sensor"',
      '"telemetry"',
      'true',
      'false',
      '[1, 2, 3]',
      '["prod", "may-retain"]',
      '{a: 1, b: "x"}',
      'Site::"s0"',
      'Action::"messaging"',
      'ip("10.0.0.0/8")',
      'ip("::1")',
      'ip("10.0.0.300")',
      'decimal("3.0")',
      'decimal("-0.0001")',
      'decimal("1.23456")',
      'datetime("2025-03-01T04:00:00Z")',
      'datetime("2025-03-01T04:00:00.123+0130")',
      'duration("2h30m")',
      'duration("-1d")',
      'duration("9223372036854775807ms")',
    ]);
  if (depth <= 0 || r() < 0.25) return leaf();
  const e = (): string => randomExpr(r, depth - 1);
  switch (Math.floor(r() * 26)) {
    case 0:
      return `(${e()} && ${e()})`;
    case 1:
      return `(${e()} || ${e()})`;
    case 2:
      return `(!${e()})`;
    case 3:
      return `(${e()} == ${e()})`;
    case 4:
      return `(${e()} != ${e()})`;
    case 5:
      return `(${e()} ${pickOf(r, ['<', '<=', '>', '>='])} ${e()})`;
    case 6:
      return `(${e()} ${pickOf(r, ['+', '-', '*'])} ${e()})`;
    case 7:
      return `(-${e()})`;
    case 8:
      return `(${e()} in ${e()})`;
    case 9:
      return `(${e()} in [Site::"s0", Segment::"quarantine", ${e()}])`;
    case 10:
      return `(${e()}.${pickOf(r, ['contains', 'containsAll', 'containsAny'])}(${e()}))`;
    case 11:
      return `(${e()}.isEmpty())`;
    case 12:
      return `(${e()} has ${pickOf(r, ['type', 'trustScore', 'owner', 'lockdown', 'a', 'kind'])})`;
    case 13:
      return `(${e()} like "${pickOf(r, ['*', 's*', '*telemetry*', 's0/*/sensor/*', '\\*', 'prod'])}")`;
    case 14:
      return `(${e()} is ${pickOf(r, ['Device', 'Topic', 'Site', 'Action'])})`;
    case 15:
      return `(${e()} is Device in ${e()})`;
    case 16:
      return `(if ${e()} then ${e()} else ${e()})`;
    case 17:
      return `[${e()}, ${e()}]`;
    case 18:
      return `{x: ${e()}, y: ${e()}}.${pickOf(r, ['x', 'y', 'z'])}`;
    case 19:
      return `${e()}.${pickOf(r, ['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}()`;
    case 20:
      return `${e()}.isInRange(${e()})`;
    case 21:
      return `${e()}.${pickOf(r, ['lessThan', 'greaterThanOrEqual'])}(${e()})`;
    case 22:
      return `${e()}.${pickOf(r, ['toDate', 'toTime', 'toDays', 'toHours', 'toMilliseconds'])}()`;
    case 23:
      return `${e()}.${pickOf(r, ['offset', 'durationSince'])}(${e()})`;
    case 24:
      return `${e()}.${pickOf(r, ['hasTag', 'getTag'])}(${pickOf(r, ['"zone"', '"x"', e()])})`;
    default:
      return `(${e()} ${pickOf(r, ['==', '<'])} ${e()})`;
  }
}

function randomPolicySet(r: () => number): string {
  const out: string[] = [];
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const effect = r() < 0.35 ? 'forbid' : 'permit';
    const principal = pickOf(r, ['principal', 'principal is Device', 'principal in Site::"s0"', 'principal is Device in Segment::"quarantine"']);
    const action = pickOf(r, ['action', 'action == Action::"publish"', 'action in Action::"messaging"', 'action in [Action::"connect", Action::"receive"]']);
    const resource = pickOf(r, ['resource', 'resource is Topic', 'resource in TopicSpace::"s0/telemetry"', 'resource == Broker::"main"']);
    const clauses = Array.from({ length: Math.floor(r() * 3) }, () => `${r() < 0.7 ? 'when' : 'unless'} { ${randomExpr(r, 3)} }`);
    out.push(`${effect}(${principal}, ${action}, ${resource}) ${clauses.join(' ')};`);
  }
  return out.join('\n');
}

test('random policies over a small fleet agree with cedar-wasm, errors included', () => {
  const fleet = generateFleet(60, 5);
  // Tags on some devices, so getTag/hasTag see both outcomes.
  const entities = fleet.all.map((e, i) => (i % 3 === 0 ? { ...e, tags: { zone: 'ot', x: 7 } } : e));
  const store = new EntityStore(entities);
  const r = rng(2024);
  const mismatches: string[] = [];
  let decisions = 0;
  let errored = 0;
  let allows = 0;
  let unparsable = 0;
  let tOurs = 0;
  let tWasm = 0;
  for (let s = 0; s < 120; s++) {
    const text = randomPolicySet(r);
    // The grammar can produce text Cedar's parser refuses (e.g. `- -9223372036854775808`); parsing
    // is cedar-wasm's job on both sides, so such sets are redrawn, and counted.
    if (cedar.checkParsePolicySet({ staticPolicies: text }).type !== 'success') {
      unparsable++;
      s--;
      continue;
    }
    const policies = compilePolicySet(policySetTextToJson(text));
    for (let i = 0; i < 12; i++) {
      const q = randomRequest(r, fleet);
      const t0 = performance.now();
      const ours = isAuthorized(q, policies, store);
      tOurs += performance.now() - t0;
      decisions++;
      if (ours.errors.length > 0) errored++;
      if (ours.decision === 'allow') allows++;
      const t1 = performance.now();
      const w = wasmDecide(q, text, entities);
      tWasm += performance.now() - t1;
      const d = agree(ours, w);
      if (d !== undefined) mismatches.push(`${text}\n  request ${JSON.stringify(q)}\n  ${d}`);
    }
  }
  console.log(`random policies: ${decisions} decisions, ${allows} allows, ${errored} with errors, ${unparsable} unparsable sets redrawn; ours ${tOurs.toFixed(0)} ms, cedar-wasm ${tWasm.toFixed(0)} ms`);
  for (const m of mismatches.slice(0, 5)) console.log(m);
  assert.equal(mismatches.length, 0, `${mismatches.length}/${decisions} disagreements`);
  assert.ok(errored > decisions / 20, `error paths exercised (${errored}/${decisions})`);
  assert.ok(allows > decisions / 20, `allows exercised (${allows}/${decisions})`);
});
