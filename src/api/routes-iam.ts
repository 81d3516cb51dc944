/**
 * Operator and access administration, approvals and personal tokens, as rows of the route table
 * (spread into ROUTES). Login, sessions and step-up are in routes-auth.ts: they are how a caller
 * becomes authenticated, so they cannot sit behind the table's authentication.
 */
import { z } from 'zod';
import { parse } from './parse-input.js';
import { ZetaError } from '../common/errors.js';
import { ROLES, PERMISSIONS, type ApprovalAction, type Permission } from '../iam/index.js';
import type { ApiRoute, RouteContext } from './routes.js';


const idOf = (ctx: RouteContext): string => parse(z.strictObject({ id: z.string().min(1).max(128) }), ctx.req.params, 'path').id;
const scopeSchema = z.strictObject({ sites: z.array(z.string().max(128)).max(100).optional(), segments: z.array(z.string().max(128)).max(100).optional() });
const newOperator = z.strictObject({
  username: z.string().min(1).max(64), role: z.enum(ROLES), displayName: z.string().min(1).max(128).optional(),
  password: z.string().min(1).max(256).optional(), scope: scopeSchema.optional(),
  sso: z.strictObject({ issuer: z.string().url().max(512), subject: z.string().min(1).max(255) }).optional(),
});
const patchOperator = z.strictObject({ role: z.enum(ROLES).optional(), scope: scopeSchema.optional(), disabled: z.boolean().optional() });
const personalToken = z.strictObject({ name: z.string().min(1).max(128), scopes: z.array(z.enum(PERMISSIONS)).min(1).max(PERMISSIONS.length), expiresInDays: z.number().int().min(1).max(3650) });

const APPROVAL_PERMISSION: Record<ApprovalAction, Permission> = { policyApply: 'applyPolicy', caRotate: 'rotateCa' };

/** Answers 202 with a pending approval instead of acting (separation of duties). */
export async function requestApproval(ctx: RouteContext, action: ApprovalAction, payload: Record<string, unknown>): Promise<unknown> {
  const a = await ctx.cp.iam.approvals.request(action, payload, { actor: ctx.actor, subjectId: ctx.principal.subjectId });
  void ctx.reply.status(202);
  return { approval: { id: a.id, action: a.action, state: a.state, requestedBy: a.requestedBy, requestedAt: a.requestedAt } };
}

async function executeApproval(ctx: RouteContext, a: { action: ApprovalAction; payload: Record<string, unknown>; requestedBy: string }): Promise<unknown> {
  const actor = `${ctx.actor} (approving ${a.requestedBy})`;
  if (a.action === 'policyApply') {
    const r = await ctx.cp.policies.apply(String(a.payload.text), actor, typeof a.payload.comment === 'string' ? a.payload.comment : undefined);
    await ctx.afterWrite();
    return r;
  }
  const r = await ctx.cp.authority.rotateIssuing(actor);
  await ctx.afterWrite();
  return r;
}

function requireOperator(ctx: RouteContext): string {
  if (ctx.principal.operator === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'personal tokens belong to operators; a role token has no owner (use /api/v1/tokens)');
  return ctx.principal.operator.id;
}

export const IAM_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET', path: '/api/v1/operators', tag: 'access', summary: 'List operators (never their secrets)', action: 'manageAccess',
    handler: async ({ cp }) => ({ operators: await cp.iam.operators.list() }),
  },
  {
    method: 'POST', path: '/api/v1/operators', tag: 'access', summary: 'Create an operator (second factor enrolled at first login)', action: 'manageAccess', stepUp: true, status: 201,
    exampleBody: { username: 'matrix-op', role: 'auditor', password: 'correct horse battery staple' },
    handler: async ({ cp, req, actor }) => {
      const b = parse(newOperator, req.body, 'body');
      return cp.iam.operators.create({
        username: b.username, role: b.role, ...(b.password === undefined ? {} : { password: b.password }),
        ...(b.displayName === undefined ? {} : { displayName: b.displayName }), ...(b.scope === undefined ? {} : { scope: b.scope }), ...(b.sso === undefined ? {} : { oidc: b.sso }),
      }, actor);
    },
  },
  {
    method: 'PATCH', path: '/api/v1/operators/:id', tag: 'access', summary: "Change an operator's role or scope, or disable / enable it (ends its sessions)", action: 'manageAccess', stepUp: true,
    exampleBody: { disabled: false },
    handler: async (ctx) => {
      const b = parse(patchOperator, ctx.req.body, 'body');
      const target = await ctx.cp.iam.operators.get(idOf(ctx));
      if (target.id === ctx.principal.subjectId && (b.role !== undefined || b.disabled === true)) {
        throw new ZetaError('ZETA_ERR_FORBIDDEN', 'an operator cannot change their own role or disable themselves');
      }
      let out = target;
      if (b.role !== undefined || b.scope !== undefined) out = await ctx.cp.iam.operators.setRole(target.id, b.role ?? target.role, b.scope, ctx.actor);
      if (b.disabled !== undefined && b.disabled !== target.disabled) out = await ctx.cp.iam.operators.setDisabled(target.id, b.disabled, ctx.actor);
      return out;
    },
  },
  {
    method: 'POST', path: '/api/v1/operators/:id/reset-mfa', tag: 'access', summary: "Remove an operator's second factors and recovery codes (next login enrols anew)", action: 'manageAccess', stepUp: true,
    handler: async (ctx) => ctx.cp.iam.operators.resetMfa(idOf(ctx), ctx.actor),
  },
  {
    method: 'POST', path: '/api/v1/operators/:id/unlock', tag: 'access', summary: 'Clear the failed-login lockout of a user name', action: 'manageAccess',
    handler: async (ctx) => ctx.cp.iam.operators.unlock(idOf(ctx), ctx.actor),
  },
  {
    method: 'GET', path: '/api/v1/approvals', tag: 'access', summary: 'Approvals (separation of duties): pending and decided', action: 'approve',
    handler: async ({ cp, req }) => {
      const q = parse(z.strictObject({ state: z.enum(['pending', 'approved', 'rejected', 'failed']).optional() }), req.query, 'query');
      return { approvals: await cp.iam.approvals.list(q.state) };
    },
  },
  {
    method: 'POST', path: '/api/v1/approvals/:id/approve', tag: 'access', summary: 'Approve and carry out a pending request (a different operator than the requester)', action: 'approve', stepUp: true,
    handler: async (ctx) => {
      const id = idOf(ctx);
      const a = await ctx.cp.iam.approvals.get(id);
      // The approver must hold the approved action themselves.
      await ctx.authorize(APPROVAL_PERMISSION[a.action]);
      return ctx.cp.iam.approvals.decide(id, 'approve', { actor: ctx.actor, subjectId: ctx.principal.subjectId }, (x) => executeApproval(ctx, x));
    },
  },
  {
    method: 'POST', path: '/api/v1/approvals/:id/reject', tag: 'access', summary: 'Reject a pending request', action: 'approve',
    handler: async (ctx) => ctx.cp.iam.approvals.decide(idOf(ctx), 'reject', { actor: ctx.actor, subjectId: ctx.principal.subjectId }, async () => undefined),
  },
  {
    method: 'GET', path: '/api/v1/me/tokens', tag: 'access', summary: "The caller's personal API tokens", action: 'viewFleet',
    handler: async (ctx) => ({ tokens: await ctx.cp.tokens.list({ operatorId: requireOperator(ctx) }) }),
  },
  {
    method: 'POST', path: '/api/v1/me/tokens', tag: 'access', summary: 'Create a personal API token: scopes within your permissions, mandatory expiry (shown once)', action: 'viewFleet', stepUp: true, status: 201,
    exampleBody: { name: 'laptop', scopes: ['viewFleet'], expiresInDays: 7 },
    handler: async (ctx) => {
      const operatorId = requireOperator(ctx);
      const b = parse(personalToken, ctx.req.body, 'body');
      // A token never mints a wider one.
      const beyond = ctx.principal.scopes === undefined ? [] : b.scopes.filter((s) => !ctx.principal.scopes!.includes(s));
      if (beyond.length > 0) throw new ZetaError('ZETA_ERR_FORBIDDEN', `this token is not scoped for: ${beyond.join(', ')}`);
      const r = await ctx.cp.tokens.create({ name: b.name, role: ctx.principal.role, scopes: b.scopes, expiresInDays: b.expiresInDays, operatorId }, ctx.actor);
      return { ...r.info, token: r.token };
    },
  },
  {
    method: 'DELETE', path: '/api/v1/me/tokens/:id', tag: 'access', summary: 'Revoke one of your personal tokens', action: 'viewFleet', status: 204,
    handler: async (ctx) => {
      const operatorId = requireOperator(ctx);
      const t = await ctx.cp.tokens.get(idOf(ctx));
      if (t.operatorId !== operatorId) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no token with id ${t.id}`);
      await ctx.cp.tokens.revoke(t.id, ctx.actor);
      return undefined;
    },
  },
];
