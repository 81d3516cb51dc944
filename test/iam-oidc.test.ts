/**
 * Single sign-on end to end: a real oidc-provider (v9) as the IdP over HTTPS on 127.0.0.1, with a
 * certificate from a throwaway CA that Zeta is given as oidcCaFile (verification stays on). The
 * login interaction is answered by the test (no dev forms): it picks the account that "logs in".
 * A linked identity gets a session; an unlinked one, a forged state and a replayed callback do not.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { startTestServer, freePort, tempDir, execFileP, type TestServer } from './helpers.js';
import { createOperator, https } from './iam-helpers.js';

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ uid: string; params: Record<string, unknown> }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, o?: Record<string, unknown>): Promise<void>;
  Grant: new (o: { accountId: string; clientId: string }) => { addOIDCScope(s: string): void; save(): Promise<string> };
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
async function throwawayPki(dir: string): Promise<{ caPath: string; key: string; cert: string }> {
  const o = (args: string[]): Promise<unknown> => execFileP('openssl', args, { cwd: dir });
  await o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=throwaway IdP CA']);
  await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'idp.key', '-out', 'idp.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await o(['x509', '-req', '-in', 'idp.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'idp.pem', '-days', '1', '-extfile', 'ext.cnf']);
  return { caPath: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'idp.key'), 'utf8'), cert: readFileSync(join(dir, 'idp.pem'), 'utf8') };
}

/** GET with a cookie jar per host; returns status, Location and Set-Cookie without following. */
function get(url: string, ca: (string | Buffer)[], jar: Map<string, string>): Promise<{ status: number; location: string | undefined; body: string }> {
  const u = new URL(url);
  const cookie = [...jar].filter(([k]) => k.startsWith(`${u.host} `)).map(([k, v]) => `${k.split(' ')[1]}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = request(u, { method: 'GET', ca, headers: cookie === '' ? {} : { cookie } }, (res) => {
      for (const c of res.headers['set-cookie'] ?? []) {
        const [nv] = c.split(';');
        const i = nv!.indexOf('=');
        jar.set(`${u.host} ${nv!.slice(0, i)}`, nv!.slice(i + 1));
      }
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location === undefined ? undefined : new URL(res.headers.location, u).href, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('OpenID Connect single sign-on', () => {
  let s: TestServer;
  let idp: Server;
  let issuer = '';
  let caPem = '';
  let zetaCa: Buffer;
  let nextAccount = 'sub-alice';
  const dir = tempDir('zeta-oidc-');

  before(async () => {
    const pki = await throwawayPki(dir.path);
    caPem = readFileSync(pki.caPath, 'utf8');
    const idpPort = await freePort();
    const apiPort = await freePort();
    issuer = `https://127.0.0.1:${idpPort}`;
    const { default: Provider } = (await import('oidc-provider' as string)) as { default: new (issuer: string, config: Record<string, unknown>) => OidcProvider };
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'zeta', client_secret: 'zeta-client-secret-for-tests', redirect_uris: [`https://localhost:${apiPort}/api/v1/auth/oidc/callback`], grant_types: ['authorization_code'], response_types: ['code'] }],
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      cookies: { keys: ['throwaway-cookie-key-for-the-test-idp'] },
      // A throwaway RS256 signing key (the ID token's default algorithm).
      jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'RS256' }] },
    });
    const handler = provider.callback();
    idp = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      if (req.url?.startsWith('/interaction/') === true) {
        void (async () => {
          // The "user" logs in as nextAccount and consents to openid.
          await provider.interactionDetails(req, res);
          const grant = new provider.Grant({ accountId: nextAccount, clientId: 'zeta' });
          grant.addOIDCScope('openid');
          const grantId = await grant.save();
          await provider.interactionFinished(req, res, { login: { accountId: nextAccount }, consent: { grantId } }, { mergeWithLastSubmission: false });
        })().catch((e: unknown) => { res.statusCode = 500; res.end(String(e)); });
        return;
      }
      handler(req, res);
    });
    await new Promise<void>((r) => idp.listen(idpPort, '127.0.0.1', r));
    s = await startTestServer({ apiPort, oidcIssuer: issuer, oidcClientId: 'zeta', oidcClientSecret: 'zeta-client-secret-for-tests', oidcCaFile: pki.caPath });
    zetaCa = readFileSync(s.caBundlePath);
  });
  after(async () => {
    await s?.close();
    idp?.closeAllConnections();
    await new Promise((r) => idp?.close(r));
    dir.cleanup();
  });

  /** Browser-like walk: start → IdP → interaction → IdP → Zeta callback. Returns the callback's answer. */
  async function ssoLogin(jar = new Map<string, string>(), tamper?: (callbackUrl: string) => string): Promise<{ status: number; location: string | undefined; body: string; jar: Map<string, string>; callback: string }> {
    const cas = [zetaCa, caPem];
    let r = await get(`${s.h.apiUrl.replace('127.0.0.1', 'localhost')}/api/v1/auth/oidc/start`, cas, jar);
    assert.equal(r.status, 302, r.body);
    assert.ok(r.location!.startsWith(issuer));
    const auth = new URL(r.location!);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(auth.searchParams.get('state') !== null && auth.searchParams.get('nonce') !== null);
    let url = r.location!;
    for (let i = 0; i < 10 && url.startsWith(issuer); i++) {
      r = await get(url, cas, jar);
      assert.ok(r.status >= 300 && r.status < 400, `${url}: ${r.status} ${r.body.slice(0, 300)}`);
      url = r.location!;
    }
    assert.match(url, /\/api\/v1\/auth\/oidc\/callback\?/);
    const callback = tamper === undefined ? url : tamper(url);
    const done = await get(callback, cas, jar);
    return { ...done, jar, callback };
  }

  it('logs a linked operator in and answers /auth/config', async () => {
    const cfg = await https(s.h.apiUrl, zetaCa, 'GET', '/api/v1/auth/config');
    assert.deepEqual(cfg.json(), { oidc: true, webauthn: true });
    const r0 = await execFileP(process.execPath, [join(import.meta.dirname, '..', 'bin', 'zeta.mjs'), 'operator', 'add', 'alice', '--role', 'secops', '--no-password', '--sso-issuer', issuer, '--sso-subject', 'sub-alice', '--data', s.dataDir, '--json'], { env: { PATH: process.env.PATH } });
    assert.equal(JSON.parse(r0.stdout).sso.subject, 'sub-alice');
    nextAccount = 'sub-alice';
    const r = await ssoLogin();
    assert.equal(r.status, 302, r.body + JSON.stringify((await s.cp.audit.list({ action: 'auth.login', limit: 5 })).map((e) => e.details)));
    assert.equal(new URL(r.location!).pathname, '/');
    const session = [...r.jar].find(([k]) => k.endsWith(' __Host-zeta_session'));
    assert.ok(session !== undefined && session[1] !== '');
    const me = await https(s.h.apiUrl, zetaCa, 'GET', '/api/v1/auth/me', { cookie: `__Host-zeta_session=${session[1]}` });
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json<{ operator: { username: string; role: string } }>().operator.username, 'alice');
    const audit = await s.cp.audit.list({ action: 'auth.login', subject: 'alice', limit: 5 });
    assert.ok(audit.some((e) => e.outcome === 'ok' && JSON.stringify(e.details).includes('oidc')));
    // The callback is single use.
    const again = await get(r.callback, [zetaCa, caPem], r.jar);
    assert.equal(again.status, 401);
  });

  it('refuses an unlinked identity and a forged state', async () => {
    nextAccount = 'sub-mallory';
    const unlinked = await ssoLogin();
    assert.equal(unlinked.status, 401, unlinked.body);
    assert.equal(JSON.parse(unlinked.body).code, 'ZETA_ERR_OIDC');
    assert.ok(![...unlinked.jar].some(([k, v]) => k.endsWith(' __Host-zeta_session') && v !== ''));
    nextAccount = 'sub-alice';
    const forged = await ssoLogin(new Map(), (u) => { const x = new URL(u); x.searchParams.set('state', 'forged'); return x.href; });
    assert.equal(forged.status, 401, forged.body);
    const refused = await s.cp.audit.list({ action: 'auth.login', limit: 50 });
    assert.ok(refused.some((e) => e.outcome === 'refused' && e.subject === `${issuer}#sub-mallory`));
  });

  it('an operator with a password and an SSO link can be created over the API too', async () => {
    const op = await createOperator(s, { username: 'bob', role: 'auditor', password: 'bob-long-password' });
    assert.ok(op.id.startsWith('op-'));
  });
});
