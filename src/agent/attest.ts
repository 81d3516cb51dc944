/**
 * The device side of attestation. With a TPM it drives tpm2-tools, which find the TPM themselves
 * (TPM2TOOLS_TCTI, e.g. `swtpm:port=2321`, else /dev/tpmrm0), so the same commands run on swtpm
 * and on a device: EK + AK creation, TPM2_ActivateCredential of Zeta's challenge, TPM2_Quote.
 * Without a TPM it signs a TPMS_ATTEST-shaped statement with a software key (weaker: it proves the
 * agent, not the platform). Every request goes over mutual TLS with the enrolled device certificate.
 *
 * Files in the enrollment directory: attest.json (method), tpm/ (ek.pub, ak.pub, ak.ctx, ek.ctx),
 * ak-soft.pem (software key, 0600), eventlog.bin (the measurement log, when the platform has none).
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ZetaError, ERROR_CODES, type ErrorCode } from '../common/errors.js';
import { TPM_ALG, encodeEventLog, parseEventLog, replayEventLog } from '../attest/index.js';
import { splitPemCerts } from '../pki/index.js';
import { httpsRequest } from './est-client.js';

const execFileP = promisify(execFile);

/** Where Linux exposes the firmware's TCG event log (securityfs). */
export const SYSTEM_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements';
/** TCG EK Credential Profile §2.2.1.4: NV index of the RSA 2048 EK certificate. */
export const EK_CERT_NV_INDEX = '0x01c00002';

export interface AttestAgentOptions {
  server: string;
  dir: string;
  /** TPM2TOOLS_TCTI for this run (default: the environment's, else tpm2-tools' default device). */
  tcti?: string;
  /** The measurement log to send (default: DIR/eventlog.bin, else the system's TCG log). */
  eventLog?: string;
  /**
   * Rewrites the answer before it is sent. For tests and the demo only: it plays a compromised
   * device (an altered event log, a replayed quote) against the real verifier.
   */
  transformBody?: (body: Record<string, unknown>) => Record<string, unknown>;
}

export interface AttestRoundResult {
  deviceId: string;
  status: 'verified' | 'failed' | 'unknown';
  reason: string | null;
  at: string;
  method: 'tpm' | 'software';
  weaker: boolean;
  due: boolean;
}

interface DeviceTls {
  key: string;
  cert: string;
  ca: string;
  deviceId: string;
}

function readTls(dir: string): DeviceTls {
  const paths = ['key.pem', 'cert.pem', 'ca.pem'].map((f) => join(dir, f));
  for (const p of paths) if (!existsSync(p)) throw new ZetaError('ZETA_ERR_VALIDATION', `${p} is missing; enroll first with \`zeta agent enroll\``);
  const cert = readFileSync(paths[1]!, 'utf8');
  const m = /\/device\/([a-z0-9._-]+)/.exec(new X509Certificate(cert).subjectAltName ?? '');
  if (m === null) throw new ZetaError('ZETA_ERR_VALIDATION', `${paths[1]} is not a Zeta device certificate`);
  return { key: readFileSync(paths[0]!, 'utf8'), cert, ca: readFileSync(paths[2]!, 'utf8'), deviceId: m[1]! };
}

/** A call to the device protocol over mTLS; a problem+json refusal becomes a ZetaError with its reason. */
async function call<T>(server: string, tls: DeviceTls, path: string, body: unknown): Promise<T> {
  const payload = JSON.stringify(body);
  const r = await httpsRequest(new URL(path, server), {
    method: 'POST', ca: tls.ca, key: tls.key, cert: tls.cert,
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) },
  }, payload);
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    // not JSON: reported below by status
  }
  if (r.status >= 400) {
    const code = typeof parsed.code === 'string' && parsed.code in ERROR_CODES ? (parsed.code as ErrorCode) : 'ZETA_ERR_SERVER';
    const reason = typeof parsed.reason === 'string' ? parsed.reason : undefined;
    throw new ZetaError(code, `${path}: ${String(parsed.detail ?? `HTTP ${r.status}`)}`, { fields: { ...(reason === undefined ? {} : { reason }), httpStatus: r.status } });
  }
  return parsed as T;
}

/** Runs one tpm2-tools command with the TCTI of this run; errors name the tool and its stderr. */
class Tpm {
  readonly #cwd: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(cwd: string, tcti?: string) {
    this.#cwd = cwd;
    this.#env = { ...process.env, ...(tcti === undefined ? {} : { TPM2TOOLS_TCTI: tcti }) };
  }

  async run(args: string[]): Promise<string> {
    const [cmd, ...rest] = args;
    try {
      const r = await execFileP(cmd ?? '', rest, { cwd: this.#cwd, env: this.#env, timeout: 30_000, maxBuffer: 8 * 1024 * 1024 });
      return r.stdout;
    } catch (e) {
      const err = e as { code?: string; stderr?: string; message?: string };
      if (err.code === 'ENOENT') throw new ZetaError('ZETA_ERR_CONFIG', `${cmd} not found: install tpm2-tools (Debian: apt-get install tpm2-tools)`);
      throw new ZetaError('ZETA_ERR_INTERNAL', `${cmd} failed: ${(err.stderr ?? err.message ?? '').trim().slice(0, 400)}`, { cause: e });
    }
  }

  /** Without a resource manager (swtpm, /dev/tpm0) transient objects stay loaded: flush them. */
  flush(): Promise<string> {
    return this.run(['tpm2_flushcontext', '-t']);
  }

  file(name: string): Buffer {
    return readFileSync(join(this.#cwd, name));
  }
}

/** DER certificates in NV are often padded: cut at the outer SEQUENCE's length. */
function trimDer(b: Buffer): Buffer {
  if (b.length < 4 || b[0] !== 0x30) return b;
  const l = b[1]!;
  if (l < 0x80) return b.subarray(0, 2 + l);
  const n = l & 0x7f;
  if (n > 3 || b.length < 2 + n) return b;
  let len = 0;
  for (let i = 0; i < n; i++) len = (len << 8) | b[2 + i]!;
  return b.subarray(0, 2 + n + len);
}

function readCertFile(path: string): Buffer {
  const raw = readFileSync(path);
  const text = raw.toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) {
    return Buffer.from(text.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
  }
  return trimDer(raw);
}

function readCertBundle(path: string): Buffer[] {
  const text = readFileSync(path, 'latin1');
  return text.includes('-----BEGIN CERTIFICATE-----') ? splitPemCerts(text) : [trimDer(readFileSync(path))];
}

export interface TpmEnrollOptions extends AttestAgentOptions {
  /** EK certificate file (PEM or DER) when the TPM's NV does not hold one. */
  ekCert?: string;
  /** File of the intermediate certificates (PEM bundle) between the EK certificate and the manufacturer root. */
  ekChain?: string;
}

/**
 * AK enrollment with the TPM: EK (RSA, default template) and a restricted ECDSA P-256 AK under it;
 * Zeta checks the EK certificate chain and sends a credential only this TPM can activate for
 * exactly this AK; the secret it releases goes back and binds the AK to the device.
 */
export async function enrollTpmAk(o: TpmEnrollOptions): Promise<{ deviceId: string; akName: string; ekName: string; ekTrust: unknown }> {
  const tls = readTls(o.dir);
  const tdir = join(o.dir, 'tpm');
  mkdirSync(tdir, { recursive: true, mode: 0o700 });
  const tpm = new Tpm(tdir, o.tcti);
  await tpm.run(['tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub']);
  await tpm.flush();
  await tpm.run(['tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pub', '-n', 'ak.name']);
  await tpm.flush();
  let ekCert: Buffer | undefined;
  if (o.ekCert !== undefined) {
    ekCert = readCertFile(o.ekCert);
  } else {
    // The manufacturer's EK certificate, where the TCG EK Credential Profile puts it.
    ekCert = await tpm.run(['tpm2_nvread', EK_CERT_NV_INDEX, '-C', 'o', '-o', 'ekcert.der']).then(() => trimDer(tpm.file('ekcert.der'))).catch(() => undefined);
  }
  const start = await call<{ activationId: string; credential: string }>(o.server, tls, '/attest/v1/ak/activate', {
    ekPublic: tpm.file('ek.pub').toString('base64'),
    akPublic: tpm.file('ak.pub').toString('base64'),
    ...(ekCert === undefined ? {} : { ekCert: ekCert.toString('base64') }),
    ...(o.ekChain === undefined ? {} : { ekChain: readCertBundle(o.ekChain).map((d) => d.toString('base64')) }),
  });
  writeFileSync(join(tdir, 'cred.in'), Buffer.from(start.credential, 'base64'));
  let secret: Buffer;
  await tpm.run(['tpm2_startauthsession', '--policy-session', '-S', 'session.ctx']);
  try {
    // The default EK's policy is PolicySecret(TPM_RH_ENDORSEMENT) (TCG EK Credential Profile §2.1.5).
    await tpm.run(['tpm2_policysecret', '-S', 'session.ctx', '-c', 'e']);
    await tpm.run(['tpm2_activatecredential', '-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'cred.in', '-o', 'secret.out', '-P', 'session:session.ctx']);
    secret = tpm.file('secret.out');
  } catch {
    // The TPM refuses a credential that is not for its EK and this AK: tell Zeta it could not,
    // so the refusal is recorded there with its reason (ak-not-bound).
    secret = Buffer.alloc(32);
  } finally {
    await tpm.run(['tpm2_flushcontext', 'session.ctx']).catch(() => '');
    await tpm.flush().catch(() => '');
    rmSync(join(tdir, 'secret.out'), { force: true });
  }
  const done = await call<{ akName: string; ekName: string; ekTrust: unknown }>(o.server, tls, '/attest/v1/ak/finish', { activationId: start.activationId, secret: secret.toString('base64') });
  writeFileSync(join(o.dir, 'attest.json'), JSON.stringify({ method: 'tpm', akName: done.akName, ekName: done.ekName }, null, 2) + '\n');
  return { deviceId: tls.deviceId, akName: done.akName, ekName: done.ekName, ekTrust: done.ekTrust };
}

/** A software attestation key for a device without a TPM (weaker; marked so by Zeta). */
export async function enrollSoftwareAk(o: AttestAgentOptions): Promise<{ deviceId: string; method: 'software' }> {
  const tls = readTls(o.dir);
  const keyPath = join(o.dir, 'ak-soft.pem');
  let key: KeyObject;
  if (existsSync(keyPath)) key = createPrivateKey(readFileSync(keyPath, 'utf8'));
  else {
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(keyPath, key.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  }
  await call(o.server, tls, '/attest/v1/software-key', { publicKey: createPublicKeyPem(key) });
  writeFileSync(join(o.dir, 'attest.json'), JSON.stringify({ method: 'software' }, null, 2) + '\n');
  return { deviceId: tls.deviceId, method: 'software' };
}

function createPublicKeyPem(k: KeyObject): string {
  return createPublicKey(k).export({ type: 'spki', format: 'pem' }).toString();
}

function methodOf(dir: string): 'tpm' | 'software' | undefined {
  const p = join(dir, 'attest.json');
  if (!existsSync(p)) return undefined;
  const m = (JSON.parse(readFileSync(p, 'utf8')) as { method?: unknown }).method;
  return m === 'tpm' || m === 'software' ? m : undefined;
}

/** An empty crypto-agile SHA-256 log: a device with nothing measured still answers in one format. */
function emptyLog(): Buffer {
  return encodeEventLog({ format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] }, events: [] });
}

function readEventLog(o: AttestAgentOptions, method: 'tpm' | 'software'): Buffer {
  const candidates = o.eventLog !== undefined ? [o.eventLog] : [join(o.dir, 'eventlog.bin'), SYSTEM_EVENT_LOG];
  for (const p of candidates) {
    try {
      return readFileSync(p);
    } catch {
      if (o.eventLog !== undefined) throw new ZetaError('ZETA_ERR_VALIDATION', `cannot read the event log ${p}`);
    }
  }
  if (method === 'software') return emptyLog();
  throw new ZetaError('ZETA_ERR_VALIDATION', `no event log: pass --event-log, or keep one in ${join(o.dir, 'eventlog.bin')} (the platform has none at ${SYSTEM_EVENT_LOG})`);
}

/** PCRs to quote: the ones Zeta requires plus every PCR the log extends (SHA-256 bank). */
function pcrsToQuote(required: readonly number[], log: Buffer): number[] {
  const set = new Set(required.filter((n) => Number.isInteger(n) && n >= 0 && n < 24));
  try {
    for (const ev of parseEventLog(log).events) if (ev.pcr >= 0 && ev.pcr < 24) set.add(ev.pcr);
  } catch {
    // A log the agent cannot parse is sent as is: Zeta names the problem.
  }
  return [...set].sort((a, b) => a - b);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function tpm2b(b: Buffer): Buffer {
  return Buffer.concat([u16(b.length), b]);
}

/**
 * A TPMS_ATTEST (TPM_ST_ATTEST_QUOTE) and TPMT_SIGNATURE (ECDSA, SHA-256) made in software over
 * PCR values replayed from the log: the same wire format as a TPM quote, so Zeta checks it with the
 * same code; it is marked weaker because nothing outside the agent vouches for it.
 */
function softwareQuote(key: KeyObject, nonce: Buffer, pcrs: number[], log: Buffer): { quote: Buffer; signature: Buffer; values: Record<number, Buffer> } {
  let replayed: ReadonlyMap<number, Buffer>;
  try {
    replayed = replayEventLog(parseEventLog(log), 'sha256').pcrs;
  } catch (e) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `the event log cannot be replayed: ${(e as Error).message}`);
  }
  const values: Record<number, Buffer> = {};
  for (const i of pcrs) values[i] = replayed.get(i) ?? Buffer.alloc(32);
  const select = Buffer.alloc(3);
  for (const i of pcrs) select[i >> 3]! |= 1 << (i & 7);
  const digest = createHash('sha256').update(Buffer.concat(pcrs.map((i) => values[i]!))).digest();
  const clock = Buffer.alloc(17);
  clock.writeBigUInt64BE(BigInt(Date.now()), 0);
  clock[16] = 1;
  const attest = Buffer.concat([
    Buffer.from('ff544347', 'hex'), u16(0x8018), tpm2b(Buffer.alloc(0)), tpm2b(nonce), clock, Buffer.alloc(8),
    Buffer.from('00000001', 'hex'), u16(TPM_ALG.SHA256), Buffer.from([3]), select, tpm2b(digest),
  ]);
  const sig = cryptoSign('sha256', attest, { key, dsaEncoding: 'ieee-p1363' });
  const half = sig.length / 2;
  const signature = Buffer.concat([u16(TPM_ALG.ECDSA), u16(TPM_ALG.SHA256), tpm2b(sig.subarray(0, half)), tpm2b(sig.subarray(half))]);
  return { quote: attest, signature, values };
}

async function tpmQuote(o: AttestAgentOptions, nonce: Buffer, pcrs: number[]): Promise<{ quote: Buffer; signature: Buffer; values: Record<number, Buffer>; akPublic: Buffer }> {
  const tpm = new Tpm(join(o.dir, 'tpm'), o.tcti);
  const list = `sha256:${pcrs.join(',')}`;
  await tpm.run(['tpm2_quote', '-c', 'ak.ctx', '-l', list, '-q', nonce.toString('hex'), '-m', 'quote.msg', '-s', 'quote.sig', '-g', 'sha256']);
  await tpm.flush();
  const out = await tpm.run(['tpm2_pcrread', list]);
  const values: Record<number, Buffer> = {};
  for (const m of out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$/gm)) values[Number(m[1])] = Buffer.from(m[2] ?? '', 'hex');
  return { quote: tpm.file('quote.msg'), signature: tpm.file('quote.sig'), values, akPublic: tpm.file('ak.pub') };
}

function hexPcrs(values: Record<number, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.toString('hex')]));
}

/** One attestation round: challenge, quote (TPM or software), answer. */
export async function attestOnce(o: AttestAgentOptions, preChallenge?: { nonce: string; pcrs: number[]; due: boolean }): Promise<AttestRoundResult> {
  const tls = readTls(o.dir);
  let method = methodOf(o.dir);
  if (method === undefined) {
    // Enrolled without --tpm: the first round registers a software key (weaker).
    await enrollSoftwareAk(o);
    method = 'software';
  }
  const ch = preChallenge ?? await call<{ nonce: string; pcrs: number[]; due: boolean }>(o.server, tls, '/attest/v1/challenge', {});
  const nonce = Buffer.from(ch.nonce, 'hex');
  const log = readEventLog(o, method);
  const pcrs = pcrsToQuote(ch.pcrs, log);
  let body: Record<string, unknown>;
  if (method === 'tpm') {
    const q = await tpmQuote(o, nonce, pcrs);
    body = { nonce: ch.nonce, quote: q.quote.toString('base64'), signature: q.signature.toString('base64'), pcrs: { sha256: hexPcrs(q.values) }, eventLog: log.toString('base64'), akPublic: q.akPublic.toString('base64') };
  } else {
    const key = createPrivateKey(readFileSync(join(o.dir, 'ak-soft.pem'), 'utf8'));
    const q = softwareQuote(key, nonce, pcrs, log);
    body = { nonce: ch.nonce, quote: q.quote.toString('base64'), signature: q.signature.toString('base64'), pcrs: { sha256: hexPcrs(q.values) }, eventLog: log.toString('base64') };
  }
  const sent = o.transformBody === undefined ? body : o.transformBody(body);
  const r = await call<{ status: AttestRoundResult['status']; reason: string | null; at: string; method: 'tpm' | 'software'; weaker: boolean }>(o.server, tls, '/attest/v1/quote', sent);
  return { deviceId: tls.deviceId, ...r, due: ch.due };
}

/** One request of the device protocol with the enrolled identity (tests and the demo replay answers with it). */
export async function deviceCall<T = unknown>(o: { server: string; dir: string }, path: string, body: unknown): Promise<T> {
  return call<T>(o.server, readTls(o.dir), path, body);
}

/** Ask for a challenge without answering it (the agent's due check). */
export async function fetchChallenge(o: { server: string; dir: string }): Promise<{ nonce: string; pcrs: number[]; due: boolean; method: string | null }> {
  return call(o.server, readTls(o.dir), '/attest/v1/challenge', {});
}

/** "90s", "15m", "24h", "1d" → milliseconds; bounded to [10 s, 7 d]. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(s.trim());
  if (m === null) throw new ZetaError('ZETA_ERR_VALIDATION', `--every: a duration like 90s, 15m, 24h or 1d, got ${s}`);
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (ms < 10_000 || ms > 7 * 86_400_000) throw new ZetaError('ZETA_ERR_VALIDATION', '--every: between 10s and 7d');
  return ms;
}

/**
 * Attest every `everyMs`, and at once when an operator marked the device due (seen in the
 * challenge answer, polled every `pollMs`). A failed round is reported and the loop goes on.
 */
export async function attestLoop(o: AttestAgentOptions & { everyMs: number; pollMs?: number; signal: AbortSignal; onRound: (r: AttestRoundResult | { error: string; reason?: string }) => void }): Promise<void> {
  const poll = Math.min(o.pollMs ?? 30_000, o.everyMs);
  let last = 0;
  while (!o.signal.aborted) {
    try {
      const ch = await fetchChallenge(o);
      if (ch.due || last === 0 || Date.now() - last >= o.everyMs) {
        last = Date.now();
        o.onRound(await attestOnce(o, ch));
      }
    } catch (e) {
      const reason = e instanceof ZetaError ? (e.fields?.reason as string | undefined) : undefined;
      o.onRound({ error: (e as Error).message, ...(reason === undefined ? {} : { reason }) });
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, poll);
      o.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}
