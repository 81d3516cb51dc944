// End to end against a real TPM 2.0 simulator (swtpm) driven by tpm2-tools: Zeta's makeCredential
// must be accepted by TPM2_ActivateCredential, and Zeta must verify the TPM's own quotes.
// Needs the Debian packages swtpm, swtpm-tools and tpm2-tools; without them this test FAILS.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManualClock } from '../src/common/clock.js';
import {
  MemoryReferenceStore,
  NonceRegistry,
  TPM_ALG,
  encodeEventLog,
  encodeTpm2ToolsCredential,
  finishAkActivation,
  makeCredential,
  parseTpmPublic,
  startAkActivation,
  verifyAttestation,
  verifyQuote,
  type AttestationInput,
  type BoundAk,
  type LogEvent,
} from '../src/attest/index.js';

const execFileP = promisify(execFile);
const REQUIRED_TOOLS = ['swtpm', 'tpm2_createek', 'tpm2_createak', 'tpm2_activatecredential', 'tpm2_startauthsession', 'tpm2_policysecret', 'tpm2_pcrextend', 'tpm2_pcrread', 'tpm2_quote', 'tpm2_flushcontext'];

function missingTools(): string[] {
  return REQUIRED_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Two consecutive free ports (swtpm: server P, control P+1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no free port pair for swtpm');
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' }, () => {
        c.end();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`swtpm did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SHA256_ZERO = Buffer.alloc(32);

/** A crypto-agile SHA-256 log of software measurements on PCR 16, as an agent would keep. */
function agentLog(measured: string[]): Buffer {
  const events: LogEvent[] = measured.map((m, seq) => {
    const data = Buffer.from(m, 'utf8');
    return { seq, pcr: 16, type: 0x0d, typeName: 'EV_IPL', digests: new Map([[TPM_ALG.SHA256, createHash('sha256').update(data).digest()]]), data };
  });
  return encodeEventLog({ format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] }, events });
}

describe('attestation against swtpm + tpm2-tools', () => {
  let dir = '';
  let swtpm: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv = {};
  const clock = new ManualClock(new Date());
  const tpm = async (args: string[]): Promise<string> => {
    const [cmd, ...rest] = args;
    const r = await execFileP(cmd ?? '', rest, { cwd: dir, env, timeout: 20000 });
    return r.stdout;
  };
  // Without a resource manager, transient objects stay loaded: flush after each tool run.
  const flush = (): Promise<string> => tpm(['tpm2_flushcontext', '-t']);
  const file = (name: string): Buffer => readFileSync(join(dir, name));

  /** Runs TPM2_ActivateCredential under the EK's policy (PolicySecret(endorsement)); null on refusal. */
  async function activate(ekCtx: string, akCtx: string, cred: Buffer): Promise<Buffer | null> {
    writeFileSync(join(dir, 'cred.in'), cred);
    await tpm(['tpm2_startauthsession', '--policy-session', '-S', 'session.ctx']);
    try {
      await tpm(['tpm2_policysecret', '-S', 'session.ctx', '-c', 'e']);
      await tpm(['tpm2_activatecredential', '-c', akCtx, '-C', ekCtx, '-i', 'cred.in', '-o', 'secret.out', '-P', 'session:session.ctx']);
      return file('secret.out');
    } catch {
      return null;
    } finally {
      await tpm(['tpm2_flushcontext', 'session.ctx']).catch(() => '');
      await flush();
      rmSync(join(dir, 'secret.out'), { force: true });
    }
  }

  async function readPcrs(indexes: number[]): Promise<Record<number, Buffer>> {
    const out = await tpm(['tpm2_pcrread', `sha256:${indexes.join(',')}`]);
    const values: Record<number, Buffer> = {};
    for (const m of out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$/gm)) values[Number(m[1])] = Buffer.from(m[2] ?? '', 'hex');
    assert.deepEqual(Object.keys(values).map(Number), indexes);
    return values;
  }

  async function quote(nonce: Buffer, pcrs: number[]): Promise<{ quote: Buffer; signature: Buffer }> {
    await tpm(['tpm2_quote', '-c', 'ak.ctx', '-l', `sha256:${pcrs.join(',')}`, '-q', nonce.toString('hex'), '-m', 'quote.msg', '-s', 'quote.sig', '-g', 'sha256']);
    await flush();
    return { quote: file('quote.msg'), signature: file('quote.sig') };
  }

  before(async () => {
    const missing = missingTools();
    if (missing.length > 0) {
      assert.fail(`TPM simulator tests need the Debian packages swtpm, swtpm-tools and tpm2-tools (missing: ${missing.join(', ')}). Install: apt-get install -y swtpm swtpm-tools tpm2-tools`);
    }
    dir = mkdtempSync(join(tmpdir(), 'zeta-swtpm-'));
    const port = await freePortPair();
    swtpm = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port}`, '--ctrl', `type=tcp,port=${port + 1}`, '--tpmstate', `dir=${dir}`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
    env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:port=${port}` };
    await waitForPort(port, 5000);
  });

  after(() => {
    if (swtpm !== undefined && swtpm.exitCode === null) swtpm.kill('SIGTERM');
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  let bound: BoundAk;
  let ekName = '';

  it('binds an AK to the RSA EK: tpm2_activatecredential recovers the secret of Zeta\'s makeCredential', async () => {
    await tpm(['tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub']);
    await flush();
    await tpm(['tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pub', '-n', 'ak.name']);
    await flush();
    const ak = parseTpmPublic(file('ak.pub'));
    assert.ok(ak.name.equals(file('ak.name')), 'Zeta computes the same AK name as the TPM');
    ekName = parseTpmPublic(file('ek.pub')).name.toString('hex');
    const challenge = startAkActivation({ ekPublic: file('ek.pub'), akPublic: file('ak.pub'), manufacturerRoots: [], pinnedEkNames: [ekName], at: clock.now() });
    assert.ok(challenge.ok, challenge.ok ? '' : challenge.detail);
    const secret = await activate('ek.ctx', 'ak.ctx', encodeTpm2ToolsCredential(challenge.credential));
    assert.ok(secret !== null, 'TPM2_ActivateCredential accepted the credential');
    const done = finishAkActivation(challenge.pending, secret, clock.now());
    assert.ok(done.ok, done.ok ? '' : done.detail);
    bound = done.bound;
    assert.equal(bound.ekTrust.kind, 'pinned-ek');
  });

  it('AK not bound to the EK: a credential to another EK cannot be activated here, and Zeta refuses', async () => {
    // A software "EK" with the TPM's EK template shape: same attributes, a key this TPM does not hold.
    const real = parseTpmPublic(file('ek.pub'));
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const n = Buffer.from(publicKey.export({ format: 'jwk' }).n ?? '', 'base64url');
    const foreign = Buffer.concat([real.raw.subarray(0, real.raw.length - 256), n]);
    const pending = startAkActivation({ ekPublic: foreign, akPublic: file('ak.pub'), manufacturerRoots: [], pinnedEkNames: [parseTpmPublic(foreign).name.toString('hex')], at: clock.now() });
    assert.ok(pending.ok);
    const secret = await activate('ek.ctx', 'ak.ctx', encodeTpm2ToolsCredential(pending.credential));
    assert.equal(secret, null, 'the TPM refuses a credential sealed to another EK');
    const r = finishAkActivation(pending.pending, Buffer.alloc(32), clock.now());
    assert.equal(r.ok ? 'ok' : r.reason, 'ak-not-bound');
    // An EK that is neither certified nor registered is refused before any challenge.
    const unknown = startAkActivation({ ekPublic: file('ek.pub'), akPublic: file('ak.pub'), manufacturerRoots: [], at: clock.now() });
    assert.equal(unknown.ok ? 'ok' : unknown.reason, 'ek-chain-untrusted');
  });

  it('quotes a PCR extended with a known measurement and verifies it end to end; refuses replay and mismatch', async () => {
    const measurement = 'zeta-agent 1.2.3 sha256:abc';
    await tpm(['tpm2_pcrextend', `16:sha256=${createHash('sha256').update(measurement).digest('hex')}`]);
    const quoted = [0, 2, 4, 7, 16];
    const nonces = new NonceRegistry({ clock });
    const references = new MemoryReferenceStore();
    const policy = { references, tofu: true, clock, nonces };
    const nonce = nonces.issue('dev-1');
    const q = await quote(nonce, quoted);
    const pcrs = { sha256: await readPcrs(quoted) };
    assert.ok(pcrs.sha256[0]?.equals(SHA256_ZERO));
    const input: AttestationInput = {
      deviceId: 'dev-1',
      model: 'swtpm',
      firmwareVersion: '0.7',
      ak: { kind: 'tpm', akPublic: file('ak.pub'), bound },
      ...q,
      nonce,
      pcrs,
      eventLog: agentLog([measurement]),
    };
    const ok = await verifyAttestation(input, policy);
    assert.equal(ok.status, 'verified', ok.detail);
    assert.equal(ok.reference, 'tofu-pinned');
    assert.equal(ok.tpmResident, true);
    assert.deepEqual(ok.measurements?.ipl, [createHash('sha256').update(measurement).digest('hex')]);

    // The same quote again: the nonce was consumed.
    assert.equal((await verifyAttestation(input, policy)).reason, 'nonce-replayed');
    // Without the registry, an old quote still fails against a fresh nonce.
    assert.equal(verifyQuote({ akPublic: file('ak.pub'), ...q, nonce: nonces.issue('dev-1'), pcrs }).ok ? 'ok' : 'refused', 'refused');

    // Something else is measured into PCR 16 that the log does not show.
    await tpm(['tpm2_pcrextend', `16:sha256=${createHash('sha256').update('rootkit').digest('hex')}`]);
    const n2 = nonces.issue('dev-1');
    const q2 = await quote(n2, quoted);
    const pcrs2 = { sha256: await readPcrs(quoted) };
    const mismatch = await verifyAttestation({ ...input, ...q2, nonce: n2, pcrs: pcrs2 }, policy);
    assert.equal(mismatch.status, 'failed');
    assert.equal(mismatch.reason, 'event-log-pcr-mismatch');
    // The device reports the old PCR values with the new quote.
    const n3 = nonces.issue('dev-1');
    const q3 = await quote(n3, quoted);
    assert.equal((await verifyAttestation({ ...input, ...q3, nonce: n3 }, policy)).reason, 'pcr-digest-mismatch');
    // An honest log of both events replays, but 'rootkit' is not in the TOFU-pinned reference.
    const n4 = nonces.issue('dev-1');
    const q4 = await quote(n4, quoted);
    const honest = await verifyAttestation({ ...input, ...q4, nonce: n4, pcrs: pcrs2, eventLog: agentLog([measurement, 'rootkit']) }, policy);
    assert.equal(honest.reason, 'measurement-not-in-reference');
    // A quote from an AK the device never bound.
    const n5 = nonces.issue('dev-1');
    const q5 = await quote(n5, quoted);
    assert.equal((await verifyAttestation({ ...input, ...q5, nonce: n5, pcrs: pcrs2, ak: { kind: 'tpm', akPublic: file('ak.pub'), bound: null } }, policy)).reason, 'ak-not-bound');
  });

  it('ECC EK (ECDH + KDFe seed) with an RSA-PSS AK: activation and quote verify', async () => {
    await tpm(['tpm2_createek', '-c', 'ekecc.ctx', '-G', 'ecc', '-u', 'ekecc.pub']);
    await flush();
    await tpm(['tpm2_createak', '-C', 'ekecc.ctx', '-c', 'ak2.ctx', '-G', 'rsa', '-g', 'sha256', '-s', 'rsapss', '-u', 'ak2.pub', '-n', 'ak2.name']);
    await flush();
    const ek = parseTpmPublic(file('ekecc.pub'));
    assert.equal(ek.type, 'ecc');
    const secret = Buffer.from('ecc-bound-secret-0123456789abcde');
    const got = await activate('ekecc.ctx', 'ak2.ctx', encodeTpm2ToolsCredential(makeCredential(ek, file('ak2.name'), secret)));
    assert.ok(got?.equals(secret), 'TPM2_ActivateCredential recovered the secret through ECDH');
    const nonce = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    await tpm(['tpm2_quote', '-c', 'ak2.ctx', '-l', 'sha256:16', '-q', nonce.toString('hex'), '-m', 'q2.msg', '-s', 'q2.sig', '-g', 'sha256', '--scheme', 'rsapss']);
    await flush();
    const pcrs = { sha256: await readPcrs([16]) };
    const r = verifyQuote({ akPublic: file('ak2.pub'), quote: file('q2.msg'), signature: file('q2.sig'), nonce, pcrs });
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.signature.scheme, 'rsapss');
  });
});
