import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, statSync } from 'node:fs';
import { ManualClock } from '../common/clock.js';
import { ZetaError, type ErrorCode } from '../common/errors.js';
import {
  createIssuingCaCert,
  createServerCert,
  describeCa,
  FileSigner,
  fromPem,
  issueDeviceCertificate,
  openSigner,
  parseCsr,
  sha256Hex,
  splitPemCerts,
  toPem,
  type CaCert,
  type KeyType,
} from './index.js';
import { keyIdentifier, parseCertificate, readSubjectKeyIdentifier } from './x509.js';
import { OID } from './oids.js';
import { deviceRequest, makeHierarchy, makeTempDir, openssl, opensslOk, type Hierarchy, type TempDir } from './test-support.js';

function code(c: ErrorCode, message?: RegExp) {
  return (e: unknown): boolean => e instanceof ZetaError && e.code === c && (message === undefined || message.test(e.message));
}

function spkiOf(kind: KeyType | 'rsa'): Buffer {
  const k =
    kind === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : kind === 'p384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : kind === 'ed25519'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 1024 });
  return k.publicKey.export({ type: 'spki', format: 'der' });
}

// Real time: openssl checks OCSP/cert validity against its own clock. Time-dependent checks move
// the ManualClock or pass -attime.
const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);

describe('CA hierarchy and device issuance (openssl as the relying party)', () => {
  let dir: TempDir;
  let h: Hierarchy;

  before(() => {
    dir = makeTempDir();
    h = makeHierarchy(dir, clock.now());
  });
  after(() => dir.remove());

  it('makes a root and an issuing CA that openssl accepts, with the constraints asked', () => {
    opensslOk(['verify', '-CAfile', h.rootPath, h.issuingPath]);
    const root = opensslOk(['x509', '-in', h.rootPath, '-noout', '-text']).stdout;
    assert.match(root, /CA:TRUE, pathlen:1/);
    assert.match(root, /Certificate Sign, CRL Sign/);
    assert.match(root, /Subject: O ?= ?test\.zeta, CN ?= ?Zeta Root CA/);
    const issuing = opensslOk(['x509', '-in', h.issuingPath, '-noout', '-text']).stdout;
    assert.match(issuing, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(issuing, /Digital Signature, Certificate Sign, CRL Sign/);
    assert.match(issuing, /X509v3 Authority Key Identifier:/);
    const info = describeCa(h.issuing);
    assert.ok(info.notAfter <= describeCa(h.root).notAfter);
    assert.equal(info.ski.length, 20);
  });

  it('caps the issuing CA at the root notAfter', () => {
    const s = FileSigner.generate(dir.file('long.key.pem'), 'p256');
    const der = createIssuingCaCert({ root: h.root, signer: s, trustDomain: 'test.zeta', now: clock.now(), validityDays: 20000 });
    assert.equal(new Date(new X509Certificate(der).validTo).getTime(), describeCa(h.root).notAfter.getTime());
  });

  it('makes an OCSP responder certificate with OCSPSigning and ocsp-nocheck (RFC 6960 §4.2.2.2.1)', () => {
    const text = opensslOk(['x509', '-in', h.ocspPath, '-noout', '-text']).stdout;
    assert.match(text, /OCSP Signing/);
    assert.match(text, /OCSP No Check/);
    assert.match(text, /CA:FALSE/);
    opensslOk(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, '-purpose', 'ocsphelper', h.ocspPath]);
  });

  it('issues device certificates that openssl verifies, for P-256, P-384 and Ed25519 keys', () => {
    for (const kt of ['p256', 'p384', 'ed25519'] as const) {
      const c = issueDeviceCertificate(deviceRequest(spkiOf(kt), clock.now(), { deviceId: `dev-${kt}` }), h.issuing);
      const path = dir.file(`dev-${kt}.pem`, c.pem);
      const v = opensslOk(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, '-purpose', 'sslclient', '-show_chain', path]);
      assert.match(v.stdout, /OK/);
      const text = opensslOk(['x509', '-in', path, '-noout', '-text']).stdout;
      assert.match(text, new RegExp(`URI:spiffe://test\\.zeta/device/dev-${kt}`));
      assert.match(text, /Subject: O ?= ?test\.zeta, CN ?= ?dev-/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
      assert.match(text, kt === 'ed25519' ? /Digital Signature\n/ : /Digital Signature, Key Agreement/);
      assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
      assert.match(text, /OCSP - URI:http:\/\/pki\.test\.zeta:8080\/ocsp/);
      assert.match(text, /CA Issuers - URI:http:\/\/pki\.test\.zeta:8080\/ca\/issuing\.der/);
      assert.match(text, /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.test\.zeta:8080\/crl\/issuing\.crl/);
      assert.match(text, /X509v3 Subject Key Identifier/);
      // Not usable as a TLS server or a CA.
      assert.notEqual(openssl(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, '-purpose', 'sslserver', path]).status, 0);
    }
  });

  it('returns consistent metadata and agrees with X509Certificate (differential check)', () => {
    const spki = spkiOf('p256');
    const now = clock.now();
    const req = deviceRequest(spki, new Date(now.getTime() + 1234), { notAfter: new Date(now.getTime() + 86_400_000 + 999) });
    const c = issueDeviceCertificate(req, h.issuing);
    const x = new X509Certificate(c.der);
    assert.equal(x.serialNumber.toLowerCase().replace(/^0+/, ''), c.serialHex);
    assert.match(c.serialHex, /^[1-7][0-9a-f]{31}$/);
    assert.equal(x.fingerprint256.replace(/:/g, '').toLowerCase(), c.fingerprintSha256);
    assert.equal(sha256Hex(spki), c.spkiSha256);
    assert.equal(new Date(x.validFrom).getTime(), c.notBefore.getTime());
    assert.equal(new Date(x.validTo).getTime(), c.notAfter.getTime());
    assert.equal(c.notBefore.getTime() % 1000, 0);
    assert.equal(x.subjectAltName, 'URI:spiffe://test.zeta/device/sensor-01');
    assert.ok(x.verify(describeCa(h.issuing).publicKey));
    assert.ok(x.checkIssued(new X509Certificate(h.issuing.certDer)));
    assert.deepEqual(fromPem(c.pem, 'CERTIFICATE'), c.der);
    // RFC 7093 §2 method 1 SKI, written in place by the template stage.
    const parsed = parseCertificate(c.der);
    assert.deepEqual(readSubjectKeyIdentifier(parsed.extensions.get(OID.subjectKeyIdentifier)), keyIdentifier(spki.subarray(spki.length - 65)));
    // Certificates of the same shape after the first (fast re-verify) agree with OpenSSL too.
    for (let i = 0; i < 20; i++) {
      const k = spkiOf(i % 2 === 0 ? 'p256' : 'ed25519');
      const d = issueDeviceCertificate(deviceRequest(k, now, { deviceId: `d-${i}` }), h.issuing);
      const y = new X509Certificate(d.der);
      assert.ok(y.verify(describeCa(h.issuing).publicKey));
      assert.equal(y.subjectAltName, `URI:spiffe://test.zeta/device/d-${i}`);
      assert.ok(y.publicKey.export({ type: 'spki', format: 'der' }).equals(k));
      assert.equal(y.serialNumber.toLowerCase().replace(/^0+/, ''), d.serialHex);
    }
  });

  it('uses a caller-chosen serial and reports it without a leading 00', () => {
    const c = issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now(), { serial: Buffer.from('00ff0102', 'hex') }), h.issuing);
    assert.equal(c.serialHex, 'ff0102');
    assert.equal(new X509Certificate(c.der).serialNumber.toLowerCase(), 'ff0102');
    assert.match(opensslOk(['x509', '-noout', '-serial'], c.pem).stdout, /serial=FF0102/);
  });

  it('runs authorize first and refuses with ZETA_ERR_ISSUANCE naming the stage', () => {
    const calls: string[] = [];
    assert.throws(
      () =>
        issueDeviceCertificate(deviceRequest(spkiOf('rsa'), clock.now()), h.issuing, () => {
          calls.push('authorize');
          throw new ZetaError('ZETA_ERR_DEVICE_STATE', 'device is suspended');
        }),
      (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_ISSUANCE' && e.fields?.['stage'] === 'authorize' && /suspended/.test(e.message),
    );
    assert.deepEqual(calls, ['authorize']);
    // The callback sees a frozen snapshot: it cannot swap the key after being asked.
    assert.throws(
      () =>
        issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now()), h.issuing, (r) => {
          (r as { spki: Buffer }).spki = spkiOf('rsa');
        }),
      code('ZETA_ERR_ISSUANCE'),
    );
  });

  it('enforces constraints: device id, key type, validity inside the issuer, URLs', () => {
    const now = clock.now();
    const spki = spkiOf('p256');
    const refused = (over: Parameters<typeof deviceRequest>[2], reason: RegExp): void => {
      assert.throws(
        () => issueDeviceCertificate(deviceRequest(over?.spki ?? spki, now, over), h.issuing),
        (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_ISSUANCE' && e.fields?.['stage'] === 'constraints' && reason.test(e.message),
      );
    };
    refused({ deviceId: 'Bad_ID' }, /device id/);
    refused({ deviceId: '-x' }, /device id/);
    refused({ deviceId: 'a'.repeat(64) }, /device id/);
    refused({ deviceId: '../root' }, /device id/);
    refused({ trustDomain: 'Evil Domain' }, /trust domain/);
    refused({ spki: spkiOf('rsa') }, /RSA 1024-bit keys are not allowed/);
    refused({ notAfter: now }, /notBefore must be before notAfter/);
    refused({ notAfter: new Date(describeCa(h.issuing).notAfter.getTime() + 1000) }, /notAfter is later than the issuing CA/);
    refused({ ocspUrl: 'ftp://x/ocsp' }, /OCSP URL/);
    refused({ crlUrl: 'http://x/\u00e9' }, /CRL URL/);
    refused({ serial: Buffer.alloc(21, 0x11) }, /20 octets/);
    refused({ serial: Buffer.from([0, 0]) }, /positive/);
  });

  it('refuses to issue from a CA whose signer does not hold the certificate key', () => {
    const wrong: CaCert = { id: 'wrong', certDer: h.issuing.certDer, signer: h.root.signer };
    assert.throws(() => issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now()), wrong), code('ZETA_ERR_ISSUANCE'));
  });

  it('re-verify catches a signer that returns a bad signature', () => {
    const s = h.issuing.signer;
    const faulty: CaCert = {
      id: 'faulty',
      certDer: h.issuing.certDer,
      signer: { keyType: s.keyType, publicKeySpki: s.publicKeySpki, sign: (d) => h.root.signer.sign(d) },
    };
    assert.throws(
      () => issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now()), faulty),
      (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_ISSUANCE' && e.fields?.['stage'] === 're-verify',
    );
  });

  it('issues a certificate that stops verifying when the clock passes notAfter', () => {
    const c = issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now()), h.issuing);
    const path = dir.file('expiring.pem', c.pem);
    const at = (d: Date): string[] => ['-attime', String(Math.floor(d.getTime() / 1000))];
    opensslOk(['verify', ...at(clock.now()), '-CAfile', h.rootPath, '-untrusted', h.issuingPath, path]);
    const later = new ManualClock(clock.now());
    later.advance(31 * 86_400_000);
    const r = openssl(['verify', ...at(later.now()), '-CAfile', h.rootPath, '-untrusted', h.issuingPath, path]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /expired/);
  });

  it('issues from a CSR end to end: openssl req → parseCsr → issue → openssl verify', () => {
    opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', dir.file('e2e.key'), '-subj', '/CN=not-me', '-outform', 'DER', '-out', dir.file('e2e.csr')]);
    const csr = parseCsr(opensslOk(['req', '-in', dir.file('e2e.csr'), '-inform', 'DER', '-outform', 'DER']).out, 16_384);
    const c = issueDeviceCertificate(deviceRequest(csr.spki, clock.now(), { deviceId: 'cam-7' }), h.issuing);
    const path = dir.file('e2e.pem', c.pem);
    opensslOk(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, path]);
    // The certificate carries the device record's identity, not the CSR's subject.
    assert.match(new X509Certificate(c.der).subject, /CN=cam-7/);
    // ... and the key the device holds.
    const pub = opensslOk(['pkey', '-in', dir.file('e2e.key'), '-pubout']).stdout;
    const certPub = opensslOk(['x509', '-in', path, '-noout', '-pubkey']).stdout;
    assert.equal(certPub, pub);
  });

  it('makes a TLS server certificate with DNS and IP SANs', () => {
    const der = createServerCert({ issuer: h.issuing, spki: spkiOf('p256'), dnsNames: ['zeta.local', 'localhost'], ipAddresses: ['127.0.0.1', '::1'], now: clock.now() });
    const path = dir.file('server.pem', toPem(der, 'CERTIFICATE'));
    opensslOk(['verify', '-CAfile', h.rootPath, '-untrusted', h.issuingPath, '-purpose', 'sslserver', path]);
    const text = opensslOk(['x509', '-in', path, '-noout', '-text']).stdout;
    assert.match(text, /DNS:zeta\.local, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /TLS Web Server Authentication/);
    assert.throws(() => createServerCert({ issuer: h.issuing, spki: spkiOf('p256'), dnsNames: ['Bad Name'], ipAddresses: [], now: clock.now() }), code('ZETA_ERR_VALIDATION'));
  });

  it('builds the same hierarchy with P-384 and Ed25519 CA keys', () => {
    for (const kt of ['p384', 'ed25519'] as const) {
      const d = makeTempDir();
      try {
        const hh = makeHierarchy(d, clock.now(), 'test.zeta', kt);
        const c = issueDeviceCertificate(deviceRequest(spkiOf('p256'), clock.now()), hh.issuing);
        opensslOk(['verify', '-CAfile', hh.rootPath, '-untrusted', hh.issuingPath, d.file('dev.pem', c.pem)]);
        assert.match(opensslOk(['x509', '-in', d.file('dev.pem'), '-noout', '-text']).stdout, kt === 'p384' ? /ecdsa-with-SHA384/ : /ED25519/);
      } finally {
        d.remove();
      }
    }
  });
});

describe('signers', () => {
  let dir: TempDir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => dir.remove());

  it('generates a 0600 PKCS#8 key, refuses to overwrite it, and loads it back', () => {
    const path = dir.file('k.pem');
    const s = FileSigner.generate(path, 'p256');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.throws(() => FileSigner.generate(path, 'ed25519'), code('ZETA_ERR_CONFLICT'));
    const again = FileSigner.load(path);
    assert.deepEqual(again.publicKeySpki, s.publicKeySpki);
    assert.equal(again.keyType, 'p256');
    const viaRef = openSigner('file:k.pem', dir.path);
    assert.deepEqual(viaRef.publicKeySpki, s.publicKeySpki);
    assert.deepEqual(openSigner(`file:${path}`, '/nonexistent').publicKeySpki, s.publicKeySpki);
  });

  it('refuses group/other-readable key files, RSA keys and unknown references', () => {
    const path = dir.file('loose.pem');
    FileSigner.generate(path, 'ed25519');
    chmodSync(path, 0o644);
    assert.throws(() => FileSigner.load(path), code('ZETA_ERR_CONFIG', /chmod 600/));
    const rsa = dir.file('rsa.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    chmodSync(rsa, 0o600);
    assert.throws(() => FileSigner.load(rsa), code('ZETA_ERR_KEY_REFUSED', /RSA 2048-bit/));
    assert.throws(() => openSigner('pkcs11:token=zeta;object=ca', dir.path), code('ZETA_ERR_CONFIG', /PKCS#11 signers are not built yet/));
    assert.throws(() => openSigner('vault:x', dir.path), code('ZETA_ERR_CONFIG'));
    assert.throws(() => openSigner('file:missing.pem', dir.path), code('ZETA_ERR_CONFIG'));
  });

  it('signs in X.509 signature-value form (DER ECDSA-Sig-Value, raw 64-byte Ed25519)', () => {
    const ec = FileSigner.generate(dir.file('ec.pem'), 'p384');
    assert.equal(ec.sign(Buffer.from('x'))[0], 0x30);
    const ed = FileSigner.generate(dir.file('ed.pem'), 'ed25519');
    assert.equal(ed.sign(Buffer.from('x')).length, 64);
  });
});

describe('PEM helpers', () => {
  it('round-trips and is strict about labels and block count', () => {
    const der = Buffer.from('3003020101', 'hex');
    const pem = toPem(der, 'CERTIFICATE');
    assert.deepEqual(fromPem(pem, 'CERTIFICATE'), der);
    assert.deepEqual(fromPem(pem.replace(/\n/g, '\r\n'), 'CERTIFICATE'), der);
    assert.throws(() => fromPem(pem, 'PRIVATE KEY'), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => fromPem(pem + pem, 'CERTIFICATE'), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => fromPem('junk', 'CERTIFICATE'), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => fromPem(pem.replace('MAMC', 'M*MC'), 'CERTIFICATE'), code('ZETA_ERR_VALIDATION'));
    assert.throws(() => fromPem(pem.replace('END CERT', 'END X509 CERT'), 'CERTIFICATE'), code('ZETA_ERR_VALIDATION'));
    assert.deepEqual(splitPemCerts(pem + '\n' + pem), [der, der]);
    assert.throws(() => splitPemCerts(pem + toPem(der, 'PRIVATE KEY')), code('ZETA_ERR_VALIDATION'));
  });
});
