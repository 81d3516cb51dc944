/**
 * The REST API under /api/v1, as one table. Each row names the roles allowed; a route that is not
 * in this table does not exist, and an empty role list would deny everyone (deny by default).
 * test/api-authz.test.ts walks every row with no token and with every role; openapi.ts renders the
 * same table, so the documentation cannot drift from what is enforced.
 */
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from './control-plane.js';
import type { Role, TokenInfo } from './tokens.js';
import type { GatewayHandle } from './gateway-wiring.js';
import { ZetaError } from '../common/errors.js';
import { DEVICE_STATES, parseImport, detectFormat } from '../inventory/index.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** Live parts of a running server that routes may report on. */
export interface Runtime {
  gateway?: GatewayHandle;
}

export interface RouteContext {
  cp: ControlPlane;
  runtime: Runtime;
  req: FastifyRequest;
  reply: FastifyReply;
  /** `token:<id>` of the caller, for audit entries. */
  actor: string;
  token: TokenInfo;
  afterWrite: () => void;
}

export interface ApiRoute {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  roles: readonly Role[];
  /** 2xx status on success. */
  status?: number;
  /** Body example for the OpenAPI document and the authorization matrix test. */
  exampleBody?: unknown;
  handler: (ctx: RouteContext) => Promise<unknown>;
}

const ALL: readonly Role[] = ['admin', 'operator', 'auditor'];
const WRITERS: readonly Role[] = ['admin', 'operator'];
const ADMIN: readonly Role[] = ['admin'];
const AUDIT_READERS: readonly Role[] = ['admin', 'auditor'];

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${where}${i.path.length > 0 ? '.' + i.path.map(String).join('.') : ''}: ${i.message}`);
    throw new ZetaError('ZETA_ERR_VALIDATION', problems.join('; '), { fields: { problems } });
  }
  return r.data;
}

const listQuery = z.strictObject({
  type: z.string().max(32).optional(),
  segment: z.string().max(63).optional(),
  state: z.enum(DEVICE_STATES).optional(),
  site: z.string().max(128).optional(),
  expiringWithinDays: z.coerce.number().int().min(0).max(3650).optional(),
  q: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});

const idParam = z.strictObject({ id: z.string().min(1).max(128) });
const reasonBody = z.strictObject({ reason: z.string().max(256).optional() }).optional();
const revokeBody = z.strictObject({ reason: z.string().min(1).max(64) });
const tokenBody = z.strictObject({ name: z.string().min(1).max(128), role: z.enum(['admin', 'operator', 'auditor']), expiresInDays: z.number().int().min(1).max(3650).optional() });
const auditQuery = z.strictObject({
  actor: z.string().max(200).optional(), action: z.string().max(100).optional(), subject: z.string().max(200).optional(),
  fromSeq: z.coerce.number().int().min(0).optional(), limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

function id(ctx: RouteContext): string {
  return parse(idParam, ctx.req.params, 'path').id;
}

function compact<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export const ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET', path: '/api/v1/devices', tag: 'devices', summary: 'List devices with filters', roles: ALL,
    handler: async ({ cp, req }) => cp.inventory.list(compact(parse(listQuery, req.query, 'query'))),
  },
  {
    method: 'POST', path: '/api/v1/devices', tag: 'devices', summary: 'Add a device; returns its one-time enrollment token', roles: WRITERS, status: 201,
    exampleBody: { name: 'lobby camera', type: 'camera', segment: 'cameras' },
    handler: async ({ cp, req, actor, afterWrite }) => {
      const r = await cp.inventory.add(req.body, actor);
      afterWrite();
      return { ...r.device, enrollmentToken: r.enrollmentToken, tokenExpiresAt: r.tokenExpiresAt };
    },
  },
  {
    method: 'POST', path: '/api/v1/devices/import', tag: 'devices', summary: 'Bulk import (JSON array, JSON lines or CSV body); all or nothing', roles: ADMIN, status: 201,
    exampleBody: [{ name: 'sensor 1', type: 'sensor' }],
    handler: async ({ cp, req, actor, afterWrite }) => {
      const ct = String(req.headers['content-type'] ?? '');
      const records = ct.startsWith('text/csv') ? parseImport(String(req.body), 'csv')
        : ct.startsWith('application/x-ndjson') ? parseImport(String(req.body), 'jsonl')
          : Array.isArray(req.body) ? req.body : parseImport(JSON.stringify(req.body), detectFormat('', JSON.stringify(req.body)));
      const r = await cp.inventory.importDevices(records, actor);
      afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/devices/:id', tag: 'devices', summary: 'Show one device', roles: ALL,
    handler: async (ctx) => ctx.cp.inventory.get(id(ctx)),
  },
  {
    method: 'PATCH', path: '/api/v1/devices/:id', tag: 'devices', summary: 'Update device attributes', roles: WRITERS,
    exampleBody: { site: 'hq' },
    handler: async (ctx) => { const r = await ctx.cp.inventory.update(id(ctx), ctx.req.body, ctx.actor); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/suspend', tag: 'lifecycle', summary: 'Suspend a device', roles: WRITERS,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.suspend(id(ctx), ctx.actor, b?.reason); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/quarantine', tag: 'lifecycle', summary: 'Quarantine a device', roles: WRITERS,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.quarantine(id(ctx), ctx.actor, b?.reason); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/resume', tag: 'lifecycle', summary: 'Resume a suspended or quarantined device', roles: WRITERS,
    handler: async (ctx) => { const r = await ctx.cp.inventory.resume(id(ctx), ctx.actor); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/revoke', tag: 'lifecycle', summary: 'Revoke every certificate of a device (RFC 5280 reason)', roles: WRITERS,
    exampleBody: { reason: 'keyCompromise' },
    handler: async (ctx) => { const b = parse(revokeBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.revoke(id(ctx), b.reason, ctx.actor); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/decommission', tag: 'lifecycle', summary: 'Decommission a device (terminal)', roles: ADMIN,
    handler: async (ctx) => { const r = await ctx.cp.inventory.decommission(id(ctx), ctx.actor); ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/enrollment-token', tag: 'lifecycle', summary: 'Issue a new one-time enrollment token', roles: WRITERS, status: 201,
    handler: async (ctx) => ctx.cp.inventory.newEnrollmentToken(id(ctx), ctx.actor),
  },
  {
    method: 'GET', path: '/api/v1/audit', tag: 'audit', summary: 'Read audit entries', roles: AUDIT_READERS,
    handler: async ({ cp, req }) => ({ entries: await cp.audit.list(compact(parse(auditQuery, req.query, 'query'))) }),
  },
  {
    method: 'GET', path: '/api/v1/audit/verify', tag: 'audit', summary: 'Verify the audit hash chain and signed checkpoints', roles: AUDIT_READERS,
    handler: async ({ cp }) => cp.audit.verify(),
  },
  {
    method: 'GET', path: '/api/v1/audit/export', tag: 'audit', summary: 'Export the audit log as JSON lines', roles: AUDIT_READERS,
    handler: async ({ cp, reply }) => {
      const lines: string[] = [];
      await cp.audit.export((l) => { lines.push(l); });
      void reply.type('application/x-ndjson');
      return lines.join('\n') + (lines.length > 0 ? '\n' : '');
    },
  },
  {
    method: 'GET', path: '/api/v1/tokens', tag: 'access', summary: 'List API tokens (never their secrets)', roles: ADMIN,
    handler: async ({ cp }) => ({ tokens: await cp.tokens.list() }),
  },
  {
    method: 'POST', path: '/api/v1/tokens', tag: 'access', summary: 'Create an API token (shown once)', roles: ADMIN, status: 201,
    exampleBody: { name: 'ci', role: 'auditor' },
    handler: async ({ cp, req, actor }) => {
      const b = parse(tokenBody, req.body, 'body');
      const r = await cp.tokens.create(compact(b) as { name: string; role: string; expiresInDays?: number }, actor);
      return { ...r.info, token: r.token };
    },
  },
  {
    method: 'DELETE', path: '/api/v1/tokens/:id', tag: 'access', summary: 'Revoke an API token', roles: ADMIN, status: 204,
    handler: async (ctx) => { await ctx.cp.tokens.revoke(id(ctx), ctx.actor); return undefined; },
  },
  {
    method: 'GET', path: '/metrics', tag: 'gateway', summary: 'Prometheus metrics of the MQTT gateway (text exposition format)', roles: ALL,
    handler: async ({ runtime, reply }) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return runtime.gateway?.gateway.metricsText() ?? '# the MQTT gateway is not running in this process\n';
    },
  },
  {
    method: 'GET', path: '/api/v1/gateway/sessions', tag: 'gateway', summary: 'Live MQTT sessions: device, address, subscriptions, counters', roles: ALL,
    handler: async ({ runtime }) => ({ running: runtime.gateway !== undefined, sessions: runtime.gateway?.gateway.sessions() ?? [] }),
  },
  {
    method: 'GET', path: '/api/v1/gateway/events', tag: 'gateway', summary: 'Recent gateway events (refusals, connects, denials; allowed messages are only counted)', roles: ALL,
    handler: async ({ runtime, req }) => {
      const q = parse(z.strictObject({ device: z.string().max(128).optional(), type: z.string().max(40).optional(), limit: z.coerce.number().int().min(1).max(2000).optional() }), req.query, 'query');
      const all = runtime.gateway?.recentEvents ?? [];
      const hits = all.filter((e) => (q.device === undefined || e.deviceId === q.device) && (q.type === undefined || e.type === q.type));
      return { events: hits.slice(-(q.limit ?? 200)) };
    },
  },
  {
    method: 'GET', path: '/api/v1/ca', tag: 'pki', summary: 'CA certificates and their state', roles: ALL,
    handler: async ({ cp }) => ({
      trustDomain: cp.config.trustDomain,
      root: { id: cp.authority.root.id, pem: cp.authority.root.row.cert_pem, notAfter: cp.authority.root.row.not_after },
      issuing: cp.authority.verifyingIssuers.map((i) => ({ id: i.id, status: i.row.status, notAfter: i.row.not_after, pem: i.row.cert_pem })),
    }),
  },
  {
    method: 'POST', path: '/api/v1/ca/rotate', tag: 'pki', summary: 'Rotate the issuing CA (old one keeps verifying until its certificates expire)', roles: ADMIN,
    handler: async ({ cp, actor, afterWrite }) => { const r = await cp.authority.rotateIssuing(actor); afterWrite(); return r; },
  },
];
