import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../common/clock.js';
import { ZetaError, type ErrorCode } from '../common/errors.js';
import { encodeExplicit, encodeSequence } from './der.js';
import {
  buildCrl,
  buildOcspRequest,
  buildOcspResponse,
  issueDeviceCertificate,
  matchesIssuer,
  ocspErrorResponse,
  parseOcspRequest,
  parseRevocationReason,
  pkcs7CertsOnly,
  readPkcs7Certs,
  REVOCATION_REASONS,
  toPem,
  type IssuedCert,
  type OcspCertId,
} from './index.js';
import { deviceRequest, makeHierarchy, makeTempDir, openssl, opensslOk, type Hierarchy, type TempDir } from './test-support.js';

function code(c: ErrorCode, message?: RegExp) {
  return (e: unknown): boolean => e instanceof ZetaError && e.code === c && (message === undefined || message.test(e.message));
}

const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
const HOUR = 3_600_000;

describe('revocation, PKCS#7 and OCSP (openssl as the peer)', () => {
  let dir: TempDir;
  let h: Hierarchy;
  let chainPath: string;
  const certs: IssuedCert[] = [];
  const certPaths: string[] = [];

  before(() => {
    dir = makeTempDir();
    h = makeHierarchy(dir, clock.now());
    chainPath = dir.file('chain.pem', h.issuingPem + h.rootPem);
    for (let i = 0; i < 3; i++) {
      const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
      const c = issueDeviceCertificate(deviceRequest(spki, clock.now(), { deviceId: `dev-${i}` }), h.issuing);
      certs.push(c);
      certPaths.push(dir.file(`dev-${i}.pem`, c.pem));
    }
  });
  after(() => dir.remove());

  it('has the RFC 5280 §5.3.1 reason registry and names the valid reasons on error', () => {
    assert.equal(REVOCATION_REASONS.keyCompromise, 1);
    assert.equal(REVOCATION_REASONS.removeFromCRL, 8);
    assert.equal(REVOCATION_REASONS.aACompromise, 10);
    assert.equal(parseRevocationReason('superseded'), 'superseded');
    assert.throws(() => parseRevocationReason('stolen'), code('ZETA_ERR_VALIDATION', /keyCompromise.*aACompromise/));
    assert.throws(() => parseRevocationReason('toString'), code('ZETA_ERR_VALIDATION'));
  });

  it('builds a v2 CRL that openssl verifies and reads, with reasons and extensions', () => {
    const now = clock.now();
    const der = buildCrl({
      issuer: h.issuing,
      number: 7,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 24 * HOUR),
      revoked: [
        { serialHex: certs[0]!.serialHex, revokedAt: now, reason: 'keyCompromise' },
        { serialHex: certs[1]!.serialHex, revokedAt: now, reason: 'unspecified' },
      ],
    });
    const crlDer = dir.file('crl.der', der);
    const v = opensslOk(['crl', '-inform', 'DER', '-in', crlDer, '-CAfile', chainPath, '-noout']);
    assert.match(v.stdout + v.stderr, /verify OK/);
    const text = opensslOk(['crl', '-inform', 'DER', '-in', crlDer, '-noout', '-text']).stdout;
    assert.match(text, /Version 2/);
    assert.match(text, /X509v3 CRL Number:\s+7/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text, new RegExp(`Serial Number: ${certs[0]!.serialHex.toUpperCase()}[\\s\\S]*?Key Compromise`));
    assert.match(text, new RegExp(`Serial Number: ${certs[1]!.serialHex.toUpperCase()}`));
    // unspecified carries no reasonCode entry extension (§5.3.1).
    assert.equal(text.match(/CRL Reason Code/g)?.length, 1);

    // A relying party with CRL checking refuses the revoked certificate and accepts the other.
    const crlPem = dir.file('crl.pem', toPem(der, 'X509 CRL'));
    const revoked = openssl(['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', h.rootPath, '-untrusted', h.issuingPath, certPaths[0]!]);
    assert.notEqual(revoked.status, 0);
    assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
    opensslOk(['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', h.rootPath, '-untrusted', h.issuingPath, certPaths[2]!]);
  });

  it('builds an empty CRL and refuses bad CRL inputs', () => {
    const now = clock.now();
    const der = buildCrl({ issuer: h.issuing, number: 1n, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR), revoked: [] });
    const v = opensslOk(['crl', '-inform', 'DER', '-CAfile', chainPath, '-noout'], der);
    assert.match(v.stdout + v.stderr, /verify OK/);
    const base = { issuer: h.issuing, number: 2, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) };
    assert.throws(() => buildCrl({ ...base, revoked: [{ serialHex: 'xyz', revokedAt: now, reason: 'superseded' }] }), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => buildCrl({ ...base, revoked: [{ serialHex: '01', revokedAt: now, reason: 'removeFromCRL' }] }), code('ZETA_ERR_VALIDATION', /delta/));
    assert.throws(() => buildCrl({ ...base, nextUpdate: now, revoked: [] }), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => buildCrl({ ...base, number: -1, revoked: [] }), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => buildCrl({ ...base, issuer: h.ocsp, revoked: [] }), code('ZETA_ERR_VALIDATION'));
  });

  it('makes a certs-only PKCS#7 that openssl prints (RFC 7030 §4.1.3)', () => {
    const p7 = pkcs7CertsOnly([h.issuing.certDer, h.root.certDer]);
    const out = opensslOk(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], p7).stdout;
    assert.match(out, /subject=O ?= ?test\.zeta, CN ?= ?Zeta Issuing CA/);
    assert.match(out, /subject=O ?= ?test\.zeta, CN ?= ?Zeta Root CA/);
    assert.deepEqual(readPkcs7Certs(p7), [h.issuing.certDer, h.root.certDer]);
    assert.throws(() => pkcs7CertsOnly([]), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => pkcs7CertsOnly([Buffer.from('3000', 'hex')]), code('ZETA_ERR_VALIDATION'));
  });

  it('reads requests made by openssl ocsp -reqout (SHA-1 and SHA-256 CertIDs, nonce, several certs)', () => {
    const reqPath = dir.file('req.der');
    opensslOk(['ocsp', '-issuer', h.issuingPath, '-cert', certPaths[0]!, '-cert', certPaths[1]!, '-reqout', reqPath]);
    const req = parseOcspRequest(readFileSync(reqPath));
    assert.equal(req.certIds.length, 2);
    assert.equal(req.certIds[0]!.hashAlgorithm, 'sha1');
    assert.equal(req.certIds[0]!.serialHex, certs[0]!.serialHex);
    assert.equal(req.certIds[1]!.serialHex, certs[1]!.serialHex);
    assert.equal(req.nonce?.length, 16);
    assert.ok(matchesIssuer(req.certIds[0]!, h.issuing));
    assert.ok(!matchesIssuer(req.certIds[0]!, h.root));

    opensslOk(['ocsp', '-sha256', '-no_nonce', '-issuer', h.issuingPath, '-cert', certPaths[2]!, '-reqout', reqPath]);
    const req256 = parseOcspRequest(readFileSync(reqPath));
    assert.equal(req256.certIds[0]!.hashAlgorithm, 'sha256');
    assert.equal(req256.nonce, undefined);
    assert.ok(matchesIssuer(req256.certIds[0]!, h.issuing));
  });

  it('accepts a signed request and ignores its signature', () => {
    const reqPath = dir.file('signed-req.der');
    opensslOk(['ocsp', '-issuer', h.issuingPath, '-cert', certPaths[0]!, '-signer', h.ocspPath, '-signkey', dir.file('ocsp.key.pem'), '-reqout', reqPath]);
    const req = parseOcspRequest(readFileSync(reqPath));
    assert.equal(req.certIds[0]!.serialHex, certs[0]!.serialHex);
  });

  function respond(certId: OcspCertId, status: 'good' | 'revoked' | 'unknown', nonce: Buffer | undefined, delegated: boolean): Buffer {
    const now = clock.now();
    return buildOcspResponse({
      responder: delegated ? h.ocsp : h.issuing,
      ...(delegated ? {} : { includeCerts: [] }),
      responses: [
        {
          certId,
          status,
          ...(status === 'revoked' ? { revokedAt: new Date(now.getTime() - HOUR), reason: 'keyCompromise' as const } : {}),
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + HOUR),
        },
      ],
      ...(nonce === undefined ? {} : { nonce }),
      producedAt: now,
    });
  }

  it('answers good/revoked in responses openssl verifies, with delegated and CA responders', () => {
    for (const delegated of [true, false]) {
      const reqPath = dir.file('q.der');
      opensslOk(['ocsp', '-issuer', h.issuingPath, '-cert', certPaths[0]!, '-reqout', reqPath]);
      const req = parseOcspRequest(readFileSync(reqPath));
      for (const status of ['good', 'revoked'] as const) {
        const respPath = dir.file('r.der', respond(req.certIds[0]!, status, req.nonce, delegated));
        // With -reqin openssl checks the echoed nonce against the request (RFC 8954 §2.1).
        const withNonce = opensslOk(['ocsp', '-respin', respPath, '-reqin', reqPath, '-CAfile', h.rootPath, '-verify_other', h.issuingPath]);
        assert.match(withNonce.stderr + withNonce.stdout, /Response verify OK/, `${status} delegated=${delegated}`);
        assert.doesNotMatch(withNonce.stderr + withNonce.stdout, /nonce/i);
        // With -issuer/-cert it matches the CertID and prints the status.
        const r = opensslOk([
          'ocsp', '-respin', respPath, '-no_nonce', '-issuer', h.issuingPath, '-cert', certPaths[0]!,
          '-CAfile', h.rootPath, '-verify_other', h.issuingPath,
        ]);
        assert.match(r.stderr + r.stdout, /Response verify OK/);
        assert.match(r.stdout, new RegExp(`dev-0\\.pem: ${status}`));
        if (status === 'revoked') assert.match(r.stdout, /Reason: keyCompromise/);
      }
    }
    const text = opensslOk(['ocsp', '-respin', dir.file('r.der'), '-resp_text', '-noverify']).stdout;
    assert.match(text, /Responder Id: [0-9A-F]{40}/);
    assert.match(text, /OCSP Nonce/);
  });

  it('includes the delegated responder certificate and answers unknown', () => {
    const req = parseOcspRequest(buildOcspRequest(certs[2]!.der, h.issuing.certDer, Buffer.alloc(20, 7)));
    assert.deepEqual(req.nonce, Buffer.alloc(20, 7));
    const resp = respond(req.certIds[0]!, 'unknown', req.nonce, true);
    const text = opensslOk(['ocsp', '-respin', dir.file('u.der', resp), '-resp_text', '-noverify']).stdout;
    assert.match(text, /Cert Status: unknown/);
    assert.match(text, /Zeta OCSP Responder/);
    // buildOcspRequest makes what openssl reads as a request.
    assert.match(opensslOk(['ocsp', '-reqin', dir.file('mine.der', buildOcspRequest(certs[2]!.der, h.issuing.certDer)), '-req_text']).stdout, /Serial Number: [0-9A-F]+/);
  });

  it('makes unsigned error responses', () => {
    assert.deepEqual(ocspErrorResponse('malformedRequest'), Buffer.from('30030a0101', 'hex'));
    const r = openssl(['ocsp', '-respin', dir.file('e.der', ocspErrorResponse('unauthorized')), '-resp_text']);
    assert.match(r.stdout + r.stderr, /unauthorized \(6\)/);
    assert.deepEqual(ocspErrorResponse('tryLater'), Buffer.from('30030a0103', 'hex'));
  });

  it('refuses malformed and oversized OCSP requests', () => {
    const good = buildOcspRequest(certs[0]!.der, h.issuing.certDer, Buffer.alloc(16, 1));
    assert.throws(() => parseOcspRequest(good.subarray(0, good.length - 3)), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => parseOcspRequest(Buffer.concat([good, Buffer.from([0])])), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => parseOcspRequest(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30])), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => parseOcspRequest(Buffer.alloc(1024 * 1024, 0x30)), code('ZETA_ERR_PAYLOAD_TOO_LARGE'));
    assert.throws(() => parseOcspRequest(Buffer.from('garbage')), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => buildOcspRequest(certs[0]!.der, h.issuing.certDer, Buffer.alloc(33)), code('ZETA_ERR_VALIDATION'));
    // 17 CertIDs: over the limit.
    const one = parseOcspRequest(good);
    const request = (n: number): Buffer => {
      const single = buildOcspRequest(certs[0]!.der, h.issuing.certDer);
      // OCSPRequest → TBSRequest → requestList → Request: repeat the Request n times.
      const reqDer = single.subarray(6); // 30 L 30 L 30 L | Request
      return encodeSequence(encodeSequence(encodeSequence(...Array.from({ length: n }, () => reqDer))));
    };
    assert.equal(parseOcspRequest(request(16)).certIds.length, 16);
    assert.throws(() => parseOcspRequest(request(17)), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => parseOcspRequest(encodeSequence(encodeSequence(encodeSequence()))), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.throws(() => parseOcspRequest(encodeSequence(encodeSequence(encodeExplicit(0, Buffer.from('020105', 'hex')), encodeSequence()))), code('ZETA_ERR_OCSP_MALFORMED'));
    assert.equal(one.certIds.length, 1);
  });
});
