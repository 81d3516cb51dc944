/**
 * The CLI as an API client (`--server URL`): HTTPS with the server verified against a CA bundle
 * (`--ca-file` / ZETA_CA_FILE), the API token from `--token`, ZETA_TOKEN or ZETA_TOKEN_FILE.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { ZetaError } from '../common/errors.js';

export interface ClientOptions {
  server: string;
  token?: string;
  caFile?: string;
}

export function resolveClient(o: { server?: string; token?: string; caFile?: string }): ClientOptions | undefined {
  const server = o.server ?? process.env.ZETA_SERVER;
  if (server === undefined) return undefined;
  let token = o.token ?? process.env.ZETA_TOKEN;
  if (token === undefined && process.env.ZETA_TOKEN_FILE !== undefined) token = readFileSync(process.env.ZETA_TOKEN_FILE, 'utf8').trim();
  const caFile = o.caFile ?? process.env.ZETA_CA_FILE;
  return { server, ...(token === undefined ? {} : { token }), ...(caFile === undefined ? {} : { caFile }) };
}

export async function apiCall<T = unknown>(c: ClientOptions, method: string, path: string, body?: unknown, contentType = 'application/json', extraHeaders: Record<string, string> = {}): Promise<T> {
  const url = new URL(path, c.server);
  if (url.protocol !== 'https:') throw new ZetaError('ZETA_ERR_VALIDATION', `--server must be an https:// URL, got ${c.server}`);
  const ca = c.caFile === undefined ? undefined : readFileSync(c.caFile);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(url, {
      method,
      ...(ca === undefined ? {} : { ca }),
      headers: {
        accept: 'application/json',
        ...extraHeaders,
        ...(c.token === undefined ? {} : { authorization: `Bearer ${c.token}` }),
        ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
      },
      timeout: 60_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        if ((res.headers['content-type'] ?? '').includes('json') && text !== '') {
          try { parsed = JSON.parse(text); } catch { parsed = text; }
        }
        if ((res.statusCode ?? 500) >= 400) {
          const p = parsed as { code?: string; detail?: string; requestId?: string } | string;
          const code = typeof p === 'object' && p.code !== undefined ? p.code : 'ZETA_ERR_SERVER';
          const msg = typeof p === 'object' ? `${p.detail ?? 'request failed'} (request ${p.requestId ?? '?'})` : `HTTP ${res.statusCode}: ${text.slice(0, 200)}`;
          reject(new ZetaError((code in ERROR_CODE_SET ? code : 'ZETA_ERR_SERVER') as 'ZETA_ERR_SERVER', msg));
          return;
        }
        resolve(parsed as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => reject(new ZetaError('ZETA_ERR_SERVER', `cannot reach ${c.server}: ${e.message}`, { cause: e })));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

import { ERROR_CODES } from '../common/errors.js';
const ERROR_CODE_SET: Record<string, unknown> = ERROR_CODES;
