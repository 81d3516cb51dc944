/** Shared test fixtures: temp dirs that are always removed, free ports, a running server, the CLI. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { makeConfig, type ConfigInput, type ZetaConfig } from '../src/common/config.js';
import { ControlPlane, startServer, type ServeHandles } from '../src/api/index.js';
import { writeServeFiles } from '../src/cli/serve-files.js';
import type { Clock } from '../src/common/clock.js';

export const execFileP = promisify(execFile);

export function tempDir(prefix = 'zeta-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestServer {
  cp: ControlPlane;
  h: ServeHandles;
  config: ZetaConfig;
  adminToken: string;
  caBundlePath: string;
  dataDir: string;
  close(): Promise<void>;
}

/** `zeta init` + `zeta serve` in-process on free ports, in a temp data dir. */
export async function startTestServer(overrides: ConfigInput = {}, clock?: Clock): Promise<TestServer> {
  const dir = tempDir();
  const config = makeConfig({ dataDir: dir.path, apiPort: await freePort(), pkiHttpPort: await freePort(), mqttPort: await freePort(), logLevel: 'silent', changeFeedIntervalMs: 100, ...overrides });
  const cp = await ControlPlane.open(config, { requireCa: false, ...(clock === undefined ? {} : { clock }) });
  const { adminToken } = await cp.init('test');
  const files = writeServeFiles(cp);
  const h = await startServer(cp, { caBundlePath: files.caBundlePath, tls: files.tls, logLevel: 'silent' });
  return {
    cp, h, config, adminToken, caBundlePath: files.caBundlePath, dataDir: dir.path,
    async close() {
      await h.close();
      await cp.close();
      if (config.databaseUrl === 'sqlite') dir.cleanup();
      else { await cp.store.dropSchema().catch(() => undefined); dir.cleanup(); }
    },
  };
}

export const ZETA_BIN = join(import.meta.dirname, '..', 'bin', 'zeta.mjs');

/** Runs the real `zeta` command; never throws on a non-zero exit. */
export async function zeta(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ZETA_BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export const PG_URL = process.env.ZETA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function pgSchemaName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(16).slice(2, 10)}`;
}
