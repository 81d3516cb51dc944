/**
 * Differential check of the bulk-import fast path against the schema it stands in for: whenever
 * quickDeviceInput answers, deviceInputSchema must accept the same input and return the same value;
 * and it must answer for the ordinary records an import file holds (or it would not be a fast path).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { quickDeviceInput } from './import-validate.js';
import { deviceInputSchema } from './model.js';
import { mulberry32 } from '../common/random.js';

const prng = mulberry32;

const STRINGS = [
  '', ' ', 'a', ' a ', 'A', 'cam-1', 'cam_1', 'cam.1', '-x', '.x', 'x'.repeat(63), 'x'.repeat(64), 'y'.repeat(128), 'y'.repeat(129),
  ` ${'z'.repeat(128)} `, '\u00a0tag\u00a0', '\t\n', 'ünï', 'sensor', 'plc', 'a'.repeat(32), 'a'.repeat(33), 'Upper', '1abc', 'seg/1', '\u2028',
  'x'.repeat(65), ` ${'t'.repeat(64)} `,
];

function value(rnd: () => number): unknown {
  const k = Math.floor(rnd() * 12);
  if (k < 7) return STRINGS[Math.floor(rnd() * STRINGS.length)];
  if (k === 7) return null;
  if (k === 8) return undefined;
  if (k === 9) return Math.floor(rnd() * 100);
  if (k === 10) return Array.from({ length: Math.floor(rnd() * 35) }, () => (rnd() < 0.9 ? STRINGS[Math.floor(rnd() * STRINGS.length)] : 7));
  return { nested: true };
}

const KEYS = ['id', 'name', 'type', 'vendor', 'model', 'firmware', 'owner', 'site', 'segment', 'tags'];

function record(rnd: () => number): unknown {
  const r: Record<string, unknown> = { name: `device ${Math.floor(rnd() * 1000)}`, type: 'sensor' };
  for (const key of KEYS) if (rnd() < 0.35) r[key] = value(rnd);
  if (rnd() < 0.05) r['extra'] = 1;
  if (rnd() < 0.02) return Object.assign(Object.create({ inherited: 1 }) as object, r);
  if (rnd() < 0.02) return Object.assign(Object.create(null) as object, r);
  if (rnd() < 0.01) return [r];
  return r;
}

describe('bulk import validation fast path', () => {
  it('never accepts what the schema refuses, and returns what the schema returns', () => {
    const rnd = prng(20260601);
    let answered = 0;
    for (let i = 0; i < 50_000; i++) {
      const rec = record(rnd);
      const quick = quickDeviceInput(rec);
      const r = deviceInputSchema.safeParse(rec);
      if (quick === undefined) continue;
      answered++;
      assert.ok(r.success, `fast path accepted a record the schema refuses: ${JSON.stringify(rec)}`);
      assert.deepEqual(quick, r.data, `different value for ${JSON.stringify(rec)}`);
    }
    assert.ok(answered > 2_000, `the fast path answered only ${answered} times`);
  });

  it('answers for ordinary records, trimming as the schema does', () => {
    const ordinary = [
      { name: 'cam 1', type: 'camera' },
      { id: 'plc-7', name: ' press ', type: 'plc', segment: 'ot', site: ' hq ', vendor: null, tags: [' a ', 'b'] },
      { id: 'dev-1', name: 'x', type: 'sensor', segment: null, owner: 'ops', model: 'm', firmware: '1.0' },
    ];
    for (const rec of ordinary) {
      const quick = quickDeviceInput(rec);
      assert.notEqual(quick, undefined, JSON.stringify(rec));
      assert.deepEqual(quick, deviceInputSchema.parse(rec));
    }
  });

  it('leaves every invalid or unusual record to the schema', () => {
    for (const rec of [
      null, 'x', [], { name: 'x' }, { name: '', type: 'sensor' }, { name: 'x', type: 'Sensor' }, { name: 'x', type: 'sensor', extra: 1 },
      { name: 'x', type: 'sensor', id: undefined }, { name: 'x', type: 'sensor', tags: new Array(2) }, { name: 'x', type: 'sensor', segment: 'A' },
      { name: 'x', type: 'sensor', tags: Array.from({ length: 33 }, () => 't') }, new Date(),
    ]) {
      assert.equal(quickDeviceInput(rec), undefined, JSON.stringify(rec));
    }
  });
});
