/**
 * Operator fixtures for tests (IAM and dashboard): create an operator on a data directory (via the
 * real `zeta operator add`) or on an in-process test server, log in with password + TOTP over
 * HTTPS, and compute TOTP codes. No mocks: the login goes through the real API.
 */
import { request } from 'node:https';
import { totpCode } from '../src/iam/index.js';
import { zeta, type TestServer } from './helpers.js';

export interface CreatedOperator { id: string; username: string; password: string; totpSecret?: string; recoveryCodes?: string[] }

export async function createOperator(
  dataDirOrServer: string | TestServer,
  o: { username: string; role: string; password: string; totp?: true; scope?: { sites?: string[]; segments?: string[] } },
): Promise<CreatedOperator> {
  if (typeof dataDirOrServer !== 'string') {
    const iam = dataDirOrServer.cp.iam;
    const op = await iam.operators.create({ username: o.username, role: o.role, password: o.password, ...(o.scope === undefined ? {} : { scope: o.scope }) }, 'test');
    if (o.totp !== true) return { id: op.id, username: op.username, password: o.password };
    const t = await iam.operators.provisionTotp(op.id, 'test');
    return { id: op.id, username: op.username, password: o.password, totpSecret: t.secret, recoveryCodes: t.recoveryCodes };
  }
  const args = ['operator', 'add', o.username, '--data', dataDirOrServer, '--role', o.role, '--password-stdin', '--json'];
  for (const s of o.scope?.sites ?? []) args.push('--site', s);
  for (const s of o.scope?.segments ?? []) args.push('--segment', s);
  if (o.totp === true) args.push('--totp');
  const r = await zeta(args, {}, o.password + '\n');
  if (r.code !== 0) throw new Error(`zeta operator add failed (${r.code}): ${r.stderr}${r.stdout}`);
  const out = JSON.parse(r.stdout) as { id: string; username: string; totpSecret?: string; recoveryCodes?: string[] };
  return { id: out.id, username: out.username, password: o.password, ...(out.totpSecret === undefined ? {} : { totpSecret: out.totpSecret, recoveryCodes: out.recoveryCodes ?? [] }) };
}

/** The current TOTP code of a secret. */
export function totpNow(secret: string, at: Date = new Date()): Promise<string> {
  return totpCode(secret, at);
}

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: <T = Record<string, unknown>>() => T }

/** One HTTPS request with the test CA; 127.0.0.1 is addressed as localhost (the certificate's name). */
export function https(apiUrl: string, caPem: string | Buffer, method: string, path: string, o: { body?: unknown; cookie?: string; csrf?: string; token?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  const url = new URL(path, apiUrl.replace('127.0.0.1', 'localhost'));
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method, ca: caPem,
      headers: {
        ...(o.cookie === undefined ? {} : { cookie: o.cookie }), ...(o.csrf === undefined ? {} : { 'x-csrf-token': o.csrf }),
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

/** `name=value` of a Set-Cookie header by cookie name ('' when it clears the cookie). */
export function cookieFrom(res: HttpResult, name: string): string | undefined {
  const set = res.headers['set-cookie'];
  for (const c of Array.isArray(set) ? set : set === undefined ? [] : [set]) {
    const first = c.split(';')[0]!;
    if (first.startsWith(`${name}=`)) return first;
  }
  return undefined;
}

// TOTP codes are single use: remember the last step used per secret so repeated logins in one test
// process take the next (still valid, RFC 6238 §5.2 one step of skew) code instead of replaying.
const lastStep = new Map<string, number>();

/** A TOTP code not yet used by this process (waits for the next period if two are used up). */
export async function freshTotp(secret: string): Promise<string> {
  for (;;) {
    const step = Math.floor(Date.now() / 30_000);
    const used = lastStep.get(secret) ?? -1;
    for (const s of [step, step + 1]) {
      if (s > used) {
        lastStep.set(secret, s);
        return totpCode(secret, new Date(s * 30_000 + 1000));
      }
    }
    await new Promise((r) => setTimeout(r, (step + 1) * 30_000 - Date.now() + 50));
  }
}

/** Password + TOTP login; returns the session cookie (`name=value`) and the CSRF token. */
export async function loginWithTotp(apiUrl: string, caPem: string | Buffer, o: { username: string; password: string; totpSecret: string }): Promise<{ cookie: string; csrfToken: string }> {
  const l = await https(apiUrl, caPem, 'POST', '/api/v1/auth/login', { body: { username: o.username, password: o.password } });
  if (l.status !== 200) throw new Error(`login failed: ${l.status} ${l.body}`);
  const pre = cookieFrom(l, '__Host-zeta_pre');
  if (pre === undefined) throw new Error('login set no __Host-zeta_pre cookie');
  const t = await https(apiUrl, caPem, 'POST', '/api/v1/auth/totp', { body: { code: await freshTotp(o.totpSecret) }, cookie: pre });
  if (t.status !== 200) throw new Error(`TOTP step failed: ${t.status} ${t.body}`);
  const cookie = cookieFrom(t, '__Host-zeta_session');
  if (cookie === undefined) throw new Error('TOTP step set no session cookie');
  return { cookie, csrfToken: t.json<{ csrfToken: string }>().csrfToken };
}
