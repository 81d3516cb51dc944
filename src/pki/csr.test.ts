import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { ZetaError, type ErrorCode } from '../common/errors.js';
import { decodeBase64Body, parseCsr } from './csr.js';
import { keyTypeOfSpki } from './key-types.js';
import { makeTempDir, opensslOk, type TempDir } from './test-support.js';

const MAX = 16 * 1024;

function code(c: ErrorCode, message?: RegExp) {
  return (e: unknown): boolean => e instanceof ZetaError && e.code === c && (message === undefined || message.test(e.message));
}

describe('CSR intake (openssl req as the peer)', () => {
  let dir: TempDir;
  const csrs: Record<string, Buffer> = {};

  function makeCsr(name: string, newkey: string[]): void {
    const out = dir.file(`${name}.csr`);
    // The subject says something else on purpose: the CSR never names the identity.
    opensslOk(['req', '-new', ...newkey, '-nodes', '-keyout', dir.file(`${name}.key`), '-subj', '/CN=admin/O=evil', '-outform', 'DER', '-out', out]);
    csrs[name] = opensslOk(['req', '-in', out, '-inform', 'DER', '-outform', 'DER']).out;
  }

  before(() => {
    dir = makeTempDir();
    makeCsr('p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    makeCsr('p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    makeCsr('p384sha384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384']);
    makeCsr('ed25519', ['-newkey', 'ed25519']);
    makeCsr('rsa1024', ['-newkey', 'rsa:1024']);
    makeCsr('rsa2048', ['-newkey', 'rsa:2048']);
    makeCsr('k256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
  });
  after(() => dir.remove());

  it('accepts P-256, P-384 (SHA-256 or SHA-384) and Ed25519 with proof of possession', () => {
    for (const [name, kt] of [['p256', 'p256'], ['p384', 'p384'], ['p384sha384', 'p384'], ['ed25519', 'ed25519']] as const) {
      const r = parseCsr(csrs[name]!, MAX);
      assert.equal(r.keyType, kt, name);
      assert.equal(keyTypeOfSpki(r.spki), kt);
      assert.match(r.subjectDer.toString('latin1'), /admin/);
    }
  });

  it('refuses RSA and secp256k1 keys, naming what was sent', () => {
    assert.throws(() => parseCsr(csrs.rsa1024!, MAX), code('ZETA_ERR_KEY_REFUSED', /^RSA 1024-bit keys are not allowed; use P-256, P-384 or Ed25519/));
    assert.throws(() => parseCsr(csrs.rsa2048!, MAX), code('ZETA_ERR_KEY_REFUSED', /^RSA 2048-bit keys/));
    assert.throws(() => parseCsr(csrs.k256!, MAX), code('ZETA_ERR_KEY_REFUSED', /secp256k1/));
  });

  it('refuses a CSR whose EC point is not on the curve, before checking its signature', () => {
    for (const name of ['p256', 'p384']) {
      const bad = Buffer.from(csrs[name]!);
      const key = parseCsr(csrs[name]!, MAX).spki;
      const at = bad.indexOf(key) + key.length - 1; // last octet of the point's y coordinate
      bad[at]! ^= 0x01;
      assert.throws(() => parseCsr(bad, MAX), code('ZETA_ERR_KEY_REFUSED', /malformed/), name);
    }
  });

  it('refuses a CSR whose signature was tampered with (flip a byte)', () => {
    for (const name of ['p256', 'ed25519']) {
      const bad = Buffer.from(csrs[name]!);
      bad[bad.length - 5]! ^= 0x01;
      assert.throws(() => parseCsr(bad, MAX), code('ZETA_ERR_CSR_SIGNATURE'));
    }
    // A changed byte inside certificationRequestInfo (the subject) breaks the signature too.
    const bad = Buffer.from(csrs.p256!);
    const at = bad.indexOf('admin');
    bad[at] = 'b'.charCodeAt(0);
    assert.throws(() => parseCsr(bad, MAX), code('ZETA_ERR_CSR_SIGNATURE'));
  });

  it('refuses truncated DER, trailing garbage, oversized length fields, deep nesting', () => {
    const good = csrs.p256!;
    assert.throws(() => parseCsr(good.subarray(0, good.length - 10), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => parseCsr(Buffer.concat([good, Buffer.from('garbage')]), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    const huge = Buffer.from(good);
    huge[1] = 0x84; // claim a 4-octet length
    assert.throws(() => parseCsr(Buffer.concat([Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), good.subarray(3)]), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => parseCsr(Buffer.from([0x30, 0x80, 0x00, 0x00]), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    let deep = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < 500; i++) deep = Buffer.concat([Buffer.from(deep.length < 128 ? [0x30, deep.length] : [0x30, 0x82, deep.length >> 8, deep.length & 0xff]), deep]);
    assert.throws(() => parseCsr(deep, MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => parseCsr(Buffer.alloc(0), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => parseCsr(Buffer.from('not der at all'), MAX), code('ZETA_ERR_CSR_MALFORMED'));
  });

  it('refuses an oversized CSR before parsing it', () => {
    assert.throws(() => parseCsr(Buffer.alloc(1024 * 1024, 0x30), MAX), code('ZETA_ERR_PAYLOAD_TOO_LARGE'));
  });

  it('decodes EST base64 bodies (RFC 7030 §4.2.1) with CRLF and whitespace', () => {
    const good = csrs.p256!;
    const b64 = good.toString('base64').replace(/(.{64})/g, '$1\r\n');
    assert.deepEqual(decodeBase64Body(b64, MAX), good);
    assert.deepEqual(decodeBase64Body(Buffer.from(`  ${b64}\n\t`), MAX), good);
    assert.deepEqual(parseCsr(decodeBase64Body(b64, MAX), MAX).keyType, 'p256');
  });

  it('refuses empty, garbage, wrong-alphabet and oversized bodies', () => {
    assert.throws(() => decodeBase64Body('', MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => decodeBase64Body(' \r\n', MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => decodeBase64Body('%%%not base64%%%', MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => decodeBase64Body('abc', MAX), code('ZETA_ERR_CSR_MALFORMED')); // bad padding
    assert.throws(() => decodeBase64Body('ab-_', MAX), code('ZETA_ERR_CSR_MALFORMED')); // base64url alphabet
    assert.throws(() => decodeBase64Body(Buffer.from([0xc3, 0xa9, 0x41, 0x41]), MAX), code('ZETA_ERR_CSR_MALFORMED'));
    assert.throws(() => decodeBase64Body(Buffer.alloc(1024 * 1024, 0x41), MAX), code('ZETA_ERR_PAYLOAD_TOO_LARGE'));
    assert.throws(() => decodeBase64Body(Buffer.alloc(MAX * 2).toString('base64'), MAX), code('ZETA_ERR_PAYLOAD_TOO_LARGE'));
  });
});

describe('key-type registry', () => {
  it('classifies node-generated keys and refuses others', () => {
    const spki = (k: ReturnType<typeof generateKeyPairSync>['publicKey']): Buffer => k.export({ type: 'spki', format: 'der' });
    assert.equal(keyTypeOfSpki(spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)), 'p256');
    assert.equal(keyTypeOfSpki(spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)), 'p384');
    assert.equal(keyTypeOfSpki(spki(generateKeyPairSync('ed25519').publicKey)), 'ed25519');
    assert.throws(() => keyTypeOfSpki(spki(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey)), code('ZETA_ERR_KEY_REFUSED', /P-521/));
    assert.throws(() => keyTypeOfSpki(spki(generateKeyPairSync('x25519').publicKey)), code('ZETA_ERR_KEY_REFUSED', /X25519/));
    assert.throws(() => keyTypeOfSpki(spki(generateKeyPairSync('ed448').publicKey)), code('ZETA_ERR_KEY_REFUSED', /Ed448/));
    assert.throws(() => keyTypeOfSpki(Buffer.from('3000', 'hex')), code('ZETA_ERR_KEY_REFUSED', /malformed/));
    const p256 = spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    assert.throws(() => keyTypeOfSpki(p256.subarray(0, 80)), code('ZETA_ERR_KEY_REFUSED'));
  });
});
