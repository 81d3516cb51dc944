/**
 * A measured platform for tests and the demo: a TPM (swtpm, or any TPM2TOOLS_TCTI) whose PCRs are
 * extended through tpm2-tools while the matching TCG event log is kept, exactly as firmware and
 * a boot loader do on a device. `extendUnlogged` is what tampered firmware does: a measurement the
 * log does not show. Also the demo's "tampered firmware" round.
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ZetaError } from '../common/errors.js';
import { TPM_ALG, encodeEventLog, type LogEvent } from '../attest/index.js';
import { attestOnce, type AttestAgentOptions, type AttestRoundResult } from './attest.js';

const execFileP = promisify(execFile);

/** PC Client PFP event types used here. */
export const EV = { IPL: 0x0d, EFI_ACTION: 0x80000007, SEPARATOR: 0x04 } as const;

export interface SwtpmHandle {
  readonly port: number;
  readonly tcti: string;
  readonly stateDir: string;
  stop(): void;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' }, () => { c.end(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new ZetaError('ZETA_ERR_INTERNAL', `swtpm did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a TPM 2.0 simulator on two free consecutive ports (server P, control P+1). */
export async function startSwtpm(): Promise<SwtpmHandle> {
  for (const tool of ['swtpm', 'tpm2_pcrextend', 'tpm2_createek']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new ZetaError('ZETA_ERR_CONFIG', `${tool} not found: the TPM simulator needs the Debian packages swtpm, swtpm-tools and tpm2-tools`);
    }
  }
  let port = 0;
  for (let i = 0; i < 50 && port === 0; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if ((await portFree(p)) && (await portFree(p + 1))) port = p;
  }
  if (port === 0) throw new ZetaError('ZETA_ERR_INTERNAL', 'no free port pair for swtpm');
  const stateDir = mkdtempSync(join(tmpdir(), 'zeta-swtpm-'));
  const child: ChildProcess = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port}`, '--ctrl', `type=tcp,port=${port + 1}`, '--tpmstate', `dir=${stateDir}`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
  await waitForPort(port, 5000);
  return {
    port, tcti: `swtpm:port=${port}`, stateDir,
    stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A boot as the firmware measures it: PCR extends on the TPM, and the log that says so. */
export class MeasuredPlatform {
  readonly tcti: string;
  readonly #events: LogEvent[] = [];

  constructor(tcti: string) {
    this.tcti = tcti;
  }

  async #extend(pcr: number, digest: Buffer): Promise<void> {
    await execFileP('tpm2_pcrextend', [`${pcr}:sha256=${digest.toString('hex')}`], { env: { ...process.env, TPM2TOOLS_TCTI: this.tcti }, timeout: 20_000 });
  }

  /** Measures `data` (its SHA-256 is extended) and logs it. */
  async measure(pcr: number, type: number, data: string | Buffer): Promise<string> {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    const digest = createHash('sha256').update(bytes).digest();
    await this.#extend(pcr, digest);
    this.#events.push({ seq: this.#events.length, pcr, type, typeName: '', digests: new Map([[TPM_ALG.SHA256, digest]]), data: bytes });
    return digest.toString('hex');
  }

  /** What tampered firmware does: extends a measurement the log will never show. */
  async extendUnlogged(pcr: number, data: string): Promise<void> {
    await this.#extend(pcr, createHash('sha256').update(data).digest());
  }

  log(): Buffer {
    return encodeEventLog({ format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] }, events: this.#events });
  }

  writeLog(path: string): string {
    writeFileSync(path, this.log());
    return path;
  }
}

/**
 * The demo's "firmware tampered with" device: the firmware extends PCR 9 with an image the log
 * does not show, and the agent sends the (now lying) log. Zeta refuses the attestation
 * (event-log-pcr-mismatch), records it, lowers the device's trust and emits
 * `device.attestation_failed` for the response playbooks. Without a TPM (`platform` undefined),
 * the same story on the software path: the agent's log is swapped for one that does not give the
 * PCRs it signed.
 */
export async function demoTamperedFirmware(o: AttestAgentOptions & { platform?: MeasuredPlatform }): Promise<{ status: 'failed' | AttestRoundResult['status']; reason: string | null }> {
  try {
    let opts: AttestAgentOptions = o;
    if (o.platform !== undefined) {
      await o.platform.extendUnlogged(9, 'bootkit: patched firmware image');
      opts = { ...o, tcti: o.platform.tcti, eventLog: o.platform.writeLog(join(o.dir, 'eventlog.bin')) };
    } else {
      // The agent quotes what really booted (a patched kernel) and sends the vendor's log instead.
      const logOf = (kernel: string): Buffer => encodeEventLog({
        format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] },
        events: [{ seq: 0, pcr: 9, type: EV.IPL, typeName: 'EV_IPL', digests: new Map([[TPM_ALG.SHA256, createHash('sha256').update(kernel).digest()]]), data: Buffer.from(kernel) }],
      });
      const booted = join(o.dir, 'eventlog.booted.bin');
      writeFileSync(booted, logOf('kernel: patched by a bootkit'));
      const claimed = logOf('kernel: vendor image').toString('base64');
      opts = { ...o, eventLog: booted, transformBody: (b) => ({ ...b, eventLog: claimed }) };
    }
    const r = await attestOnce(opts);
    return { status: r.status, reason: r.reason };
  } catch (e) {
    const reason = e instanceof ZetaError ? (e.fields?.reason as string | undefined) : undefined;
    if (reason === undefined) throw e;
    return { status: 'failed', reason };
  }
}
