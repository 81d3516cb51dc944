/** Shared by the dashboard tests: HTTPS calls that trust the test CA, the built app, Chromium. */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { execFileP } from './helpers.js';

export const ROOT = join(import.meta.dirname, '..');
export const DIST = join(ROOT, 'web', 'dist');
export const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots');

/** Chromium needs the built app: build it once if web/dist is missing (npm test builds it first). */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(join(DIST, 'index.html'))) return;
  await execFileP('npm', ['run', 'build:web'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
}

export function screenshotDir(): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return SCREENSHOTS;
}

export interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: <T = Record<string, unknown>>() => T }

/** One HTTPS request, verifying the server against the test CA bundle (no verification switched off). */
export function call(apiUrl: string, caBundlePath: string, method: string, path: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const url = new URL(path, apiUrl.replace('127.0.0.1', 'localhost'));
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method, ca: readFileSync(caBundlePath),
      headers: {
        ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
        ...(payload === undefined ? {} : { 'content-type': typeof o.body === 'string' ? 'text/plain' : 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...o.headers,
      },
    }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => { b += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: <T>() => JSON.parse(b) as T }));
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
