/** Shared by the dashboard tests: HTTPS calls that trust the test CA, the built app, Chromium. */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { execFileP } from './helpers.js';
import { https, type HttpResult } from './iam-helpers.js';

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

export type Res = HttpResult;

/** One HTTPS request, verifying the server against the test CA bundle (no verification switched off). */
export function call(apiUrl: string, caBundlePath: string, method: string, path: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  return https(apiUrl, readFileSync(caBundlePath), method, path, o);
}

export async function serverSpkiPin(apiUrl: string, caBundlePath: string): Promise<string> {
  const { connect } = await import('node:tls');
  const { createHash, X509Certificate } = await import('node:crypto');
  const u = new URL(apiUrl);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: u.hostname, port: Number(u.port), servername: 'localhost', ca: readFileSync(caBundlePath) }, () => {
      const cert = new X509Certificate(sock.getPeerX509Certificate()!.raw);
      sock.end();
      resolve(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    });
    sock.on('error', reject);
  });
}

/**
 * Debian's Chromium, trusting exactly the test server's key. The test CA is not in the system
 * store and a headless run cannot take a per-profile CA without NSS tools, so instead of
 * `ignoreHTTPSErrors` (which accepts any certificate) the browser gets
 * --ignore-certificate-errors-spki-list=<pin>: only a certificate carrying that one public key is
 * accepted despite its unknown issuer; any other certificate still fails, and TLS itself (handshake,
 * key possession, name) is checked as usual. The pin comes from a connection verified against the CA.
 */
export async function launchChromium(pin: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${pin}`],
  });
}

/** Logs in through the dashboard's own form: password, then a TOTP code from `code`. */
export async function uiLoginTotp(page: Page, base: string, o: { username: string; password: string; code: () => Promise<string> }): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').fill(o.username);
  await page.getByLabel('Password').fill(o.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Code from your authenticator app').fill(await o.code());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByTestId('whoami').filter({ hasText: o.username }).waitFor();
}
