/**
 * Worker-thread side of IssuancePool: opens the issuer's signer from its key reference (the key
 * never crosses threads) and runs issueDeviceCertificate — the whole pipeline, re-verify included —
 * for each request it is sent. The authorize stage ran on the main thread before dispatch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ZetaError } from '../common/errors.js';
import type { CaCert } from './ca.js';
import { issueDeviceCertificate } from './issue-device.js';
import { fromWireRequest, toWireCert, type PoolIssuer, type WireRequest, type WireResult } from './issue-wire.js';
import { openSigner } from './signer.js';

const port = parentPort;
if (port === null) throw new ZetaError('ZETA_ERR_INTERNAL', 'issue-worker runs only as a worker thread');

let issuer: CaCert | undefined;
try {
  const w = workerData as PoolIssuer;
  issuer = { id: w.id, certDer: Buffer.from(w.certDer), signer: openSigner(w.keyRef, w.baseDir) };
  port.postMessage({ ready: true });
} catch (e) {
  // The pool refuses to open and terminates this worker; it never gets a request.
  port.postMessage({ ready: false, message: e instanceof ZetaError ? `${e.message} ${e.internal ?? ''}` : String(e) });
}

port.on('message', (msg: { job: number; requests: WireRequest[] }) => {
  if (issuer === undefined) return;
  const ca = issuer;
  const results: WireResult[] = msg.requests.map((w) => {
    try {
      return { ok: true, cert: toWireCert(issueDeviceCertificate(fromWireRequest(w), ca)) };
    } catch (e) {
      const z = e instanceof ZetaError ? e : new ZetaError('ZETA_ERR_INTERNAL', 'issuance failed', { cause: e });
      return { ok: false, code: z.code, message: z.message, internal: z.internal ?? z.message, stage: String(z.fields?.['stage'] ?? 'unknown') };
    }
  });
  port.postMessage({ job: msg.job, results });
});
