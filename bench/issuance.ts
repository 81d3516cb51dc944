/**
 * Device certificate issuance rate against Node's raw ECDSA P-256 sign rate, in one process.
 *   node --import tsx bench/issuance.ts [seconds-per-phase]
 * Goal: issuance/sec ≥ 0.25 × raw signs/sec. The full pipeline runs for every certificate
 * (authorize → constraints → template → sign → re-verify, including the signature verify).
 * Also reports, separately and labelled as such, the bulk re-issue path (IssuancePool, worker threads).
 */
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIssuingCaCert, createRootCaCert, FileSigner, issueDeviceCertificate, IssuancePool, type CaCert, type DeviceCertRequest } from '../src/pki/index.js';

const GOAL = 0.25;
const seconds = Number(process.argv[2] ?? '2');

interface Phase {
  name: string;
  fn: () => void;
  ops: number;
  ms: number;
}

/**
 * Runs the phases in interleaved rounds (a, b, c, a, b, c, ...) so background load and clock
 * drift hit all of them alike; each phase gets `totalMs` in all.
 */
function measure(phases: Phase[], totalMs: number, rounds = 4): void {
  for (const p of phases) for (let i = 0; i < 300; i++) p.fn(); // warm-up (JIT, OpenSSL tables)
  for (let r = 0; r < rounds; r++) {
    for (const p of phases) {
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < totalMs / rounds) {
        for (let i = 0; i < 50; i++) p.fn();
        p.ops += 50;
        t = performance.now();
      }
      p.ms += t - t0;
    }
  }
}

const perSec = (p: Phase): number => (p.ops * 1000) / p.ms;

const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-'));
try {
  const now = new Date();
  const rootSigner = FileSigner.generate(join(dir, 'root.pem'), 'p256');
  const root: CaCert = { id: 'root', certDer: createRootCaCert({ signer: rootSigner, trustDomain: 'bench.zeta', now }), signer: rootSigner };
  const issSigner = FileSigner.generate(join(dir, 'issuing.pem'), 'p256');
  const issuing: CaCert = { id: 'issuing', certDer: createIssuingCaCert({ root, signer: issSigner, trustDomain: 'bench.zeta', now }), signer: issSigner };

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const req: DeviceCertRequest = {
    deviceId: 'sensor-0001',
    trustDomain: 'bench.zeta',
    spki,
    notBefore: now,
    notAfter: new Date(now.getTime() + 30 * 86_400_000),
    ocspUrl: 'http://pki.bench.zeta:8080/ocsp',
    caIssuersUrl: 'http://pki.bench.zeta:8080/ca/issuing.der',
    crlUrl: 'http://pki.bench.zeta:8080/crl/issuing.crl',
  };

  // (a) raw sign over a TBS-sized message with the same kind of key object the signer holds.
  const tbsSized = issueDeviceCertificate(req, issuing).der.subarray(0, 420);
  const raw: Phase = { name: 'raw', ops: 0, ms: 0, fn: () => void sign('sha256', tbsSized, { key: privateKey, dsaEncoding: 'der' }) };

  // (b) the full pipeline, a new device id each time.
  let n = 0;
  const issue: Phase = {
    name: 'issue',
    ops: 0,
    ms: 0,
    fn: () => void issueDeviceCertificate({ ...req, deviceId: `sensor-${n++ % 10000}` }, issuing, () => undefined),
  };

  // (c) for reference: one sign + one verify and nothing else, the floor of any pipeline that
  // re-verifies (a P-256 verify costs about 2.7 signs in OpenSSL).
  const pub = createPublicKey(privateKey);
  const pairPhase: Phase = {
    name: 'pair',
    ops: 0,
    ms: 0,
    fn: () => {
      const sig = sign('sha256', tbsSized, { key: privateKey, dsaEncoding: 'der' });
      verify('sha256', tbsSized, { key: pub, dsaEncoding: 'der' }, sig);
    },
  };

  measure([raw, issue, pairPhase], seconds * 1000);
  const rawRate = perSec(raw);
  const issueRate = perSec(issue);
  const pairRate = perSec(pairPhase);
  const ratio = issueRate / rawRate;
  console.log(`raw crypto.sign P-256:        ${rawRate.toFixed(0)} signs/s (${raw.ops} in ${(raw.ms / 1000).toFixed(1)}s)`);
  console.log(`issueDeviceCertificate:       ${issueRate.toFixed(0)} certs/s (${issue.ops} in ${(issue.ms / 1000).toFixed(1)}s)`);
  console.log(`ratio:                        ${ratio.toFixed(3)} (goal >= ${GOAL}) ${ratio >= GOAL ? 'PASS' : 'BELOW GOAL'}`);
  console.log(`reference sign+verify only:   ${pairRate.toFixed(0)} pairs/s, ratio ${(pairRate / rawRate).toFixed(3)} (ceiling for a re-verifying pipeline)`);
  console.log(`pipeline vs sign+verify:      ${(issueRate / pairRate).toFixed(3)} (share of time spent in the two crypto calls)`);

  // (d) a separate path, not the single-thread figure above: bulk re-issue on worker threads (the
  // same pipeline per certificate), against the single-thread raw sign rate measured above.
  const pool = await IssuancePool.open({ id: issuing.id, certDer: issuing.certDer, keyRef: `file:${join(dir, 'issuing.pem')}`, baseDir: dir });
  const batch = Array.from({ length: 2048 }, (_, i) => ({ ...req, deviceId: `bulk-${i}` }));
  await pool.issue(batch.slice(0, 256)); // warm-up
  let bulkOps = 0;
  const b0 = performance.now();
  while (performance.now() - b0 < seconds * 1000) bulkOps += (await pool.issue(batch)).length;
  const bulkRate = (bulkOps * 1000) / (performance.now() - b0);
  await pool.close();
  console.log(`bulk re-issue, ${pool.threads} worker threads: ${bulkRate.toFixed(0)} certs/s = ${(bulkRate / rawRate).toFixed(3)} x single-thread raw signs/s (separate path; not the ratio above)`);
  console.log(
    JSON.stringify({
      bench: 'pki.issuance',
      node: process.version,
      rawSignPerSec: Math.round(rawRate),
      issuePerSec: Math.round(issueRate),
      ratio: Number(ratio.toFixed(3)),
      signVerifyPairPerSec: Math.round(pairRate),
      ceilingRatio: Number((pairRate / rawRate).toFixed(3)),
      goal: GOAL,
      pass: ratio >= GOAL,
      bulkWorkerThreads: pool.threads,
      bulkReissuePerSec: Math.round(bulkRate),
      bulkVsRawSingleThread: Number((bulkRate / rawRate).toFixed(3)),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
