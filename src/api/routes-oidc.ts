/**
 * OpenID Connect single sign-on (OpenID Connect Core 1.0, authorization code flow) with
 * openid-client v6: PKCE S256 (RFC 7636), `state` and `nonce`, ID token validated by the library
 * (issuer, audience, signature, expiry, nonce). The IdP's TLS certificate is verified against the
 * system store plus `oidcCaFile` through a custom fetch — verification is never turned off.
 *
 * Identity mapping: pre-provisioned links only. An admin links an operator to (issuer, subject)
 * (`zeta operator add --sso-subject`, or `sso` in POST /api/v1/operators); an IdP identity with no
 * link gets no session, whatever its claims say — the IdP authenticates, Zeta authorizes. The
 * IdP is trusted for the strength of that authentication; step-up still needs a Zeta factor.
 */
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { ZetaError } from '../common/errors.js';
import { clearCookie, clientAddress, cookies, PRE_COOKIE, SESSION_COOKIE, setCookie } from './access.js';
import type { AuthHelpers } from './routes-auth.js';

const OIDC_COOKIE = '__Host-zeta_oidc';
const FLOW_TTL_MS = 10 * 60_000;
const MAX_FLOWS = 10_000;

interface Flow { state: string; nonce: string; verifier: string; expires: number }

/** fetch over node:https with an explicit CA set: what openid-client calls for every IdP request. */
function fetchWithCa(ca: string[]): client.CustomFetch {
  return (url, options) => new Promise<Response>((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(options.headers).forEach((v, k) => { headers[k] = v; });
    const req = request(url, { method: options.method, headers, ca, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve(new Response(chunks.length === 0 || res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
      });
    });
    req.on('timeout', () => req.destroy(new Error('IdP request timed out')));
    req.on('error', reject);
    options.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
    const b: unknown = options.body;
    if (typeof b === 'string' || b instanceof URLSearchParams) req.write(b.toString());
    else if (b instanceof Uint8Array) req.write(b);
    else if (b instanceof ArrayBuffer) req.write(Buffer.from(b));
    else if (b !== undefined && b !== null) { req.destroy(new Error('unsupported request body type')); return; }
    req.end();
  });
}

export function registerOidcRoutes(app: FastifyInstance, h: AuthHelpers): void {
  const { cp } = h;
  const c = cp.config;
  if (c.oidcIssuer === undefined || c.oidcClientId === undefined) return;
  const issuer = c.oidcIssuer;
  const clientId = c.oidcClientId;
  const redirectUrl = c.oidcRedirectUrl ?? `${cp.iam.publicUrl}/api/v1/auth/oidc/callback`;
  const ca = [...rootCertificates, ...(c.oidcCaFile === undefined ? [] : [readFileSync(c.oidcCaFile, 'utf8')])];
  const customFetch = fetchWithCa(ca);
  let config: Promise<client.Configuration> | undefined;
  const discover = (): Promise<client.Configuration> => {
    config ??= client.discovery(new URL(issuer), clientId, c.oidcClientSecret, undefined, { [client.customFetch]: customFetch }).then((cfg) => {
      cfg[client.customFetch] = customFetch;
      return cfg;
    }).catch((e: unknown) => {
      config = undefined; // retry discovery next time
      throw new ZetaError('ZETA_ERR_OIDC', 'the identity provider cannot be reached', { cause: e, internal: (e as Error).message });
    });
    return config;
  };
  const flows = new Map<string, Flow>();

  app.get('/api/v1/auth/oidc/start', async (_req, reply) => {
    const cfg = await discover();
    const now = cp.clock.now().getTime();
    for (const [k, f] of flows) if (f.expires <= now || flows.size > MAX_FLOWS) flows.delete(k);
    const flow: Flow = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier(), expires: now + FLOW_TTL_MS };
    const id = randomBytes(32).toString('base64url');
    flows.set(id, flow);
    const url = client.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUrl, scope: 'openid', state: flow.state, nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier), code_challenge_method: 'S256',
    });
    // SameSite=Lax: the callback arrives as a top-level navigation from the IdP's site.
    return reply.header('set-cookie', `${OIDC_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${FLOW_TTL_MS / 1000}`).redirect(url.href, 302);
  });

  app.get('/api/v1/auth/oidc/callback', async (req, reply) => {
    const id = cookies(req).get(OIDC_COOKIE);
    const flow = id === undefined ? undefined : flows.get(id);
    if (id !== undefined) flows.delete(id); // single use, success or not
    const address = clientAddress(req);
    const refuse = async (why: string, subject: string | null = null): Promise<never> => {
      await cp.audit.record({ actor: `oidc:${subject ?? 'unknown'}`.slice(0, 200), action: 'auth.login', outcome: 'refused', subject, details: { method: 'oidc', why, client: address } });
      throw new ZetaError('ZETA_ERR_OIDC', 'single sign-on did not complete');
    };
    if (flow === undefined || flow.expires <= cp.clock.now().getTime()) return refuse('no or expired login flow (start again)');
    const current = new URL(redirectUrl);
    current.search = new URL(req.url, 'https://x').search;
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(await discover(), current, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
      claims = tokens.claims();
    } catch (e) {
      return refuse(`code exchange or ID token refused: ${(e as Error).message.slice(0, 200)}`);
    }
    if (claims === undefined) return refuse('no ID token');
    const row = await cp.iam.operators.byOidc(claims.iss, claims.sub);
    if (row === undefined || row.disabled_at !== null) return refuse(row === undefined ? 'identity not linked to an operator' : 'operator disabled', `${claims.iss}#${claims.sub}`);
    const g = await cp.iam.auth.grantFor(undefined, row, 'oidc', address);
    return reply.header('set-cookie', [setCookie(SESSION_COOKIE, g.sessionId, c.iamSessionAbsoluteHours * 3600), clearCookie(PRE_COOKIE), clearCookie(OIDC_COOKIE)]).redirect('/', 302);
  });
}
