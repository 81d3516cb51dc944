import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ZetaError } from '../common/errors.js';
import {
  decodeDer,
  encodeGeneralizedTime,
  encodeInteger,
  encodeNamedBits,
  encodeOid,
  encodeSequence,
  encodeTime,
  encodeTlv,
  encodeUnsignedInteger,
  readIntegerBytes,
  readOid,
  readSerialHex,
  readTime,
  TAG,
} from './der.js';
import { verifySignature } from './key-types.js';
import { ipToBytes } from './x509.js';

function rejects(buf: Buffer, pattern: RegExp, limits = {}): void {
  assert.throws(
    () => decodeDer(buf, limits),
    (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_VALIDATION' && pattern.test(e.internal ?? ''),
  );
}

describe('DER decoder bounds', () => {
  it('reads nested values and exposes offsets', () => {
    const der = encodeSequence(encodeInteger(5), encodeSequence(encodeOid('1.2.840.10045.2.1')));
    const root = decodeDer(der);
    assert.equal(root.tag, TAG.SEQUENCE);
    assert.equal(root.items('x').length, 2);
    assert.equal(readOid(root.at(1, 'x').at(0, 'y'), 'oid'), '1.2.840.10045.2.1');
  });

  it('rejects truncated input, trailing bytes and empty input', () => {
    const der = encodeSequence(encodeInteger(5));
    rejects(der.subarray(0, der.length - 1), /exceeds|truncated/);
    rejects(Buffer.concat([der, Buffer.from([0])]), /trailing/);
    rejects(Buffer.alloc(0), /empty/);
  });

  it('rejects indefinite, non-minimal and oversized lengths', () => {
    rejects(Buffer.from([0x30, 0x80, 0x00, 0x00]), /indefinite/);
    rejects(Buffer.from([0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), /non-minimal/);
    rejects(Buffer.from([0x04, 0x82, 0x00, 0x85, ...Buffer.alloc(0x85)]), /non-minimal/);
    rejects(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00]), /exceeds/);
    rejects(Buffer.from([0x30, 0x85, 1, 0, 0, 0, 0]), /length of 5 octets/);
  });

  it('rejects deep nesting, too many nodes and too much input', () => {
    let v = encodeTlv(TAG.NULL);
    for (let i = 0; i < 200; i++) v = encodeSequence(v);
    rejects(v, /too deep/);
    const many = encodeSequence(...Array.from({ length: 300 }, () => encodeTlv(TAG.NULL)));
    rejects(many, /too many/, { maxNodes: 100 });
    rejects(Buffer.alloc(70_000), /exceeds/);
  });

  it('rejects high tag numbers, EOC and constructed strings (X.690 §10.2)', () => {
    rejects(Buffer.from([0x1f, 0x81, 0x00, 0x00]), /high tag/);
    rejects(Buffer.from([0x00, 0x00]), /end-of-contents/);
    rejects(Buffer.from([0x24, 0x03, 0x04, 0x01, 0x41]), /constructed universal/);
  });

  it('checks INTEGER minimality and serial sign', () => {
    assert.throws(() => readIntegerBytes(decodeDer(Buffer.from([0x02, 0x02, 0x00, 0x01])), 'i'), /Malformed/);
    assert.throws(() => readIntegerBytes(decodeDer(Buffer.from([0x02, 0x02, 0xff, 0x80])), 'i'), /Malformed/);
    assert.throws(() => readSerialHex(decodeDer(Buffer.from([0x02, 0x01, 0x80])), 's'), /Malformed/);
    assert.equal(readSerialHex(decodeDer(encodeUnsignedInteger(Buffer.from('00ff01', 'hex'))), 's'), 'ff01');
    assert.deepEqual(encodeUnsignedInteger(Buffer.from('80', 'hex')), Buffer.from('02020080', 'hex'));
    assert.deepEqual(encodeInteger(0), Buffer.from('020100', 'hex'));
  });

  it('round-trips OIDs and refuses non-minimal arcs', () => {
    for (const oid of ['1.2.840.10045.4.3.2', '2.5.29.17', '1.3.6.1.5.5.7.48.1.5', '2.999.1']) {
      assert.equal(readOid(decodeDer(encodeOid(oid)), 'oid'), oid);
    }
    assert.throws(() => readOid(decodeDer(Buffer.from([0x06, 0x02, 0x80, 0x01])), 'oid'), /Malformed/);
    assert.throws(() => readOid(decodeDer(Buffer.from([0x06, 0x01, 0x81])), 'oid'), /Malformed/);
  });

  it('encodes times per RFC 5280 §4.1.2.5 and reads them back', () => {
    const d = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));
    assert.equal(encodeTime(d).toString('latin1', 2), '491231235959Z');
    assert.equal(encodeTime(new Date(Date.UTC(2050, 0, 1))).toString('latin1', 2), '20500101000000Z');
    assert.equal(encodeGeneralizedTime(d)[0], TAG.GENERALIZED_TIME);
    assert.equal(readTime(decodeDer(encodeTime(d)), 't').getTime(), d.getTime());
    assert.throws(() => readTime(decodeDer(Buffer.from('170d3236303233303030303030305a', 'hex')), 't'), /Malformed/); // Feb 30
    assert.throws(() => encodeTime(new Date(Number.NaN)), /range/);
  });

  it('drops trailing zero bits of named bit strings (X.690 §11.2.2)', () => {
    assert.deepEqual(encodeNamedBits([5, 6]), Buffer.from('03020106', 'hex')); // keyCertSign|cRLSign
    assert.deepEqual(encodeNamedBits([0]), Buffer.from('03020780', 'hex'));
  });

  it('encodes IPv4/IPv6 addresses for SANs', () => {
    assert.equal(ipToBytes('127.0.0.1').toString('hex'), '7f000001');
    assert.equal(ipToBytes('::1').toString('hex'), '00000000000000000000000000000001');
    assert.equal(ipToBytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
    assert.equal(ipToBytes('::ffff:10.0.0.1').toString('hex'), '00000000000000000000ffff0a000001');
    assert.throws(() => ipToBytes('10.0.0'), /Invalid IP/);
  });
});

describe('signature verification against Wycheproof ECDSA P-256/SHA-256 (DER) vectors', () => {
  it('accepts every valid vector and no invalid one', () => {
    const file = JSON.parse(readFileSync(new URL('../../../shared/data/wycheproof/ecdsa_secp256r1_sha256_test.json', import.meta.url), 'utf8')) as {
      testGroups: { publicKeyDer: string; tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
    };
    let checked = 0;
    for (const g of file.testGroups) {
      const key = createPublicKey({ key: Buffer.from(g.publicKeyDer, 'hex'), format: 'der', type: 'spki' });
      for (const t of g.tests) {
        const ok = verifySignature('sha256', key, Buffer.from(t.msg, 'hex'), Buffer.from(t.sig, 'hex'));
        if (t.result === 'valid') assert.equal(ok, true, `tcId ${t.tcId} should verify`);
        if (t.result === 'invalid') assert.equal(ok, false, `tcId ${t.tcId} should not verify`);
        checked++;
      }
    }
    assert.ok(checked > 300);
  });
});
