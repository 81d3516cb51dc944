/**
 * EST enrollments per second over HTTPS (simpleenroll: TLS, token check and burn, CSR proof of
 * possession, issuance pipeline, audit entry, all committed), against the same server answering
 * an authenticated no-op API call (GET /api/v1/health) with the same client and connections: the
 * ratio shows what enrollment itself costs beyond HTTPS. Keep-alive, C concurrent clients.
 *   node --import tsx bench/est.ts [seconds=5] [concurrency=16]
 */
import { Agent, request } from 'node:https';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig } from '../src/common/config.js';
import { ControlPlane, startServer } from '../src/api/index.js';
import { buildCsr } from '../src/pki/index.js';
import { writeServeFiles } from '../src/cli/serve-files.js';

const SECONDS = Number(process.argv[2] ?? 5);
const C = Number(process.argv[3] ?? 16);

const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-est-'));
const config = makeConfig({ dataDir: dir, apiPort: 0, pkiHttpPort: 0, logLevel: 'silent' });
const cp = await ControlPlane.open(config, { requireCa: false });
await cp.init('bench');
const files = writeServeFiles(cp);
const h = await startServer(cp, { caBundlePath: files.caBundlePath, tls: files.tls, logLevel: 'silent' });
const url = new URL(h.apiUrl.replace('127.0.0.1', 'localhost'));
const ca = cp.authority.trustBundlePem();
const agent = new Agent({ keepAlive: true, maxSockets: C, ca });

function post(path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: body === undefined ? 'GET' : 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function loop(seconds: number, one: (i: number) => Promise<void>): Promise<number> {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: C }, async () => {
    while (performance.now() < end) { await one(n); n++; }
  }));
  return n / seconds;
}

// Devices and CSRs prepared up front (the device side's work is not the server's).
const budget = Math.ceil(SECONDS * 2000);
const imported = await cp.inventory.importDevices(Array.from({ length: budget }, (_, i) => ({ id: `b-${i}`, name: `b ${i}`, type: 'sensor' })), 'bench');
const csrs = Array.from({ length: 64 }, () => buildCsr(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'x').toString('base64'));
const admin = (await cp.tokens.create({ name: 'bench', role: 'auditor' }, 'bench')).token;

await loop(1, async () => { if (await post('/api/v1/health', {}) !== 200) throw new Error('health'); });
const healthRate = await loop(SECONDS, async () => { if (await post('/api/v1/health', { authorization: `Bearer ${admin}` }) !== 200) throw new Error('health'); });
let next = 0;
const estRate = await loop(SECONDS, async () => {
  const i = next++;
  const t = imported.tokens[i];
  if (t === undefined) throw new Error('ran out of prepared devices');
  const st = await post('/.well-known/est/simpleenroll', {
    'content-type': 'application/pkcs10', authorization: `Basic ${Buffer.from(`${t.id}:${t.enrollmentToken}`).toString('base64')}`,
  }, csrs[i % csrs.length]!);
  if (st !== 200) throw new Error(`enroll ${st}`);
});

console.log(`EST over HTTPS, ${C} keep-alive clients, ${SECONDS} s each`);
console.log(`  GET /api/v1/health (HTTPS floor): ${healthRate.toFixed(0)} req/s`);
console.log(`  simpleenroll:                     ${estRate.toFixed(0)} enrollments/s`);
console.log(`  ratio enroll/health: ${(estRate / healthRate).toFixed(3)}`);
console.log(JSON.stringify({ bench: 'est', concurrency: C, healthPerSec: healthRate, enrollPerSec: estRate, ratio: estRate / healthRate }));
agent.destroy();
await h.close();
await cp.close();
rmSync(dir, { recursive: true, force: true });
