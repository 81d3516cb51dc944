/**
 * The few API calls full mode makes, over HTTPS with the server verified against the given CA
 * bundle only (never the system store, never `rejectUnauthorized: false`): the sim holds an
 * operator token and must not hand it to whoever answers.
 */
import { request } from 'node:https';
import { ZetaError } from '../common/errors.js';

export interface ApiClientOptions {
  readonly server: string;
  readonly token: string;
  /** PEM bundle that verifies the server. */
  readonly ca: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Responses larger than this are refused: the sim reads device records and alert lists, nothing big. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export class SimApiClient {
  readonly #o: ApiClientOptions;
  constructor(o: ApiClientOptions) {
    const u = new URL(o.server);
    if (u.protocol !== 'https:') throw new ZetaError('ZETA_ERR_VALIDATION', `--server must be an https:// URL, got ${o.server}`);
    this.#o = o;
  }

  get server(): string {
    return this.#o.server;
  }

  async call(method: string, path: string, body?: string | object, contentType = 'application/json'): Promise<ApiResponse> {
    const url = new URL(path, this.#o.server);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method,
        ca: this.#o.ca,
        headers: {
          authorization: `Bearer ${this.#o.token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
        },
        timeout: 30_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new ZetaError('ZETA_ERR_SERVER', `response from ${url.pathname} larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(d);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : JSON.parse(text);
          } catch {
            // not JSON (an HTML 404 from a proxy, say): keep the text for the message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new ZetaError('ZETA_ERR_SERVER', `${method} ${url.pathname}: no answer within 30 s`)));
      req.on('error', (e) => reject(e instanceof ZetaError ? e : new ZetaError('ZETA_ERR_SERVER', `cannot reach ${this.#o.server}: ${e.message}`, { cause: e })));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Like `call`, but a non-2xx answer is an error that carries the server's problem message. */
  async json<T>(method: string, path: string, body?: object): Promise<T> {
    const r = await this.call(method, path, body);
    if (r.status < 200 || r.status >= 300) {
      const p = r.body as { detail?: string; title?: string; code?: string } | null;
      const msg = p !== null && typeof p === 'object' ? (p.detail ?? p.title ?? JSON.stringify(p)) : String(r.body).slice(0, 200);
      throw new ZetaError(r.status === 401 || r.status === 403 ? 'ZETA_ERR_FORBIDDEN' : 'ZETA_ERR_SERVER', `${method} ${path} → ${r.status}: ${msg}`);
    }
    return r.body as T;
  }
}
