/**
 * /api/v1/auth/*: how an operator becomes authenticated (contract: docs/threat-model/iam.md and
 * the dashboard's auth contract). Not in the route table, because these routes run before there is
 * a principal. Cookies are `__Host-` prefixed, HttpOnly, Secure, SameSite=Strict; a session id is
 * minted fresh at every login and never taken from the request (no fixation). Requests on an
 * existing session that change state carry the CSRF header like every other route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ZetaError } from '../common/errors.js';
import type { ControlPlane } from './control-plane.js';
import { clearCookie, clientAddress, PRE_COOKIE, SESSION_COOKIE, setCookie, type AccessControl } from './access.js';
import { PRE_AUTH_MINUTES, type OperatorInfo, type SessionGrant, type SessionRow } from '../iam/index.js';
import { registerWebauthnRoutes } from './routes-webauthn.js';
import { registerOidcRoutes } from './routes-oidc.js';

const AUTH_BODY_LIMIT = 16 * 1024;

function body<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw new ZetaError('ZETA_ERR_VALIDATION', r.error.issues.map((i) => `body${i.path.length > 0 ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; '));
  return r.data;
}

export function operatorView(o: OperatorInfo): Record<string, unknown> {
  return { id: o.id, username: o.username, displayName: o.displayName, role: o.role, scope: o.scope };
}

export interface AuthHelpers {
  cp: ControlPlane;
  access: AccessControl;
  /** The pre-authentication state, or 401 ZETA_ERR_PRE_AUTH_REQUIRED. */
  pre: (req: FastifyRequest) => Promise<SessionRow>;
  /** The full session with its CSRF checked, or 401 / 403. */
  session: (req: FastifyRequest) => Promise<{ row: SessionRow; operator: OperatorInfo }>;
  /** Sets the session cookie, clears the pre cookie, answers {operator, csrfToken, recoveryCodes?}. */
  grant: (reply: FastifyReply, g: SessionGrant) => Record<string, unknown>;
}

export function registerAuthRoutes(app: FastifyInstance, cp: ControlPlane, access: AccessControl): void {
  const absoluteSeconds = cp.config.iamSessionAbsoluteHours * 3600;
  const h: AuthHelpers = {
    cp, access,
    pre: async (req) => {
      const p = await access.preSession(req);
      if (p === undefined) throw new ZetaError('ZETA_ERR_PRE_AUTH_REQUIRED', 'log in with user name and password first');
      return p;
    },
    session: async (req) => {
      const s = await access.session(req);
      if (s === undefined) throw new ZetaError('ZETA_ERR_UNAUTHENTICATED', 'no session');
      if (req.method !== 'GET' && req.headers['x-csrf-token'] !== s.row.csrf_token) throw new ZetaError('ZETA_ERR_CSRF', 'x-csrf-token header missing or not this session\'s');
      return s;
    },
    grant: (reply, g) => {
      void reply.header('set-cookie', [setCookie(SESSION_COOKIE, g.sessionId, absoluteSeconds), clearCookie(PRE_COOKIE)]);
      return { operator: operatorView(g.operator), csrfToken: g.csrfToken, ...(g.recoveryCodes === undefined ? {} : { recoveryCodes: g.recoveryCodes }) };
    },
  };
  const opts = { bodyLimit: AUTH_BODY_LIMIT };

  app.get('/api/v1/auth/config', async () => ({ oidc: cp.config.oidcIssuer !== undefined && cp.config.oidcClientId !== undefined, webauthn: true }));

  app.post('/api/v1/auth/login', opts, async (req, reply) => {
    // Any session cookie sent here is ignored: the session a login yields is always a new one.
    const b = body(z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) }), req.body);
    const step = await cp.iam.auth.login(b.username, b.password, clientAddress(req));
    void reply.header('set-cookie', setCookie(PRE_COOKIE, step.preId, PRE_AUTH_MINUTES * 60));
    return step.stage === 'mfa' ? { stage: 'mfa', methods: step.methods } : { stage: 'enroll-mfa' };
  });

  app.post('/api/v1/auth/totp/setup', opts, async (req) => {
    const pre = await access.preSession(req);
    if (pre !== undefined) return cp.iam.auth.totpSetup(pre);
    const s = await h.session(req);
    return cp.iam.auth.totpSetup(s.row);
  });

  app.post('/api/v1/auth/totp', opts, async (req, reply) => {
    const b = body(z.strictObject({ code: z.string().min(1).max(16) }), req.body);
    const pre = await access.preSession(req);
    if (pre === undefined && (await access.session(req)) !== undefined) {
      // From a session: confirms a TOTP enrolment started with /auth/totp/setup; the session stays.
      const s = await h.session(req);
      const r = await cp.iam.auth.confirmTotp(s.row, b.code.trim(), clientAddress(req));
      return { operator: operatorView(r.operator), csrfToken: s.row.csrf_token, ...(r.recoveryCodes === undefined ? {} : { recoveryCodes: r.recoveryCodes }) };
    }
    const g = await cp.iam.auth.totp(await h.pre(req), b.code.trim(), clientAddress(req));
    return h.grant(reply, g);
  });

  app.post('/api/v1/auth/recovery', opts, async (req, reply) => {
    const b = body(z.strictObject({ code: z.string().min(1).max(64) }), req.body);
    const g = await cp.iam.auth.recovery(await h.pre(req), b.code, clientAddress(req));
    return h.grant(reply, g);
  });

  app.get('/api/v1/auth/me', async (req) => {
    const s = await access.session(req);
    if (s === undefined) throw new ZetaError('ZETA_ERR_UNAUTHENTICATED', 'no session');
    const live = s.row.step_up_until !== null && s.row.step_up_until > cp.clock.now().toISOString();
    return { operator: operatorView(s.operator), csrfToken: s.row.csrf_token, stepUpUntil: live ? s.row.step_up_until : null, mfa: s.operator.mfa };
  });

  app.post('/api/v1/auth/logout', opts, async (req, reply) => {
    const s = await access.session(req);
    // Logging out is idempotent, but an existing session is ended only with its CSRF token.
    if (s !== undefined) {
      if (req.headers['x-csrf-token'] !== s.row.csrf_token) throw new ZetaError('ZETA_ERR_CSRF', 'x-csrf-token header missing or not this session\'s');
      await cp.iam.auth.logout(s.row);
    }
    return reply.status(204).header('set-cookie', [clearCookie(SESSION_COOKIE), clearCookie(PRE_COOKIE)]).send();
  });

  const webauthn = registerWebauthnRoutes(app, h);
  registerOidcRoutes(app, h);

  app.post('/api/v1/auth/step-up', opts, async (req) => {
    const s = await h.session(req);
    const b = body(z.union([z.strictObject({ code: z.string().min(1).max(16) }), z.strictObject({ response: z.record(z.string(), z.unknown()) })]), req.body);
    if ('code' in b) return { stepUpUntil: await cp.iam.auth.stepUpTotp(s.row, b.code.trim(), clientAddress(req)) };
    return { stepUpUntil: await webauthn.stepUp(s, b.response, clientAddress(req)) };
  });
}
