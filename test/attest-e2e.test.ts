/**
 * Device attestation end to end through the real `zeta` command and a running server: enrollment,
 * attestation rounds, posture (`zeta device show --json`), trust, the change feed, the audit log,
 * and a Cedar policy that requires a fresh attestation. Every refusal names its reason.
 *
 * Part 1 needs no TPM: the software-key path (weaker) and the device protocol's AK enrollment
 * refusals. Part 2 drives swtpm + tpm2-tools (Debian: swtpm swtpm-tools tpm2-tools); without them
 * it FAILS with the install line, like test/attest-swtpm.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManualClock } from '../src/common/clock.js';
import { ZetaError } from '../src/common/errors.js';
import { TPM_ALG, encodeEventLog, parseTpmPublic, type LogEvent } from '../src/attest/index.js';
import { createIssuingCaCert, createRootCaCert, createServerCert, toPem, type CaCert, type Signer } from '../src/pki/index.js';
import { EV, MeasuredPlatform, attestOnce, deviceCall, demoTamperedFirmware, startSwtpm, type SwtpmHandle } from '../src/agent/index.js';
import { ZETA_BIN, startTestServer, tempDir, zeta, type TestServer } from './helpers.js';

const execFileP = promisify(execFile);
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

function logOf(events: { pcr: number; type: number; data: string; digestOf?: string }[]): Buffer {
  const evs: LogEvent[] = events.map((e, seq) => ({
    seq, pcr: e.pcr, type: e.type, typeName: '', data: Buffer.from(e.data),
    // `digestOf`: the digest of other bytes than the data (a data-bound event edited after measurement).
    digests: new Map([[TPM_ALG.SHA256, createHash('sha256').update(e.digestOf ?? e.data).digest()]]),
  }));
  return encodeEventLog({ format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] }, events: evs });
}

/** A TPM manufacturer: root → issuing → EK certificates (pki's builders, in memory). */
function memSigner(): Signer & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { keyType: 'p256', publicKeySpki: publicKey.export({ type: 'spki', format: 'der' }), privateKey, sign: (d: Buffer) => sign('sha256', d, privateKey) };
}
function vendor(name: string): { rootPem: string; issuing: CaCert; ekCert(spki: Buffer): Buffer; rsaEkCert(key: KeyObject): Buffer } {
  const now = new Date(Date.now() - 86400_000);
  const rs = memSigner();
  const root = createRootCaCert({ signer: rs, trustDomain: `${name}.example`, now, commonName: `${name} EK Root` });
  const is = memSigner();
  const issuingDer = createIssuingCaCert({ root: { id: 'root', certDer: root, signer: rs }, signer: is, trustDomain: `${name}.example`, now, commonName: `${name} EK Issuing` });
  const issuing: CaCert = { id: 'iss', certDer: issuingDer, signer: is };
  return {
    rootPem: toPem(root, 'CERTIFICATE'), issuing,
    ekCert: (spki) => createServerCert({ issuer: issuing, spki, dnsNames: ['ek.tpm.invalid'], ipAddresses: [], now }),
    // Zeta's PKI issues only its own key types; a manufacturer certifies RSA EKs, so openssl plays it.
    rsaEkCert: (key) => {
      const d = tempDir('zeta-ekcert-');
      const f = (n: string): string => join(d.path, n);
      writeFileSync(f('ek.pem'), key.export({ type: 'spki', format: 'pem' }));
      writeFileSync(f('iss.pem'), toPem(issuingDer, 'CERTIFICATE'));
      writeFileSync(f('iss.key'), is.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(f('ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n');
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('tmp.key'), '-subj', '/CN=TPM EK', '-out', f('ek.csr')], { stdio: 'ignore' });
      execFileSync('openssl', ['x509', '-req', '-in', f('ek.csr'), '-force_pubkey', f('ek.pem'), '-CA', f('iss.pem'), '-CAkey', f('iss.key'), '-set_serial', '1', '-days', '30', '-extfile', f('ext.cnf'), '-outform', 'DER', '-out', f('ek.der')], { stdio: 'ignore' });
      const der = readFileSync(f('ek.der'));
      d.cleanup();
      return der;
    },
  };
}

/** ECC TPMT_PUBLIC: an EK (TCG template L-2 shape) or a restricted signing AK. */
function eccTpmPublic(kind: 'ek' | 'ak'): { pub: Buffer; spki: Buffer } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const j = publicKey.export({ format: 'jwk' });
  const xy = [j.x, j.y].map((v) => '0020' + Buffer.from(v ?? '', 'base64url').toString('hex')).join('');
  const head = kind === 'ek'
    ? '0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa000600800043001000030010'
    : '0023000b00050072000000100018000b00030010';
  return { pub: Buffer.from(head + xy, 'hex'), spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (e instanceof ZetaError) return String(e.fields?.reason ?? e.code);
    throw e;
  }
}

interface Ctx {
  s: TestServer;
  clock: ManualClock;
  work: string;
  remote: string[];
}

async function addDevice(c: Ctx, id: string, model: string, firmware: string): Promise<string> {
  const r = await zeta(['device', 'add', '--id', id, '--name', id, '--type', 'camera', '--model', model, '--firmware', firmware, ...c.remote]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return (JSON.parse(r.stdout) as { enrollmentToken: string }).enrollmentToken;
}

async function enroll(c: Ctx, id: string, model: string, firmware: string, extra: string[] = []): Promise<{ dir: string; code: number; out: Record<string, unknown> }> {
  const token = await addDevice(c, id, model, firmware);
  const dir = join(c.work, id);
  const r = await zeta(['agent', 'enroll', '--server', c.s.h.apiUrl, '--device', id, '--token', token, '--out', dir, '--json', ...extra]);
  return { dir, code: r.code, out: JSON.parse(r.stdout || '{}') as Record<string, unknown> };
}

async function agentAttest(c: Ctx, dir: string, extra: string[] = []): Promise<{ code: number; out: Record<string, unknown> }> {
  const r = await zeta(['agent', 'attest', '--server', c.s.h.apiUrl, '--dir', dir, '--json', ...extra]);
  return { code: r.code, out: JSON.parse(r.stdout || '{}') as Record<string, unknown> };
}

async function show(c: Ctx, id: string): Promise<{ trustScore: number | null; posture: { attestation?: Record<string, unknown>; trustFactors?: { name: string; points: number }[] } }> {
  const r = await zeta(['device', 'show', id, ...c.remote]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as never;
}

async function setup(overrides: Record<string, unknown>, manual = true): Promise<Ctx> {
  const clock = new ManualClock(new Date());
  // The TPM part uses the real clock: openssl cannot backdate the EK certificates it makes.
  const s = await startTestServer(overrides, manual ? clock : undefined);
  const work = tempDir('zeta-attest-e2e-').path;
  // These tests fail attestations on purpose and go on using the same device; the shipped playbook
  // would suspend it on the first failure (that is tested in test/response-*.test.ts), so this
  // server's default playbook only alerts.
  const quiet = join(work, 'alert-only.json');
  writeFileSync(quiet, JSON.stringify({ name: 'default', guard: { maxDevices: 10, maxSegmentPercent: 25, windowMinutes: 60 }, steps: [{ id: 'notify', action: 'alert', when: { severityAtLeast: 'low' } }] }));
  const applied = await zeta(['playbook', 'apply', quiet, '--server', s.h.apiUrl.replace('127.0.0.1', 'localhost'), '--token', s.adminToken, '--ca-file', s.caBundlePath, '--json']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  return { s, clock, work, remote: ['--server', s.h.apiUrl.replace('127.0.0.1', 'localhost'), '--token', s.adminToken, '--ca-file', s.caBundlePath, '--json'] };
}

describe('attestation end to end without a TPM: software key and the device protocol', () => {
  let c: Ctx;
  const trusted = vendor('trusted');
  const unknown = vendor('unknown');

  before(async () => {
    const roots = tempDir('zeta-roots-');
    writeFileSync(join(roots.path, 'trusted.pem'), trusted.rootPem);
    c = await setup({ attestManufacturerRoots: roots.path });
  });
  after(async () => { await c.s.close(); });

  const bootLog = (kernel: string): Buffer => logOf([
    { pcr: 4, type: EV.EFI_ACTION, data: 'Calling EFI Application from Boot Option' },
    { pcr: 9, type: EV.IPL, data: kernel },
  ]);

  it('software key: verified (TOFU), marked weaker in posture and trust; device show reports it', async () => {
    const d = await enroll(c, 'soft-1', 'cam-soft', '1.0');
    assert.equal(d.code, 0, JSON.stringify(d.out));
    writeFileSync(join(d.dir, 'eventlog.bin'), bootLog('kernel 6.1 vendor'));
    const r = await agentAttest(c, d.dir);
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.equal(r.out.status, 'verified');
    assert.equal(r.out.method, 'software');
    assert.equal(r.out.weaker, true);
    const dev = await show(c, 'soft-1');
    const a = dev.posture.attestation ?? {};
    assert.equal(a.status, 'verified');
    assert.equal(a.method, 'software');
    assert.equal(a.weaker, true);
    assert.equal(a.reason, null);
    assert.equal(a.reference, 'tofu-pinned');
    assert.equal(a.akTpmResident, false);
    assert.ok(typeof a.at === 'string' && !Number.isNaN(Date.parse(a.at)));
    assert.ok((dev.posture.trustFactors ?? []).some((f) => f.name === 'identity.attestationMethod' && f.points < 0), 'software attestation costs trust');
    // The TOFU pin is listed, as such.
    const refs = JSON.parse((await zeta(['attest', 'ref', 'list', '--device', 'soft-1', ...c.remote])).stdout) as { references: { source: string }[] };
    assert.deepEqual(refs.references.map((x) => x.source), ['tofu']);
  });

  it('refuses a replayed nonce', async () => {
    const dir = join(c.work, 'soft-1');
    let captured: Record<string, unknown> = {};
    const ok = await attestOnce({ server: c.s.h.apiUrl, dir, transformBody: (b) => { captured = b; return b; } });
    assert.equal(ok.status, 'verified');
    assert.equal(await reasonOf(deviceCall({ server: c.s.h.apiUrl, dir }, '/attest/v1/quote', captured)), 'nonce-replayed');
  });

  it('refuses a tampered event log (data edited, digest kept)', async () => {
    const dir = join(c.work, 'soft-1');
    const tampered = join(c.work, 'tampered.bin');
    writeFileSync(tampered, logOf([
      { pcr: 4, type: EV.EFI_ACTION, data: 'Secure Boot disabled by attacker!!', digestOf: 'Calling EFI Application from Boot Option' },
      { pcr: 9, type: EV.IPL, data: 'kernel 6.1 vendor' },
    ]));
    const r = await agentAttest(c, dir, ['--event-log', tampered]);
    assert.notEqual(r.code, 0);
    assert.equal((r.out.error as { reason?: string }).reason, 'event-log-tampered');
    assert.equal((r.out.error as { code?: string }).code, 'ZETA_ERR_ATTESTATION_FAILED');
  });

  it('refuses PCRs that do not match the log', async () => {
    const dir = join(c.work, 'soft-1');
    const other = bootLog('kernel 6.1 patched').toString('base64');
    assert.equal(await reasonOf(attestOnce({ server: c.s.h.apiUrl, dir, transformBody: (b) => ({ ...b, eventLog: other }) })), 'event-log-pcr-mismatch');
  });

  it('registered reference values: verified against them; a measurement not in them is refused, posture and trust follow, the failure is on the feed and audited', async () => {
    const add = await zeta(['attest', 'ref', 'add', '--model', 'cam-ref', '--firmware', '2.0', '--ipl', sha('kernel 6.6 signed'), ...c.remote]);
    assert.equal(add.code, 0, add.stderr + add.stdout);
    const d = await enroll(c, 'ref-1', 'cam-ref', '2.0');
    writeFileSync(join(d.dir, 'eventlog.bin'), bootLog('kernel 6.6 signed'));
    const ok = await agentAttest(c, d.dir);
    assert.equal(ok.out.status, 'verified', JSON.stringify(ok.out));
    const good = await show(c, 'ref-1');
    assert.equal(good.posture.attestation?.reference, 'model');

    writeFileSync(join(d.dir, 'eventlog.bin'), bootLog('kernel 6.6 with a backdoor'));
    const bad = await agentAttest(c, d.dir);
    assert.notEqual(bad.code, 0);
    assert.equal((bad.out.error as { reason?: string }).reason, 'measurement-not-in-reference');
    const dev = await show(c, 'ref-1');
    assert.equal(dev.posture.attestation?.status, 'failed');
    assert.equal(dev.posture.attestation?.reason, 'measurement-not-in-reference');
    assert.ok((dev.trustScore ?? 100) < (good.trustScore ?? 0), `trust falls: ${good.trustScore} → ${dev.trustScore}`);

    const feed = await c.s.cp.store.db.selectFrom('changes').selectAll().where('kind', '=', 'device.attestation_failed').where('subject', '=', 'ref-1').execute();
    assert.equal(feed.length, 1);
    assert.equal((JSON.parse(feed[0]!.data) as { reason: string }).reason, 'measurement-not-in-reference');
    const audit = await c.s.cp.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'attest.quote').where('subject', '=', 'ref-1').where('outcome', '=', 'refused').execute();
    assert.equal(audit.length, 1);
    const hist = JSON.parse((await zeta(['device', 'attestations', 'ref-1', ...c.remote])).stdout) as { results: { status: string }[] };
    assert.deepEqual(hist.results.map((x) => x.status), ['failed', 'verified']);
  });

  it('imports reference values all or nothing', async () => {
    const file = join(c.work, 'refs.json');
    writeFileSync(file, JSON.stringify([{ model: 'm1', firmwareVersion: '1', alg: 'sha256', ipl: [sha('a')] }, { model: 'm2', firmwareVersion: '1', alg: 'sha256', ipl: ['NOT-HEX'] }]));
    const bad = await zeta(['attest', 'ref', 'import', file, ...c.remote]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /references\[1\]\.ipl/);
    assert.equal((JSON.parse((await zeta(['attest', 'ref', 'list', '--model', 'm1', ...c.remote])).stdout) as { references: unknown[] }).references.length, 0);
    writeFileSync(file, JSON.stringify({ references: [{ model: 'm1', firmwareVersion: '1', alg: 'sha256', ipl: [sha('a')] }] }));
    const good = await zeta(['attest', 'ref', 'import', file, ...c.remote]);
    assert.equal(JSON.parse(good.stdout).imported, 1);
    const listed = JSON.parse((await zeta(['attest', 'ref', 'list', '--model', 'm1', ...c.remote])).stdout) as { references: { source: string }[] };
    assert.deepEqual(listed.references.map((x) => x.source), ['imported']);
  });

  it('AK enrollment over the device protocol: an EK chain to an unknown root and an AK not bound to the EK are refused', async () => {
    const d = await enroll(c, 'tpm-proto', 'cam-tpm', '1.0');
    const io = { server: c.s.h.apiUrl, dir: d.dir };
    const ek = eccTpmPublic('ek');
    const ak = eccTpmPublic('ak');
    const body = (cert: Buffer): unknown => ({ ekPublic: ek.pub.toString('base64'), akPublic: ak.pub.toString('base64'), ekCert: cert.toString('base64'), ekChain: [cert === trustedCert ? trusted.issuing.certDer.toString('base64') : unknown.issuing.certDer.toString('base64')] });
    const trustedCert = trusted.ekCert(ek.spki);
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/ak/activate', body(unknown.ekCert(ek.spki)))), 'ek-chain-untrusted');
    // Chain fine, but this "device" has no TPM holding the EK: it cannot recover the credential's secret.
    const start = await deviceCall<{ activationId: string; credential: string }>(io, '/attest/v1/ak/activate', body(trustedCert));
    assert.ok(start.credential.length > 0);
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/ak/finish', { activationId: start.activationId, secret: randomBytes(32).toString('base64') })), 'ak-not-bound');
    // Single use: the same activation cannot be tried again.
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/ak/finish', { activationId: start.activationId, secret: randomBytes(32).toString('base64') })), 'ZETA_ERR_NOT_FOUND');
    const dev = await show(c, 'tpm-proto');
    assert.equal(dev.posture.attestation?.status, 'failed');
    assert.equal(dev.posture.attestation?.reason, 'ak-not-bound');
    // Bad input is refused before anything is recorded.
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/ak/activate', { ekPublic: '!!', akPublic: 'x' })), 'ZETA_ERR_VALIDATION');
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/quote', { nonce: 'zz' })), 'ZETA_ERR_VALIDATION');
  });

  it('a device without its certificate cannot use the device protocol', async () => {
    // curl trusting our CA, but presenting no client certificate:
    const out = await execFileP('curl', ['-s', '--cacert', c.s.caBundlePath, '-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', `${c.s.h.apiUrl}/attest/v1/challenge`]);
    assert.equal((JSON.parse(out.stdout) as { code: string }).code, 'ZETA_ERR_CERT_INVALID');
  });

  it('on demand: `zeta device attest` marks the device due; the agent sees it in its challenge and the round clears it', async () => {
    const req = await zeta(['device', 'attest', 'soft-1', ...c.remote]);
    assert.equal(req.code, 0, req.stderr + req.stdout);
    const dir = join(c.work, 'soft-1');
    const r = await agentAttest(c, dir);
    assert.equal(r.out.due, true);
    assert.equal(r.out.status, 'verified');
    const again = await agentAttest(c, dir);
    assert.equal(again.out.due, false);
  });

  it('a policy requiring an attestation within 24 h allows a fresh device and denies it after expiry; the tampered-firmware demo helper fails and lowers trust', async () => {
    const policy = 'permit (principal is Device, action == Action::"connect", resource) when { principal.attestation == "verified" && context has now && context.now - principal.attestedAt <= 86400 };\n';
    const file = join(c.work, 'fresh.cedar');
    writeFileSync(file, policy);
    const ap = await zeta(['policy', 'apply', file, ...c.remote]);
    assert.equal(ap.code, 0, ap.stderr + ap.stdout);
    await attestOnce({ server: c.s.h.apiUrl, dir: join(c.work, 'soft-1') });
    const pdp = c.s.h.pdp;
    const decide = (id: string): string => pdp.decide({ principal: id, action: 'connect' }).decision;
    // The PDP follows the change feed; wait until it has the new policy and posture.
    for (let i = 0; i < 100 && (pdp.activeVersion === null || decide('soft-1') !== 'allow'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(decide('soft-1'), 'allow');
    assert.equal(decide('ref-1'), 'deny', 'a failed attestation is not fresh');
    c.clock.advance(25 * 3600_000);
    assert.equal(decide('soft-1'), 'deny', 'the attestation is now older than 24 h');

    const before = await show(c, 'soft-1');
    const r = await demoTamperedFirmware({ server: c.s.h.apiUrl, dir: join(c.work, 'soft-1') });
    assert.deepEqual(r, { status: 'failed', reason: 'event-log-pcr-mismatch' });
    const after = await show(c, 'soft-1');
    assert.ok((after.trustScore ?? 100) < (before.trustScore ?? 0), `trust falls: ${before.trustScore} → ${after.trustScore}`);
  });

  it('zeta agent attest --every: attests at once, then again as soon as an operator asks', async () => {
    const child = spawn(process.execPath, [ZETA_BIN, 'agent', 'attest', '--server', c.s.h.apiUrl, '--dir', join(c.work, 'soft-1'), '--every', '1d', '--json'], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 1200 && !pred(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(pred(), `${what}: ${JSON.stringify(lines)}`);
    };
    try {
      await waitFor(() => lines.length >= 1, 'first round');
      assert.equal(lines[0]?.due, false);
      const req = await zeta(['device', 'attest', 'soft-1', ...c.remote]);
      assert.equal(req.code, 0);
      // The loop polls its challenge (every 30 s at most) and attests at once when due.
      await waitFor(() => lines.some((l) => l.due === true), 'round on demand');
      assert.ok(lines.every((l) => 'status' in l), JSON.stringify(lines));
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('a device cannot swap its attestation key by itself; after an operator reset it enrolls a new one, history kept', async () => {
    const io = { server: c.s.h.apiUrl, dir: join(c.work, 'ref-1') };
    const pem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/software-key', { publicKey: pem() })), 'ZETA_ERR_CONFLICT');
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/software-key', { publicKey: 'not a key' })), 'ZETA_ERR_KEY_REFUSED');
    const reset = await zeta(['device', 'attest', 'ref-1', '--reset', ...c.remote]);
    assert.equal(reset.code, 0, reset.stderr + reset.stdout);
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/software-key', { publicKey: pem() })), 'accepted');
    const hist = JSON.parse((await zeta(['device', 'attestations', 'ref-1', ...c.remote])).stdout) as { key: { method: string }; results: unknown[] };
    assert.equal(hist.key.method, 'software');
    assert.ok(hist.results.length >= 2);
  });
});

describe('attestation end to end with a TPM (swtpm + tpm2-tools)', () => {
  let c: Ctx;
  let tpm: SwtpmHandle;
  let platform: MeasuredPlatform;
  const trusted = vendor('trusted');
  const unknown = vendor('unknown');
  let ekKey: KeyObject;

  before(async () => {
    tpm = await startSwtpm().catch((e: unknown) => assert.fail(`${(e as Error).message}. Install: apt-get install -y swtpm swtpm-tools tpm2-tools`));
    const roots = tempDir('zeta-roots-');
    writeFileSync(join(roots.path, 'trusted.pem'), trusted.rootPem);
    c = await setup({ attestManufacturerRoots: roots.path }, false);
    // The TPM's EK (the same one the agent will create: the default template is deterministic).
    const ekDir = join(c.work, 'ek');
    mkdirSync(ekDir, { recursive: true });
    const env = { ...process.env, TPM2TOOLS_TCTI: tpm.tcti };
    await execFileP('tpm2_createek', ['-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub'], { cwd: ekDir, env });
    await execFileP('tpm2_flushcontext', ['-t'], { cwd: ekDir, env });
    ekKey = parseTpmPublic(readFileSync(join(ekDir, 'ek.pub'))).key;
    platform = new MeasuredPlatform(tpm.tcti);
    await platform.measure(4, EV.EFI_ACTION, 'Calling EFI Application from Boot Option');
    await platform.measure(9, EV.IPL, 'kernel 6.1 vendor');
  });
  after(async () => {
    await c?.s.close();
    tpm?.stop();
  });

  const certFile = (name: string, der: Buffer): string => {
    const p = join(c.work, name);
    writeFileSync(p, toPem(der, 'CERTIFICATE'));
    return p;
  };

  it('enroll --tpm: EK chain checked, AK activated, first attestation verified (TOFU); device show reports a TPM attestation', async () => {
    const log = platform.writeLog(join(c.work, 'platform.bin'));
    const d = await enroll(c, 'tpm-1', 'cam-tpm', '1.0', ['--tpm', '--tcti', tpm.tcti, '--ek-cert', certFile('ek.pem', trusted.rsaEkCert(ekKey)), '--ek-chain', certFile('ek-chain.pem', trusted.issuing.certDer), '--event-log', log]);
    assert.equal(d.code, 0, JSON.stringify(d.out));
    const att = d.out.attestation as { ekTrust: { kind: string }; first: { status: string } };
    assert.equal(att.ekTrust.kind, 'manufacturer-chain');
    assert.equal(att.first.status, 'verified');
    const r = await agentAttest(c, d.dir, ['--tcti', tpm.tcti, '--event-log', log]);
    assert.equal(r.out.status, 'verified', JSON.stringify(r.out));
    assert.equal(r.out.method, 'tpm');
    const dev = await show(c, 'tpm-1');
    assert.equal(dev.posture.attestation?.status, 'verified');
    assert.equal(dev.posture.attestation?.method, 'tpm');
    assert.equal(dev.posture.attestation?.weaker, false);
    assert.equal(dev.posture.attestation?.akTpmResident, true);
    assert.equal(dev.posture.attestation?.tlsKeyTpmResident, false);
  });

  it('enroll --tpm finds the EK certificate where the TCG EK Credential Profile puts it (NV 0x01c00002)', async () => {
    // Provision the TPM as a manufacturer does: the EK certificate in its NV index.
    const der = trusted.rsaEkCert(ekKey);
    const f = join(c.work, 'ek-nv.der');
    writeFileSync(f, der);
    const env = { ...process.env, TPM2TOOLS_TCTI: tpm.tcti };
    await execFileP('tpm2_nvdefine', ['0x01c00002', '-C', 'o', '-s', String(der.length), '-a', 'ownerread|ownerwrite|authread|authwrite|no_da'], { env });
    await execFileP('tpm2_nvwrite', ['0x01c00002', '-C', 'o', '-i', f], { env });
    const d = await enroll(c, 'tpm-3', 'cam-tpm', '1.0', ['--tpm', '--tcti', tpm.tcti, '--ek-chain', certFile('ek-chain.pem', trusted.issuing.certDer), '--event-log', platform.writeLog(join(c.work, 'platform.bin'))]);
    assert.equal(d.code, 0, JSON.stringify(d.out));
    assert.equal((d.out.attestation as { first: { status: string } }).first.status, 'verified');
  });

  it('enroll --tpm with an EK certificate from an unknown manufacturer is refused', async () => {
    const d = await enroll(c, 'tpm-2', 'cam-tpm', '1.0', ['--tpm', '--tcti', tpm.tcti, '--ek-cert', certFile('ek-unknown.pem', unknown.rsaEkCert(ekKey)), '--ek-chain', certFile('ek-chain-unknown.pem', unknown.issuing.certDer)]);
    assert.notEqual(d.code, 0);
    assert.equal((d.out.error as { reason?: string }).reason, 'ek-chain-untrusted');
  });

  it('an AK not bound to the EK: the TPM cannot activate a credential sealed to another EK, and Zeta refuses', async () => {
    const dir = join(c.work, 'tpm-1');
    const env = { ...process.env, TPM2TOOLS_TCTI: tpm.tcti };
    const tdir = join(dir, 'tpm');
    // An EK of the TPM's shape whose key this TPM does not hold, certified by the trusted vendor.
    const real = parseTpmPublic(readFileSync(join(tdir, 'ek.pub')));
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = Buffer.concat([real.raw.subarray(0, real.raw.length - 256), Buffer.from(publicKey.export({ format: 'jwk' }).n ?? '', 'base64url')]);
    const io = { server: c.s.h.apiUrl, dir };
    const start = await deviceCall<{ activationId: string; credential: string }>(io, '/attest/v1/ak/activate', {
      ekPublic: foreign.toString('base64'), akPublic: readFileSync(join(tdir, 'ak.pub')).toString('base64'),
      ekCert: trusted.rsaEkCert(publicKey).toString('base64'), ekChain: [trusted.issuing.certDer.toString('base64')],
    });
    writeFileSync(join(tdir, 'foreign.cred'), Buffer.from(start.credential, 'base64'));
    const run = (args: string[]): Promise<unknown> => execFileP(args[0]!, args.slice(1), { cwd: tdir, env });
    await run(['tpm2_startauthsession', '--policy-session', '-S', 'fs.ctx']);
    await run(['tpm2_policysecret', '-S', 'fs.ctx', '-c', 'e']);
    const activated = await run(['tpm2_activatecredential', '-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'foreign.cred', '-o', 'foreign.secret', '-P', 'session:fs.ctx']).then(() => true, () => false);
    await run(['tpm2_flushcontext', 'fs.ctx']).catch(() => undefined);
    await run(['tpm2_flushcontext', '-t']).catch(() => undefined);
    assert.equal(activated, false, 'the TPM refuses a credential sealed to another EK');
    assert.equal(await reasonOf(deviceCall(io, '/attest/v1/ak/finish', { activationId: start.activationId, secret: Buffer.alloc(32).toString('base64') })), 'ak-not-bound');
  });

  it('tampered firmware: a measurement the log does not show (PCRs do not match the log) fails, trust falls', async () => {
    const dir = join(c.work, 'tpm-1');
    // Re-bind: the previous case left the device's attestation failed (ak-not-bound is recorded).
    const ok = await agentAttest(c, dir, ['--tcti', tpm.tcti, '--event-log', platform.writeLog(join(c.work, 'platform.bin'))]);
    assert.equal(ok.out.status, 'verified', JSON.stringify(ok.out));
    const before = await show(c, 'tpm-1');
    const r = await demoTamperedFirmware({ server: c.s.h.apiUrl, dir, platform });
    assert.deepEqual(r, { status: 'failed', reason: 'event-log-pcr-mismatch' });
    const after = await show(c, 'tpm-1');
    assert.equal(after.posture.attestation?.reason, 'event-log-pcr-mismatch');
    assert.ok((after.trustScore ?? 100) < (before.trustScore ?? 0));
  });
});
