import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { ManualClock } from '../common/clock.js';
import { createIssuingCaCert, createRootCaCert, createServerCert, type CaCert, type Signer } from '../pki/index.js';
import { startAkActivation } from './ak-binding.js';
import { verifyEkCertificate } from './ek-chain.js';
import { NonceRegistry } from './nonce-registry.js';
import { parseTpmPublic } from './tpm-public.js';

/** An in-memory P-256 signer: the pki Signer contract without a key file. */
function memSigner(): Signer & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { keyType: 'p256', publicKeySpki: publicKey.export({ type: 'spki', format: 'der' }), privateKey, sign: (d: Buffer) => sign('sha256', d, privateKey) };
}

function ca(id: string, certDer: Buffer, signer: Signer): CaCert {
  return { id, certDer, signer };
}

const now = new Date(Date.UTC(2026, 0, 1));

function pki(): { root: Buffer; issuing: CaCert } {
  const rootSigner = memSigner();
  const root = createRootCaCert({ signer: rootSigner, trustDomain: 'tpm-vendor.example', now, commonName: 'Vendor EK Root' });
  const issSigner = memSigner();
  const issuing = createIssuingCaCert({ root: ca('root', root, rootSigner), signer: issSigner, trustDomain: 'tpm-vendor.example', now, commonName: 'Vendor EK Issuing' });
  return { root, issuing: ca('iss', issuing, issSigner) };
}

/** An ECC P-256 EK (TCG template L-2 shape) and its TPMT_PUBLIC. */
function eccEk(): { pub: Buffer; spki: Buffer } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const j = publicKey.export({ format: 'jwk' });
  const xy = [j.x, j.y].map((v) => '0020' + Buffer.from(v ?? '', 'base64url').toString('hex')).join('');
  const pub = Buffer.from(`0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa000600800043001000030010${xy}`, 'hex');
  return { pub, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

function ekCert(issuing: CaCert, spki: Buffer): Buffer {
  return createServerCert({ issuer: issuing, spki, dnsNames: ['ek.tpm.invalid'], ipAddresses: [], now });
}

describe('EK certificate chain', () => {
  const vendor = pki();
  const ek = eccEk();
  const cert = ekCert(vendor.issuing, ek.spki);

  it('accepts an EK certificate that chains to a configured manufacturer root and is for this EK', () => {
    const r = verifyEkCertificate({ ekCert: cert, intermediates: [vendor.issuing.certDer], roots: [vendor.root], ekPublic: parseTpmPublic(ek.pub), at: now });
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.chain.length, 2);
  });

  it('refuses an EK chain to an unknown root', () => {
    const other = pki();
    const r = verifyEkCertificate({ ekCert: cert, intermediates: [vendor.issuing.certDer], roots: [other.root], at: now });
    assert.equal(r.ok ? 'ok' : r.reason, 'ek-chain-untrusted');
  });

  it('refuses when the intermediate is missing, when no roots are configured, and outside validity', () => {
    assert.equal(verifyEkCertificate({ ekCert: cert, roots: [vendor.root], at: now }).ok, false);
    const none = verifyEkCertificate({ ekCert: cert, intermediates: [vendor.issuing.certDer], roots: [], at: now });
    assert.equal(none.ok ? 'ok' : none.reason, 'ek-chain-untrusted');
    const later = verifyEkCertificate({ ekCert: cert, intermediates: [vendor.issuing.certDer], roots: [vendor.root], at: new Date(Date.UTC(2040, 0, 1)) });
    assert.equal(later.ok ? 'ok' : later.reason, 'ek-chain-untrusted');
  });

  it('refuses a valid certificate for another key (ek-cert-mismatch)', () => {
    const r = verifyEkCertificate({ ekCert: cert, intermediates: [vendor.issuing.certDer], roots: [vendor.root], ekPublic: parseTpmPublic(eccEk().pub), at: now });
    assert.equal(r.ok ? 'ok' : r.reason, 'ek-cert-mismatch');
  });

  it('startAkActivation refuses an AK that is not a restricted TPM signing key (here: the EK itself)', () => {
    const r = startAkActivation({ ekPublic: ek.pub, ekCert: cert, ekIntermediates: [vendor.issuing.certDer], akPublic: ek.pub, manufacturerRoots: [vendor.root], at: now });
    assert.equal(r.ok ? 'ok' : r.reason, 'ak-not-restricted');
  });
});

describe('NonceRegistry', () => {
  it('a nonce is used once, by the device it was issued to, before it expires', () => {
    const clock = new ManualClock();
    const reg = new NonceRegistry({ clock, ttlMs: 1000 });
    const a = reg.issue('dev-a');
    assert.equal(a.length, 32);
    assert.equal(reg.consume('dev-b', a), 'unknown');
    assert.equal(reg.consume('dev-a', a), 'ok');
    assert.equal(reg.consume('dev-a', a), 'replayed');
    const b = reg.issue('dev-a');
    clock.advance(1001);
    assert.equal(reg.consume('dev-a', b), 'expired');
    assert.equal(reg.consume('dev-a', Buffer.alloc(32)), 'unknown');
  });
});
