/**
 * The REST API under /api/v1, as one table. Each row names the action (permission) it is; the
 * operator policy (src/policy/operator-policies.cedar) decides which role, in which scope, may take
 * it — a route that is not in this table does not exist, and the policy denies by default.
 * Device routes name the device acted on (`device`), so scope is decided on the device itself;
 * destructive routes need a recent step-up for cookie sessions (`stepUp`).
 * test/api-authz.test.ts walks every row with no credentials and with every role; openapi.ts
 * renders the same table, so the documentation cannot drift from what is enforced.
 */
import { z } from 'zod';
import { parse } from './parse-input.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from './control-plane.js';
import type { Permission, Principal } from '../iam/index.js';
import type { DeviceTarget } from '../policy/index.js';
import type { GatewayHandle } from './gateway-wiring.js';
import type { Monitor, Alert } from '../monitor/index.js';
import type { ResponseRuntime } from './response-wiring.js';
import { RESPONSE_ROUTES } from './routes-response.js';
import type { Change, ChangeFeed } from '../store/index.js';
import { DASHBOARD_ROUTES } from './routes-dashboard.js';
import { inScopeOnly } from './scope.js';
import { parsePolicySet, whatIf, analyzePolicySet, deviceEntity, PolicyDecisionPoint } from '../policy/index.js';
import { ZetaError } from '../common/errors.js';
import { DEVICE_STATES, DEVICE_SORT_KEYS, parseImport, detectFormat, type Device } from '../inventory/index.js';
import { ROLES, PERMISSIONS, isUnscoped } from '../iam/index.js';
import { IAM_ROUTES, requestApproval } from './routes-iam.js';
import { ATTEST_ROUTES } from './routes-attest.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Live parts of a running server that routes may report on. */
export interface Runtime {
  gateway?: GatewayHandle;
  pdp?: PolicyDecisionPoint;
  monitor?: Monitor;
  alerts?: Alert[];
  /** The most recent change-feed rows this server has applied (newest last). */
  recentChanges?: Change[];
  /** Persisted alerts, playbooks, sinks, ingest (src/api/response-wiring.ts). */
  response?: ResponseRuntime;
  /** The change feed this server follows (the dashboard's live stream listens to it). */
  feed?: ChangeFeed;
}

export interface RouteContext {
  cp: ControlPlane;
  runtime: Runtime;
  req: FastifyRequest;
  reply: FastifyReply;
  /** `operator:<name>` or `token:<id>` of the caller, for audit entries. */
  actor: string;
  principal: Principal;
  /** Throws ZETA_ERR_FORBIDDEN (audited) unless the caller may take `action` (on `device`). */
  authorize: (action: Permission, device?: DeviceTarget) => Promise<void>;
  /** Whether a device is within the caller's scope (for filtering lists). */
  inScope: (device: DeviceTarget) => boolean;
  afterWrite: () => Promise<void>;
  /** Re-checks the request's credential now (a long-lived stream ends when its session does). */
  stillAuthorized?: () => Promise<boolean>;
}

export interface ApiRoute {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** The permission this route is; the operator policy decides who holds it. */
  action: Permission;
  /** The device acted on: the `:id` path parameter, or the one the body would create. */
  device?: 'param' | 'body';
  /** Cookie sessions need a step-up within the last iamStepUpMinutes (destructive routes). */
  stepUp?: boolean;
  /** 2xx status on success. */
  status?: number;
  /** Body example for the OpenAPI document and the authorization matrix test. */
  exampleBody?: unknown;
  /** The handler reads `req.body` as the raw request stream (no parsing, no body limit: it bounds itself). */
  rawBody?: boolean;
  handler: (ctx: RouteContext) => Promise<unknown>;
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
const tokenBody = z.strictObject({
  name: z.string().min(1).max(128), role: z.enum(ROLES), expiresInDays: z.number().int().min(1).max(3650).optional(),
  scopes: z.array(z.enum(PERMISSIONS)).min(1).max(PERMISSIONS.length).optional(),
});
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
    method: 'GET', path: '/api/v1/devices', tag: 'devices', summary: 'List devices with filters', action: 'viewFleet',
    handler: async ({ cp, req, principal, inScope }) => {
      const q = compact(parse(listQuery, req.query, 'query'));
      if (isUnscoped(principal.scope)) return cp.inventory.list(q);
      // A scoped operator's list holds only the devices in scope (and counts only those).
      const mine: Device[] = [];
      for (let offset = 0; ; offset += 10_000) {
        const page = await cp.inventory.list({ ...q, limit: 10_000, offset });
        mine.push(...page.devices.filter(inScope));
        if (page.devices.length < 10_000) break;
      }
      const from = q.offset ?? 0;
      return { devices: mine.slice(from, from + (q.limit ?? 100)), total: mine.length };
    },
  },
  {
    method: 'POST', path: '/api/v1/devices', tag: 'devices', summary: 'Add a device; returns its one-time enrollment token', action: 'manageDevice', device: 'body', status: 201,
    exampleBody: { name: 'lobby camera', type: 'camera', segment: 'cameras' },
    handler: async ({ cp, req, actor, afterWrite }) => {
      const r = await cp.inventory.add(req.body, actor);
      await afterWrite();
      return { ...r.device, enrollmentToken: r.enrollmentToken, tokenExpiresAt: r.tokenExpiresAt };
    },
  },
  {
    method: 'POST', path: '/api/v1/devices/import', tag: 'devices', summary: 'Bulk import (JSON array, JSON lines or CSV body); all or nothing', action: 'importDevices', stepUp: true, status: 201,
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
    method: 'GET', path: '/api/v1/devices/:id', tag: 'devices', summary: 'Show one device', action: 'viewDevice', device: 'param',
    handler: async (ctx) => ctx.cp.inventory.get(id(ctx)),
  },
  {
    method: 'PATCH', path: '/api/v1/devices/:id', tag: 'devices', summary: 'Update device attributes', action: 'manageDevice', device: 'param',
    exampleBody: { site: 'hq' },
    handler: async (ctx) => {
      // Moving a device must not take it out of the caller's scope.
      const b = ctx.req.body as { site?: unknown; segment?: unknown } | null;
      if (b !== null && typeof b === 'object' && ('site' in b || 'segment' in b)) {
        const cur = await ctx.cp.inventory.get(id(ctx));
        await ctx.authorize('manageDevice', { id: cur.id, site: typeof b.site === 'string' ? b.site : cur.site, segment: typeof b.segment === 'string' ? b.segment : cur.segment });
      }
      const r = await ctx.cp.inventory.update(id(ctx), ctx.req.body, ctx.actor);
      await ctx.afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/suspend', tag: 'lifecycle', summary: 'Suspend a device', action: 'manageDevice', device: 'param', stepUp: true,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.suspend(id(ctx), ctx.actor, b?.reason); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/quarantine', tag: 'lifecycle', summary: 'Quarantine a device', action: 'quarantineDevice', device: 'param', stepUp: true,
    handler: async (ctx) => { const b = parse(reasonBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.quarantine(id(ctx), ctx.actor, b?.reason); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/resume', tag: 'lifecycle', summary: 'Resume a suspended or quarantined device', action: 'manageDevice', device: 'param',
    handler: async (ctx) => { const r = await ctx.cp.inventory.resume(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/revoke', tag: 'lifecycle', summary: 'Revoke every certificate of a device (RFC 5280 reason)', action: 'revokeDevice', device: 'param', stepUp: true,
    exampleBody: { reason: 'keyCompromise' },
    handler: async (ctx) => { const b = parse(revokeBody, ctx.req.body, 'body'); const r = await ctx.cp.inventory.revoke(id(ctx), b.reason, ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/decommission', tag: 'lifecycle', summary: 'Decommission a device (terminal)', action: 'decommissionDevice', device: 'param', stepUp: true,
    handler: async (ctx) => { const r = await ctx.cp.inventory.decommission(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/enrollment-token', tag: 'lifecycle', summary: 'Issue a new one-time enrollment token', action: 'manageDevice', device: 'param', status: 201,
    handler: async (ctx) => ctx.cp.inventory.newEnrollmentToken(id(ctx), ctx.actor),
  },
  {
    method: 'GET', path: '/api/v1/audit', tag: 'audit', summary: 'Read audit entries', action: 'readAudit',
    handler: async ({ cp, req }) => ({ entries: await cp.audit.list(compact(parse(auditQuery, req.query, 'query'))) }),
  },
  {
    method: 'GET', path: '/api/v1/audit/verify', tag: 'audit', summary: 'Verify the audit hash chain and signed checkpoints', action: 'readAudit',
    handler: async ({ cp }) => cp.audit.verify(),
  },
  {
    method: 'GET', path: '/api/v1/audit/export', tag: 'audit', summary: 'Export the audit log as JSON lines', action: 'readAudit',
    handler: async ({ cp, reply }) => {
      const lines: string[] = [];
      await cp.audit.export((l) => { lines.push(l); });
      void reply.type('application/x-ndjson');
      return lines.join('\n') + (lines.length > 0 ? '\n' : '');
    },
  },
  {
    method: 'GET', path: '/api/v1/tokens', tag: 'access', summary: 'List API tokens (never their secrets)', action: 'manageAccess',
    handler: async ({ cp }) => ({ tokens: await cp.tokens.list() }),
  },
  {
    method: 'POST', path: '/api/v1/tokens', tag: 'access', summary: 'Create an API token (shown once)', action: 'manageAccess', stepUp: true, status: 201,
    exampleBody: { name: 'ci', role: 'auditor' },
    handler: async ({ cp, req, actor }) => {
      const b = parse(tokenBody, req.body, 'body');
      const r = await cp.tokens.create(compact(b) as { name: string; role: string; expiresInDays?: number; scopes?: string[] }, actor);
      return { ...r.info, token: r.token };
    },
  },
  {
    method: 'DELETE', path: '/api/v1/tokens/:id', tag: 'access', summary: 'Revoke an API token', action: 'manageAccess', stepUp: true, status: 204,
    handler: async (ctx) => { await ctx.cp.tokens.revoke(id(ctx), ctx.actor); return undefined; },
  },
  {
    method: 'GET', path: '/api/v1/policies', tag: 'policy', summary: 'The enforced policy set (text, version) and the shadow set if any', action: 'viewFleet',
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
    method: 'POST', path: '/api/v1/policies', tag: 'policy', summary: 'Validate and apply a Cedar policy set (text/plain body); refused with the validator message if invalid', action: 'applyPolicy', stepUp: true, status: 201,
    handler: async (ctx) => {
      const { cp, req, actor, afterWrite } = ctx;
      const comment = typeof req.headers['x-zeta-comment'] === 'string' ? req.headers['x-zeta-comment'].slice(0, 1024) : undefined;
      if (cp.iam.approvals.required('policyApply')) {
        const text = policyText(req.body);
        parsePolicySet(text); // refuse an invalid set now, not at approval time
        return requestApproval(ctx, 'policyApply', { text, ...(comment === undefined ? {} : { comment }) });
      }
      const r = await cp.policies.apply(policyText(req.body), actor, comment);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/policies/what-if', tag: 'policy', summary: 'Evaluate the whole fleet against a proposed policy set without applying it: who gains or loses what', action: 'viewFleet',
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
    method: 'POST', path: '/api/v1/policies/shadow', tag: 'policy', summary: 'Run a proposed policy set in shadow mode beside the enforced one (empty body clears it)', action: 'applyPolicy', stepUp: true,
    handler: async ({ cp, req, actor, afterWrite }) => {
      const text = typeof req.body === 'string' ? req.body : '';
      const r = await cp.policies.setShadow(text.trim() === '' ? null : text, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/policies/history', tag: 'policy', summary: 'Every policy version, who applied it and when', action: 'viewFleet',
    handler: async ({ cp }) => ({ versions: await cp.policies.history() }),
  },
  {
    method: 'GET', path: '/api/v1/policies/analysis', tag: 'policy', summary: 'Audit checks on the enforced set: overly broad or shadowed policies', action: 'viewFleet',
    handler: async ({ cp }) => {
      const a = await cp.policies.active();
      return { version: a?.version ?? null, findings: a === undefined ? [] : analyzePolicySet(a.set) };
    },
  },
  {
    method: 'POST', path: '/api/v1/policies/check', tag: 'policy', summary: 'Decide one MQTT request for a device now, with the determining policies', action: 'viewFleet',
    exampleBody: { device: 'camera-1', action: 'publish', topic: 'devices/camera-1/status' },
    handler: async ({ cp, req, runtime }) => {
      const b = parse(checkBody, req.body, 'body');
      const pdp = runtime.pdp ?? await loadPdp(cp);
      return { device: b.device, action: b.action, topic: b.topic ?? null, ...pdp.decide({ principal: b.device, action: b.action, ...(b.topic === undefined ? {} : { topic: b.topic }) }) };
    },
  },
  {
    method: 'GET', path: '/api/v1/decisions', tag: 'policy', summary: 'The decision log: every deny, a sample of allows, shadow disagreements', action: 'readAudit',
    handler: async ({ runtime, req }) => {
      const q = parse(z.strictObject({ device: z.string().max(128).optional(), decision: z.enum(['allow', 'deny']).optional(), limit: z.coerce.number().int().min(1).max(5000).optional() }), req.query, 'query');
      const log = runtime.pdp?.log ?? [];
      const hits = log.filter((e) => (q.device === undefined || e.request.principal === q.device) && (q.decision === undefined || e.decision === q.decision));
      return { stats: runtime.pdp?.stats ?? null, entries: hits.slice(-(q.limit ?? 200)) };
    },
  },
  {
    method: 'GET', path: '/api/v1/segments', tag: 'segments', summary: 'Segments, services and flows (the one source of truth for both enforcement points)', action: 'viewFleet',
    handler: async ({ cp }) => ({ segments: await cp.segments.listSegments(), services: await cp.segments.listServices(), flows: await cp.segments.listFlows() }),
  },
  {
    method: 'POST', path: '/api/v1/segments', tag: 'segments', summary: 'Add a segment', action: 'manageSegments', status: 201,
    exampleBody: { name: 'cameras', kind: 'type' },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addSegment(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'DELETE', path: '/api/v1/segments/:id', tag: 'segments', summary: 'Remove a segment (refused while devices or flows use it)', action: 'manageSegments', status: 204,
    handler: async (ctx) => { await ctx.cp.segments.removeSegment(id(ctx), ctx.actor); await ctx.afterWrite(); return undefined; },
  },
  {
    method: 'POST', path: '/api/v1/services', tag: 'segments', summary: 'Add a named service (addresses, protocol, ports) flows can target', action: 'manageSegments', status: 201,
    exampleBody: { name: 'nvr', addresses: ['10.0.9.10/32'], protocol: 'tcp', ports: [554] },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addService(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/flows', tag: 'segments', summary: 'Allow a flow between segments (network and/or MQTT topic prefix); everything else is denied', action: 'manageSegments', status: 201,
    exampleBody: { from: 'cameras', toService: 'nvr', direction: 'one-way' },
    handler: async ({ cp, req, actor, afterWrite }) => { const r = await cp.segments.addFlow(req.body, actor); await afterWrite(); return r; },
  },
  {
    method: 'DELETE', path: '/api/v1/flows/:id', tag: 'segments', summary: 'Remove a flow', action: 'manageSegments', status: 204,
    handler: async (ctx) => { await ctx.cp.segments.removeFlow(id(ctx), ctx.actor); await ctx.afterWrite(); return undefined; },
  },
  {
    method: 'PUT', path: '/api/v1/devices/:id/addresses', tag: 'segments', summary: "Set a device's IP addresses (netd puts them in its segment's sets)", action: 'manageDevice', device: 'param',
    exampleBody: { addresses: ['10.0.1.20'] },
    handler: async (ctx) => {
      const b = parse(z.strictObject({ addresses: z.array(z.string().max(64)).max(64) }), ctx.req.body, 'body');
      const r = await ctx.cp.segments.setDeviceAddresses(id(ctx), b.addresses, ctx.actor);
      await ctx.afterWrite();
      return { id: id(ctx), addresses: r };
    },
  },
  {
    method: 'POST', path: '/api/v1/segments/mud', tag: 'segments', summary: "Import a device type's allowed flows from a MUD file (RFC 8520); reports what it could not map", action: 'manageSegments', status: 201,
    exampleBody: { mud: {}, mapping: { segment: 'cameras' } },
    handler: async ({ cp, req, actor, afterWrite }) => {
      const b = parse(z.strictObject({ mud: z.unknown(), mapping: z.unknown() }), req.body, 'body');
      const r = await cp.segments.importMud(typeof b.mud === 'string' ? b.mud : JSON.stringify(b.mud ?? null), b.mapping, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/changes', tag: 'meta', summary: 'Change-feed rows this server has applied after sequence `after` (shows a --data change has arrived)', action: 'viewFleet',
    handler: async (ctx) => {
      const q = parse(z.strictObject({ after: z.coerce.number().int().min(0).optional() }), ctx.req.query, 'query');
      return { changes: await inScopeOnly(ctx, (ctx.runtime.recentChanges ?? []).filter((c) => c.seq > (q.after ?? 0)), (c) => c.subject) };
    },
  },
  {
    method: 'GET', path: '/metrics', tag: 'gateway', summary: 'Prometheus metrics of the MQTT gateway (text exposition format)', action: 'viewFleet',
    handler: async ({ runtime, reply }) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return runtime.gateway?.gateway.metricsText() ?? '# the MQTT gateway is not running in this process\n';
    },
  },
  {
    method: 'GET', path: '/api/v1/gateway/sessions', tag: 'gateway', summary: 'Live MQTT sessions: device, address, subscriptions, counters', action: 'viewFleet',
    handler: async (ctx) => ({ running: ctx.runtime.gateway !== undefined, sessions: await inScopeOnly(ctx, ctx.runtime.gateway?.gateway.sessions() ?? [], (x) => x.deviceId) }),
  },
  {
    method: 'GET', path: '/api/v1/gateway/events', tag: 'gateway', summary: 'Recent gateway events (refusals, connects, denials; allowed messages are only counted)', action: 'viewFleet',
    handler: async (ctx) => {
      const q = parse(z.strictObject({ device: z.string().max(128).optional(), type: z.string().max(40).optional(), limit: z.coerce.number().int().min(1).max(2000).optional() }), ctx.req.query, 'query');
      const all = await inScopeOnly(ctx, ctx.runtime.gateway?.recentEvents ?? [], (e) => e.deviceId);
      const hits = all.filter((e) => (q.device === undefined || e.deviceId === q.device) && (q.type === undefined || e.type === q.type));
      return { events: hits.slice(-(q.limit ?? 200)) };
    },
  },
  {
    method: 'GET', path: '/api/v1/ca', tag: 'pki', summary: 'CA certificates and their state', action: 'viewFleet',
    handler: async ({ cp }) => ({
      trustDomain: cp.config.trustDomain,
      root: { id: cp.authority.root.id, pem: cp.authority.root.row.cert_pem, notAfter: cp.authority.root.row.not_after },
      issuing: cp.authority.verifyingIssuers.map((i) => ({ id: i.id, status: i.row.status, notAfter: i.row.not_after, pem: i.row.cert_pem })),
    }),
  },
  {
    method: 'POST', path: '/api/v1/ca/rotate', tag: 'pki', summary: 'Rotate the issuing CA (old one keeps verifying until its certificates expire)', action: 'rotateCa', stepUp: true,
    handler: async (ctx) => {
      if (ctx.cp.iam.approvals.required('caRotate')) return requestApproval(ctx, 'caRotate', {});
      const r = await ctx.cp.authority.rotateIssuing(ctx.actor);
      await ctx.afterWrite();
      return r;
    },
  },
  ...IAM_ROUTES,
  ...RESPONSE_ROUTES,
  ...ATTEST_ROUTES,
  ...DASHBOARD_ROUTES,
];
