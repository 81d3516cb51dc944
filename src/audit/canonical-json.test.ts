import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from './index.js';

/** IEEE 754 bit pattern → number, as RFC 8785 Appendix B writes its vectors. */
function f64(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

describe('canonicalJson (RFC 8785)', () => {
  it('§3.2.3 example: sorted keys, ES numbers, minimal string escapes', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    assert.equal(canonicalJson(JSON.parse(input)), expected);
  });

  it('§3.2.3 sorts keys by UTF-16 code units, nested objects too', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const out = canonicalJson({ z: JSON.parse(input), a: [{ b: 1, a: 2 }] });
    // Compared as text: JSON.parse would put the integer-like key "1" first again.
    const order = [
      'Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign',
      'Emoji: Grinning Face', 'Hebrew Letter Dalet With Dagesh',
    ];
    const positions = order.map((v) => out.indexOf(`"${v}"`));
    assert.deepEqual([...positions].sort((x, y) => x - y), positions);
    assert.ok(positions.every((p) => p > 0));
    assert.ok(out.startsWith('{"a":[{"a":2,"b":1}],"z":{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":'));
  });

  it('Appendix B number vectors', () => {
    const vectors: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'], // -0
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of vectors) assert.equal(canonicalJson(f64(bits)), text, bits);
    assert.equal(canonicalJson(1e21), '1e+21');
    assert.equal(canonicalJson(1e20), '100000000000000000000');
    assert.equal(canonicalJson(-0), '0');
  });

  it('refuses NaN and ±Infinity (§3.2.2.3) and names where', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.throws(() => canonicalJson({ a: [1, bad] }), (e: unknown) => {
        const err = e as { code?: string; message?: string };
        return err.code === 'ZETA_ERR_VALIDATION' && (err.message ?? '').includes('$.a[1]');
      });
    }
  });

  it('drops undefined object members; refuses what JSON.stringify would silently change', () => {
    assert.equal(canonicalJson({ b: undefined, a: 1 }), '{"a":1}');
    assert.throws(() => canonicalJson([1, undefined]), /arrays cannot drop items/);
    assert.throws(() => canonicalJson({ when: new Date(0) }), /Date/);
    assert.throws(() => canonicalJson({ m: new Map() }), /Map/);
    assert.throws(() => canonicalJson({ n: 1n }), /bigint/);
    assert.throws(() => canonicalJson(undefined), /undefined/);
    assert.throws(() => canonicalJson({ f: () => 1 }), /function/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    assert.throws(() => canonicalJson(loop), /circular/);
  });

  it('keeps unicode as is, escapes only control characters, refuses lone surrogates (I-JSON)', () => {
    assert.equal(canonicalJson('é€😀\u2028'), '"é€😀\u2028"');
    assert.equal(canonicalJson('\u0000\u001f\t'), '"\\u0000\\u001f\\t"');
    assert.throws(() => canonicalJson('\ud800'), /lone UTF-16 surrogate/);
    assert.throws(() => canonicalJson({ ['\udc00']: 1 }), /lone UTF-16 surrogate/);
  });

  it('bounds nesting before recursing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    assert.throws(() => canonicalJson(deep), /nested deeper than/);
  });

  it('accepts null-prototype objects and round-trips through JSON.parse', () => {
    const o = Object.assign(Object.create(null) as Record<string, unknown>, { b: [true, null, 'x'], a: { c: 0.1 } });
    const text = canonicalJson(o);
    assert.equal(text, '{"a":{"c":0.1},"b":[true,null,"x"]}');
    assert.equal(canonicalJson(JSON.parse(text)), text);
  });
});
