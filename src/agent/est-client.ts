/**
 * The device's EST client (RFC 7030). It never sends a secret to a server it has not
 * authenticated: the trust anchor is either a CA file, or the root's SHA-256 pinned in the
 * enrollment token, checked against /cacerts before the token leaves the device.
 */
import { request, type RequestOptions } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { readPkcs7Certs, sha256Hex, toPem } from '../pki/index.js';

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function httpsRequest(url: URL, options: RequestOptions, body?: Buffer | string): Promise<HttpsResult> {
  if (url.protocol !== 'https:') return Promise.reject(new ZetaError('ZETA_ERR_VALIDATION', `the EST server must be an https:// URL, got ${url.href}`));
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 30_000, ...options }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > 1024 * 1024) { req.destroy(new Error('response too large')); return; }
        chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new ZetaError('ZETA_ERR_SERVER', `cannot reach ${url.origin}: ${e.message}`, { cause: e })));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Decodes an RFC 7030 base64 certs-only PKCS#7 body into DER certificates. */
export function decodeEstCerts(body: Buffer): Buffer[] {
  const text = body.toString('ascii').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new ZetaError('ZETA_ERR_SERVER', 'EST response is not base64');
  return readPkcs7Certs(Buffer.from(text, 'base64'));
}

export function estError(r: HttpsResult, what: string): ZetaError {
  const text = r.body.toString('utf8');
  let detail = text.slice(0, 300);
  try {
    const p = JSON.parse(text) as { detail?: string; code?: string; requestId?: string };
    detail = `${p.detail ?? ''} [${p.code ?? ''}] (request ${p.requestId ?? '?'})`;
  } catch {
    // not problem+json; show the text
  }
  return new ZetaError('ZETA_ERR_SERVER', `${what} refused: HTTP ${r.status}: ${detail}`);
}

/** Splits a token of the form `zet_<secret>.<root sha256>` into its pin (if any). */
export function tokenPin(token: string): string | undefined {
  const m = /\.([0-9a-f]{64})$/.exec(token);
  return m?.[1];
}

/**
 * RFC 7030 §4.1.1 bootstrap: fetch /cacerts over a TLS connection whose chain is not yet
 * verifiable (we hold no trust anchor yet), then accept the CA set only if it holds a self-signed
 * root whose SHA-256 equals the pin and every other certificate chains to it. Nothing secret is
 * sent on this connection; after it, every request verifies the server against that root.
 */
export async function bootstrapTrust(server: URL, pin: string): Promise<{ rootPem: string; chainPem: string }> {
  const r = await httpsRequest(new URL('/.well-known/est/cacerts', server), {
    method: 'GET',
    // Provisional TLS, RFC 7030 §4.1.1: the chain cannot be checked until the pin has been.
    rejectUnauthorized: false,
  });
  if (r.status !== 200) throw estError(r, 'cacerts');
  const certs = decodeEstCerts(r.body).map((d) => new X509Certificate(d));
  const root = certs.find((c) => sha256Hex(c.raw) === pin);
  if (root === undefined || !root.checkIssued(root) || !root.verify(root.publicKey)) {
    throw new ZetaError('ZETA_ERR_CERT_INVALID', `the server's CA does not match the pin in the enrollment token; refusing to enroll (is ${server.origin} the right server?)`);
  }
  const issuing = certs.filter((c) => c !== root && c.checkIssued(root) && c.verify(root.publicKey) && c.ca);
  return { rootPem: toPem(root.raw, 'CERTIFICATE'), chainPem: issuing.map((c) => toPem(c.raw, 'CERTIFICATE')).join('') };
}
