/**
 * Bulk device-certificate issuance on worker threads (re-issuing a fleet, e.g. after an issuing-CA
 * rotation), for when one thread's signing rate is the limit. Every certificate still goes through
 * the whole pipeline: authorize runs here on the calling thread for every request before anything
 * is signed, and constraints → template → sign → re-verify run in a worker, each with its own
 * signer opened from the issuer's key reference (key material never crosses threads).
 * All or nothing: if any request fails, issue() throws ZETA_ERR_ISSUANCE naming it and its stage.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ZetaError } from '../common/errors.js';
import type { DeviceCertRequest, IssuedCert, IssuanceStage } from './issue-device.js';
import { fromWireCert, toWireRequest, type PoolIssuer, type WireRequest, type WireResult } from './issue-wire.js';

export type { PoolIssuer } from './issue-wire.js';

/** Requests per message: large enough to amortise the round trip, small enough to balance. */
const CHUNK = 64;

interface Job {
  start: number;
  requests: WireRequest[];
}

/**
 * Zeta runs its TypeScript through tsx, whose loader hooks a worker does not inherit: a worker
 * started from a .ts module first registers tsx itself, then imports the worker module.
 */
function startWorker(issuer: PoolIssuer): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./issue-worker.js', import.meta.url), { workerData: issuer });
  const workerUrl = new URL('./issue-worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: issuer });
}

export class IssuancePool {
  readonly #workers: Worker[];
  readonly #issuerId: string;
  #closed = false;
  /** Batches run one after another: the workers' message streams are not shared between them. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(workers: Worker[], issuerId: string) {
    this.#workers = workers;
    this.#issuerId = issuerId;
  }

  /** Starts `threads` workers (default: one per available core) and waits until each holds its signer. */
  static async open(issuer: PoolIssuer, options: { threads?: number } = {}): Promise<IssuancePool> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > 64) throw new ZetaError('ZETA_ERR_VALIDATION', 'threads must be an integer from 1 to 64');
    const workers = Array.from({ length: threads }, () => startWorker(issuer));
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.once('message', (m: { ready: boolean; message?: string }) => {
          w.off('error', reject);
          if (m.ready) resolve();
          else reject(new ZetaError('ZETA_ERR_CONFIG', 'The issuing CA signer could not be opened in a worker.', { internal: m.message ?? '' }));
        });
      })));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    for (const w of workers) w.unref();
    return new IssuancePool(workers, issuer.id);
  }

  get threads(): number {
    return this.#workers.length;
  }

  /**
   * Issues one certificate per request, in order. `authorize` runs first for every request (on this
   * thread, on a frozen snapshot); a refusal stops the batch before anything is signed.
   */
  issue(requests: readonly DeviceCertRequest[], authorize?: (req: DeviceCertRequest) => void): Promise<IssuedCert[]> {
    const run = this.#tail.then(() => this.#issue(requests, authorize));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #issue(requests: readonly DeviceCertRequest[], authorize?: (req: DeviceCertRequest) => void): Promise<IssuedCert[]> {
    if (this.#closed) throw new ZetaError('ZETA_ERR_INTERNAL', 'the issuance pool is closed');
    const wire: WireRequest[] = requests.map((req, i) => {
      const r = Object.freeze({ ...req });
      try {
        authorize?.(r);
      } catch (e) {
        throw this.#failed(i, r.deviceId, 'authorize', e instanceof ZetaError ? e.message : 'internal error', e instanceof ZetaError ? `${e.code}: ${e.internal ?? e.message}` : String(e), e);
      }
      return toWireRequest(r);
    });
    const jobs: Job[] = [];
    for (let start = 0; start < wire.length; start += CHUNK) jobs.push({ start, requests: wire.slice(start, start + CHUNK) });
    const results: WireResult[] = new Array<WireResult>(wire.length);
    let next = 0;
    await Promise.all(this.#workers.map((w) => new Promise<void>((resolve, reject) => {
      const send = (): void => {
        const job = jobs[next++];
        if (job === undefined) {
          w.off('message', onMessage);
          w.off('error', reject);
          resolve();
          return;
        }
        current = job;
        w.postMessage({ job: job.start, requests: job.requests });
      };
      let current: Job | undefined;
      const onMessage = (m: { job: number; results: WireResult[] }): void => {
        if (current === undefined || m.job !== current.start) return;
        m.results.forEach((r, k) => { results[m.job + k] = r; });
        send();
      };
      w.on('message', onMessage);
      w.once('error', reject);
      send();
    })));
    return results.map((r, i) => {
      if (r.ok) return fromWireCert(r.cert);
      throw this.#failed(i, requests[i]?.deviceId ?? '', r.stage, r.message, `${r.code}: ${r.internal}`);
    });
  }

  #failed(index: number, deviceId: string, stage: string, detail: string, internal: string, cause?: unknown): ZetaError {
    return new ZetaError('ZETA_ERR_ISSUANCE', `Certificate issuance failed at ${stage}: ${detail}`, {
      internal: `request ${index}, device ${deviceId}, issuer ${this.#issuerId}, stage ${stage}: ${internal}`,
      ...(cause === undefined ? {} : { cause }),
      fields: { stage: stage as IssuanceStage, index },
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
