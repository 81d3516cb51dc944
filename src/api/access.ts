/**
 * Who is calling and whether they may: the one gate every API route passes (server.ts).
 * Credentials: a Bearer token (CLI, sensors, scripts) or the `__Host-zeta_session` cookie
 * (dashboard). Cookie requests that change state must carry the session's CSRF token; destructive
 * routes need a recent step-up for cookie sessions. The decision itself is the operator policy in
 * Cedar (src/policy/operator-authz.ts), deny by default; every refusal is audited with its reason.
 */
import type { FastifyRequest } from 'fastify';
import { ZetaError } from '../common/errors.js';
import type { ControlPlane } from './control-plane.js';
import type { TokenInfo } from './tokens.js';
import { decideOperator, type DeviceTarget } from '../policy/index.js';
import { isRole, type OperatorInfo, type Permission, type Principal, type SessionRow } from '../iam/index.js';

export const SESSION_COOKIE = '__Host-zeta_session';
export const PRE_COOKIE = '__Host-zeta_pre';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function cookies(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  const h = req.headers.cookie;
  if (typeof h !== 'string' || h.length > 8192) return out;
  for (const part of h.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    // RFC 6265 §5.3: the first cookie of a name wins; never let a later duplicate override it.
    if (!out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

/** RFC 6265bis `__Host-` prefix: Secure, Path=/, no Domain; so no subdomain can plant it. */
export function setCookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}

export function clearCookie(name: string): string {
  return `${name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

export function clientAddress(req: FastifyRequest): string {
  return req.socket.remoteAddress ?? '?';
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  return /^Bearer ([A-Za-z0-9_\-.~+/=]+)$/.exec(h)?.[1];
}

export interface Caller {
  principal: Principal;
  session?: SessionRow;
}

function operatorActor(o: OperatorInfo): string {
  return `operator:${o.username}`;
}

export class AccessControl {
  readonly #cp: ControlPlane;

  constructor(cp: ControlPlane) {
    this.#cp = cp;
  }

  async #fromToken(t: TokenInfo): Promise<Principal | undefined> {
    if (t.operatorId === null) {
      return { kind: 'role-token', actor: `token:${t.id}`, subjectId: `token:${t.id}`, role: t.role, scope: { sites: [], segments: [] }, tokenId: t.id, ...(t.scopes === null ? {} : { scopes: t.scopes }) };
    }
    // A personal token acts with its owner's current role and scope; a disabled owner stops it.
    const row = await this.#cp.iam.operators.row(t.operatorId);
    if (row === undefined || row.disabled_at !== null || !isRole(row.role)) return undefined;
    const op = await this.#cp.iam.operators.info(row);
    return { kind: 'personal-token', actor: `${operatorActor(op)}/token:${t.id}`, subjectId: op.id, role: op.role, scope: op.scope, operator: op, tokenId: t.id, ...(t.scopes === null ? {} : { scopes: t.scopes }) };
  }

  /** The session behind the cookie, if any (used by /auth/* routes too). */
  async session(req: FastifyRequest): Promise<{ row: SessionRow; operator: OperatorInfo } | undefined> {
    const row = await this.#cp.iam.sessions.lookup(cookies(req).get(SESSION_COOKIE), ['full']);
    if (row === undefined) return undefined;
    const op = await this.#cp.iam.operators.row(row.operator_id);
    if (op === undefined || op.disabled_at !== null) return undefined;
    return { row, operator: await this.#cp.iam.operators.info(op) };
  }

  async preSession(req: FastifyRequest): Promise<SessionRow | undefined> {
    return this.#cp.iam.sessions.lookup(cookies(req).get(PRE_COOKIE), ['mfa', 'enroll']);
  }

  /** 401 unless a Bearer token or a session cookie is valid. A Bearer header is never combined with a cookie. */
  async authenticate(req: FastifyRequest, what: string): Promise<Caller> {
    const t = bearer(req);
    if (t !== undefined || req.headers.authorization !== undefined) {
      const info = t === undefined ? undefined : await this.#cp.tokens.authenticate(t);
      const p = info === undefined ? undefined : await this.#fromToken(info);
      if (p === undefined) return this.#unauthenticated(req, what, 'token not accepted');
      return { principal: p };
    }
    const s = await this.session(req);
    if (s === undefined) return this.#unauthenticated(req, what, cookies(req).has(SESSION_COOKIE) ? 'session expired or unknown' : 'no credentials');
    return {
      principal: {
        kind: 'session', actor: operatorActor(s.operator), subjectId: s.operator.id, role: s.operator.role, scope: s.operator.scope,
        operator: s.operator, sessionCsrf: s.row.csrf_token, stepUpUntil: s.row.step_up_until,
      },
      session: s.row,
    };
  }

  async #unauthenticated(req: FastifyRequest, what: string, why: string): Promise<never> {
    await this.#cp.audit.record({ actor: 'anonymous', action: 'api.refused', outcome: 'refused', subject: what, details: { why, client: clientAddress(req), requestId: req.id } });
    throw new ZetaError('ZETA_ERR_UNAUTHENTICATED', 'a valid API token or session is required');
  }

  /** CSRF (cookie sessions only; a Bearer token is not sent by the browser on its own). */
  async checkCsrf(req: FastifyRequest, caller: Caller, what: string): Promise<void> {
    if (caller.principal.kind !== 'session' || SAFE_METHODS.has(req.method)) return;
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || sent !== caller.principal.sessionCsrf) {
      await this.refuse(req, caller.principal, what, sent === undefined ? 'CSRF header missing' : 'CSRF header wrong');
      throw new ZetaError('ZETA_ERR_CSRF', 'x-csrf-token header missing or not this session\'s');
    }
  }

  async checkStepUp(req: FastifyRequest, p: Principal, what: string): Promise<void> {
    if (p.kind !== 'session') return;
    const now = this.#cp.clock.now().toISOString();
    if (p.stepUpUntil == null || p.stepUpUntil <= now) {
      await this.refuse(req, p, what, 'step-up required');
      throw new ZetaError('ZETA_ERR_STEP_UP_REQUIRED', 'confirm with a second factor (POST /api/v1/auth/step-up) and retry');
    }
  }

  /** The policy decision, plus the token's own scopes. Throws FORBIDDEN (audited, with reasons). */
  async authorize(req: FastifyRequest, p: Principal, action: Permission, what: string, device?: DeviceTarget, options: { ignoreScope?: boolean } = {}): Promise<void> {
    if (p.scopes !== undefined && !p.scopes.includes(action)) {
      await this.refuse(req, p, what, `token scopes do not include ${action}`);
      throw new ZetaError('ZETA_ERR_FORBIDDEN', `this token is not scoped for ${action}`);
    }
    const scope = options.ignoreScope === true ? { sites: [], segments: [] } : p.scope;
    const d = decideOperator({ id: p.subjectId, role: p.role, sites: scope.sites, segments: scope.segments }, action, device);
    if (d.decision !== 'allow') {
      await this.refuse(req, p, what, `policy denied ${action}`, { reasons: d.reasons, errors: d.errors, ...(device === undefined ? {} : { device: device.id }) });
      throw new ZetaError('ZETA_ERR_FORBIDDEN', `role ${p.role}${options.ignoreScope === true || (scope.sites.length === 0 && scope.segments.length === 0) ? '' : ' (scoped)'} may not ${action}${device === undefined ? '' : ` on device ${device.id}`}`);
    }
  }

  inScope(p: Principal, device: DeviceTarget): boolean {
    return decideOperator({ id: p.subjectId, role: p.role, sites: p.scope.sites, segments: p.scope.segments }, 'viewDevice', device).decision === 'allow';
  }

  async refuse(req: FastifyRequest, p: Principal, what: string, why: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.#cp.audit.record({ actor: p.actor, action: 'api.refused', outcome: 'refused', subject: what, details: { why, ...extra, client: clientAddress(req), requestId: req.id } });
  }
}
