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
import type { Monitor, Alert } from '../monitor/index.js';
import type { Change, ChangeFeed } from '../store/index.js';
import { DASHBOARD_ROUTES } from './routes-dashboard.js';
import { parsePolicySet, whatIf, analyzePolicySet, deviceEntity, PolicyDecisionPoint } from '../policy/index.js';
import { ZetaError } from '../common/errors.js';
import { DEVICE_STATES, DEVICE_SORT_KEYS, parseImport, detectFormat } from '../inventory/index.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Live parts of a running server that routes may report on. */
export interface Runtime {
  gateway?: GatewayHandle;
  pdp?: PolicyDecisionPoint;
  monitor?: Monitor;
  alerts?: Alert[];
  /** The most recent change-feed rows this server has applied (newest last). */
  recentChanges?: Change[];
  /** The change feed this server follows (the dashboard's live stream listens to it). */
  feed?: ChangeFeed;
}

export interface RouteContext {
  cp: ControlPlane;
  runtime: Runtime;
  req: FastifyRequest;
  reply: FastifyReply;
  /** `token:<id>` of the caller, for audit entries. */
  actor: string;
  token: TokenInfo;
  afterWrite: () => Promise<void>;
  /** Re-checks the request's credential now (a long-lived stream ends when its session does). */
  stillAuthorized?: () => Promise<boolean>;
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
  sort: z.enum(DEVICE_SORT_KEYS).optional(),
  order: z.enum(['asc', 'desc']).optional(),
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

const checkBody = z.strictObject({ device: z.string().min(1).max(128), action: z.enum(['connect', 'publish', 'subscribe', 'receive']), topic: z.string().min(1).max(1024).optional() });

function policyText(body: unknown): string {
  if (typeof body !== 'string' || body.trim() === '') throw new ZetaError('ZETA_ERR_VALIDATION', 'send the Cedar policy set as the request body with Content-Type: text/plain');
  return body;
}

/** A PDP for one-off checks where the server keeps none (e.g. the CLI on a data directory). */
export async function loadPdp(cp: ControlPlane): Promise<PolicyDecisionPoint> {
  const pdp = new PolicyDecisionPoint({ policies: cp.policies, inventory: cp.inventory, clock: cp.clock });
  await pdp.load();
  return pdp;
}

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
      await afterWrite();
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
      await afterWrite();
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
    handler: async (ctx) => { const r = await ctx.cp.inventory.update(id(ctx), ctx.req.body, ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/suspend', tag: 'lifecycle', summary: 'Suspend a device', roles: WRITERS,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.suspend(id(ctx), ctx.actor, b?.reason); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/quarantine', tag: 'lifecycle', summary: 'Quarantine a device', roles: WRITERS,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.quarantine(id(ctx), ctx.actor, b?.reason); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/resume', tag: 'lifecycle', summary: 'Resume a suspended or quarantined device', roles: WRITERS,
    handler: async (ctx) => { const r = await ctx.cp.inventory.resume(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/revoke', tag: 'lifecycle', summary: 'Revoke every certificate of a device (RFC 5280 reason)', roles: WRITERS,
    exampleBody: { reason: 'keyCompromise' },
    handler: async (ctx) => { const b = parse(revokeBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.revoke(id(ctx), b.reason, ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/decommission', tag: 'lifecycle', summary: 'Decommission a device (terminal)', roles: ADMIN,
    handler: async (ctx) => { const r = await ctx.cp.inventory.decommission(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
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
    method: 'GET', path: '/api/v1/policies', tag: 'policy', summary: 'The enforced policy set (text, version) and the shadow set if any', roles: ALL,
    handler: async ({ cp }) => {
      const a = await cp.policies.active();
      const sh = await cp.policies.shadow();
      return {
        active: a === undefined ? null : { version: a.version, sha256: a.set.sha256, policies: Object.keys(a.set.policies), text: a.set.text },
        shadow: sh === undefined ? null : { version: sh.version, sha256: sh.set.sha256, policies: Object.keys(sh.set.policies) },
      };
    },
  },
  {
    method: 'POST', path: '/api/v1/policies', tag: 'policy', summary: 'Validate and apply a Cedar policy set (text/plain body); refused with the validator message if invalid', roles: ADMIN, status: 201,
    handler: async ({ cp, req, actor, afterWrite }) => {
      const r = await cp.policies.apply(policyText(req.body), actor, typeof req.headers['x-zeta-comment'] === 'string' ? req.headers['x-zeta-comment'] : undefined);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/policies/what-if', tag: 'policy', summary: 'Evaluate the whole fleet against a proposed policy set without applying it: who gains or loses what', roles: ALL,
    handler: async ({ cp, req }) => {
      const proposed = parsePolicySet(policyText(req.body));
      const current = await cp.policies.active();
      const devices = [];
      for (let offset = 0; ; offset += 10_000) {
        const page = await cp.inventory.list({ limit: 10_000, offset });
        devices.push(...page.devices.map(deviceEntity));
        if (page.devices.length < 10_000) break;
      }
      return { currentVersion: current?.version ?? null, ...whatIf(current?.set, proposed, devices, { maxListed: 1000 }) };
    },
  },
  {
    method: 'POST', path: '/api/v1/policies/shadow', tag: 'policy', summary: 'Run a proposed policy set in shadow mode beside the enforced one (empty body clears it)', roles: ADMIN,
    handler: async ({ cp, req, actor, afterWrite }) => {
      const text = typeof req.body === 'string' ? req.body : '';
      const r = await cp.policies.setShadow(text.trim() === '' ? null : text, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/policies/history', tag: 'policy', summary: 'Every policy version, who applied it and when', roles: ALL,
    handler: async ({ cp }) => ({ versions: await cp.policies.history() }),
  },
  {
    method: 'GET', path: '/api/v1/policies/analysis', tag: 'policy', summary: 'Audit checks on the enforced set: overly broad or shadowed policies', roles: ALL,
    handler: async ({ cp }) => {
      const a = await cp.policies.active();
      return { version: a?.version ?? null, findings: a === undefined ? [] : analyzePolicySet(a.set) };
    },
  },
  {
    method: 'POST', path: '/api/v1/policies/check', tag: 'policy', summary: 'Decide one MQTT request for a device now, with the determining policies', roles: ALL,
    exampleBody: { device: 'camera-1', action: 'publish', topic: 'devices/camera-1/status' },
    handler: async ({ cp, req, runtime }) => {
      const b = parse(checkBody, req.body, 'body');
      const pdp = runtime.pdp ?? await loadPdp(cp);
      return { device: b.device, action: b.action, topic: b.topic ?? null, ...pdp.decide({ principal: b.device, action: b.action, ...(b.topic === undefined ? {} : { topic: b.topic }) }) };
    },
  },
  {
    method: 'GET', path: '/api/v1/decisions', tag: 'policy', summary: 'The decision log: every deny, a sample of allows, shadow disagreements', roles: AUDIT_READERS,
    handler: async ({ runtime, req }) => {
      const q = parse(z.strictObject({ device: z.string().max(128).optional(), decision: z.enum(['allow', 'deny']).optional(), limit: z.coerce.number().int().min(1).max(5000).optional() }), req.query, 'query');
      const log = runtime.pdp?.log ?? [];
      const hits = log.filter((e) => (q.device === undefined || e.request.principal === q.device) && (q.decision === undefined || e.decision === q.decision));
      return { stats: runtime.pdp?.stats ?? null, entries: hits.slice(-(q.limit ?? 200)) };
    },
  },
  {
    method: 'GET', path: '/api/v1/segments', tag: 'segments', summary: 'Segments, services and flows (the one source of truth for both enforcement points)', roles: ALL,
    handler: async ({ cp }) => ({ segments: await cp.segments.listSegments(), services: await cp.segments.listServices(), flows: await cp.segments.listFlows() }),
  },
  {
    method: 'POST', path: '/api/v1/segments', tag: 'segments', summary: 'Add a segment', roles: ADMIN, status: 201,
    exampleBody: { name: 'cameras', kind: 'type' },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addSegment(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'DELETE', path: '/api/v1/segments/:id', tag: 'segments', summary: 'Remove a segment (refused while devices or flows use it)', roles: ADMIN, status: 204,
    handler: async (ctx) => { await ctx.cp.segments.removeSegment(id(ctx), ctx.actor); await ctx.afterWrite(); return undefined; },
  },
  {
    method: 'POST', path: '/api/v1/services', tag: 'segments', summary: 'Add a named service (addresses, protocol, ports) flows can target', roles: ADMIN, status: 201,
    exampleBody: { name: 'nvr', addresses: ['10.0.9.10/32'], protocol: 'tcp', ports: [554] },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addService(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/flows', tag: 'segments', summary: 'Allow a flow between segments (network and/or MQTT topic prefix); everything else is denied', roles: ADMIN, status: 201,
    exampleBody: { from: 'cameras', toService: 'nvr', direction: 'one-way' },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addFlow(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'DELETE', path: '/api/v1/flows/:id', tag: 'segments', summary: 'Remove a flow', roles: ADMIN, status: 204,
    handler: async (ctx) => { await ctx.cp.segments.removeFlow(id(ctx), ctx.actor); await ctx.afterWrite(); return undefined; },
  },
  {
    method: 'PUT', path: '/api/v1/devices/:id/addresses', tag: 'segments', summary: "Set a device's IP addresses (netd puts them in its segment's sets)", roles: WRITERS,
    exampleBody: { addresses: ['10.0.1.20'] },
    handler: async (ctx) => {
      const b = parse(z.strictObject({ addresses: z.array(z.string().max(64)).max(64) }), ctx.req.body, 'body');
      const r = await ctx.cp.segments.setDeviceAddresses(id(ctx), b.addresses, ctx.actor);
      await ctx.afterWrite();
      return { id: id(ctx), addresses: r };
    },
  },
  {
    method: 'POST', path: '/api/v1/segments/mud', tag: 'segments', summary: "Import a device type's allowed flows from a MUD file (RFC 8520); reports what it could not map", roles: ADMIN, status: 201,
    exampleBody: { mud: {}, mapping: { segment: 'cameras' } },
    handler: async ({ cp, req, actor, afterWrite }) => {
      const b = parse(z.strictObject({ mud: z.unknown(), mapping: z.unknown() }), req.body, 'body');
      const r = await cp.segments.importMud(typeof b.mud === 'string' ? b.mud : JSON.stringify(b.mud ?? null), b.mapping, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/changes', tag: 'meta', summary: 'Change-feed rows this server has applied after sequence `after` (shows a --data change has arrived)', roles: ALL,
    handler: async ({ runtime, req }) => {
      const q = parse(z.strictObject({ after: z.coerce.number().int().min(0).optional() }), req.query, 'query');
      return { changes: (runtime.recentChanges ?? []).filter((c) => c.seq > (q.after ?? 0)) };
    },
  },
  {
    method: 'GET', path: '/api/v1/alerts', tag: 'monitor', summary: 'Recent alerts from the detectors, each with its explanation', roles: ALL,
    handler: async ({ runtime, req }) => {
      const q = parse(z.strictObject({ device: z.string().max(128).optional(), limit: z.coerce.number().int().min(1).max(2000).optional() }), req.query, 'query');
      const all = runtime.alerts ?? [];
      return { stats: runtime.monitor?.stats() ?? null, alerts: all.filter((a) => q.device === undefined || a.key === q.device).slice(-(q.limit ?? 200)) };
    },
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
    handler: async ({ cp, actor, afterWrite }) => { const r = await cp.authority.rotateIssuing(actor); await afterWrite(); return r; },
  },
  ...DASHBOARD_ROUTES,
];
