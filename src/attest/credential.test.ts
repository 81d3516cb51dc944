import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDecipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import { encodeTpm2ToolsCredential, kdfa, kdfe, makeCredential } from './credential.js';
import { HASH_ALGS } from './tpm-alg.js';
import { akAttributeProblems, parseTpmPublic } from './tpm-public.js';

// TCG EK Credential Profile 2.x, template L-1/L-2: attributes and the PolicySecret(endorsement) policy.
const EK_ATTRS = '000300b2';
const EK_POLICY = '0020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa';
const AES128_CFB = '000600800043';

function b(jwkField: string | undefined): Buffer {
  return Buffer.from(jwkField ?? '', 'base64url');
}

function len(x: Buffer): string {
  return x.length.toString(16).padStart(4, '0') + x.toString('hex');
}

function rsaEk(): { pub: Buffer; priv: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const n = b(publicKey.export({ format: 'jwk' }).n);
  return { pub: Buffer.from(`0001000b${EK_ATTRS}${EK_POLICY}${AES128_CFB}0010080000000000${len(n)}`, 'hex'), priv: privateKey };
}

function eccEk(): { pub: Buffer; priv: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const j = publicKey.export({ format: 'jwk' });
  return { pub: Buffer.from(`0023000b${EK_ATTRS}${EK_POLICY}${AES128_CFB}001000030010${len(b(j.x))}${len(b(j.y))}`, 'hex'), priv: privateKey };
}

/** TPM2_ActivateCredential's computation (Part 1 §24.6), written from the spec for the round trip. */
function activate(ekPub: Buffer, ekPriv: KeyObject, akName: Buffer, blob: Buffer, encSecret: Buffer): Buffer {
  const ek = parseTpmPublic(ekPub);
  const sha = HASH_ALGS.sha256;
  const secretBody = encSecret.subarray(2);
  let seed: Buffer;
  if (ek.type === 'rsa') {
    seed = privateDecrypt({ key: ekPriv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('IDENTITY\0') }, secretBody);
  } else {
    const xl = secretBody.readUInt16BE(0);
    const x = secretBody.subarray(2, 2 + xl);
    const y = secretBody.subarray(4 + xl);
    const eph = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
    const z = diffieHellman({ privateKey: ekPriv, publicKey: eph });
    seed = kdfe(sha, z, 'IDENTITY', x, ek.ecc?.x ?? Buffer.alloc(0), 256);
  }
  const body = blob.subarray(2);
  const hmacLen = body.readUInt16BE(0);
  const integrity = body.subarray(2, 2 + hmacLen);
  const encIdentity = body.subarray(2 + hmacLen);
  const hmacKey = kdfa(sha, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256);
  assert.ok(createHmac('sha256', hmacKey).update(encIdentity).update(akName).digest().equals(integrity), 'integrity HMAC');
  const symKey = kdfa(sha, seed, 'STORAGE', akName, Buffer.alloc(0), 128);
  const d = createDecipheriv('aes-128-cfb', symKey, Buffer.alloc(16));
  const plain = Buffer.concat([d.update(encIdentity), d.final()]);
  return plain.subarray(2, 2 + plain.readUInt16BE(0));
}

describe('makeCredential (TPM 2.0 Part 1 §24)', () => {
  const akName = Buffer.from('000b' + 'ab'.repeat(32), 'hex');
  const secret = Buffer.from('a secret for the AK only');

  it('RSA EK: OAEP("IDENTITY") seed; the spec-side activation recovers the secret', () => {
    const ek = rsaEk();
    const c = makeCredential(ek.pub, akName, secret);
    assert.equal(c.encryptedSecret.readUInt16BE(0), 256);
    assert.ok(activate(ek.pub, ek.priv, akName, c.credentialBlob, c.encryptedSecret).equals(secret));
  });

  it('ECC EK: ECDH + KDFe seed (encrypted secret = ephemeral TPMS_ECC_POINT); the spec-side activation recovers it', () => {
    const ek = eccEk();
    const c = makeCredential(ek.pub, akName, secret);
    const point = c.encryptedSecret.subarray(2);
    assert.equal(point.readUInt16BE(0), 32);
    assert.ok(activate(ek.pub, ek.priv, akName, c.credentialBlob, c.encryptedSecret).equals(secret));
  });

  it('refuses a secret longer than the EK nameAlg digest, and a non-EK key', () => {
    const ek = rsaEk();
    assert.throws(() => makeCredential(ek.pub, akName, Buffer.alloc(33)), { code: 'ZETA_ERR_VALIDATION' });
    const noSym = Buffer.from(ek.pub.toString('hex').replace(AES128_CFB, '0010'), 'hex');
    assert.throws(() => makeCredential(noSym, akName, secret), { code: 'ZETA_ERR_TPM_MALFORMED' });
  });

  it('writes the tpm2-tools file: 0xBADCC0DE, version 1, ID object, encrypted secret', () => {
    const c = makeCredential(rsaEk().pub, akName, secret);
    const f = encodeTpm2ToolsCredential(c);
    assert.equal(f.readUInt32BE(0), 0xbadcc0de);
    assert.equal(f.readUInt32BE(4), 1);
    assert.ok(f.subarray(8).equals(Buffer.concat([c.credentialBlob, c.encryptedSecret])));
  });

  it('KDFa is deterministic, sized in bits, and label-separated', () => {
    const k = Buffer.alloc(32, 7);
    assert.equal(kdfa(HASH_ALGS.sha256, k, 'STORAGE', Buffer.alloc(0), Buffer.alloc(0), 128).length, 16);
    assert.equal(kdfa(HASH_ALGS.sha256, k, 'X', Buffer.alloc(0), Buffer.alloc(0), 512).length, 64);
    assert.notDeepEqual(kdfa(HASH_ALGS.sha256, k, 'STORAGE', Buffer.alloc(0), Buffer.alloc(0), 256), kdfa(HASH_ALGS.sha256, k, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256));
  });

  it('an EK is not an AK: restricted decryption key, missing sign', () => {
    assert.ok(akAttributeProblems(parseTpmPublic(rsaEk().pub)).some((p) => p.startsWith('sign')));
  });

  it('activation helper round trip for RSA through the generic path', () => {
    const ek = rsaEk();
    const c = makeCredential(ek.pub, akName, secret);
    assert.throws(() => activate(ek.pub, ek.priv, Buffer.from('000b' + 'cd'.repeat(32), 'hex'), c.credentialBlob, c.encryptedSecret), /integrity HMAC/);
  });
});
