/**
 * Alerts, response actions, playbooks and sensor ingest, as rows of the one route table
 * (routes.ts spreads RESPONSE_ROUTES into ROUTES, so the authorization matrix test and the OpenAPI
 * document cover them). Without a running server (no runtime.response) the routes work on the
 * store directly: alerts and actions are rows, playbooks are versions.
 */
import { z } from 'zod';
import { parse } from './parse-input.js';
import type { Readable } from 'node:stream';
import type { ApiRoute, RouteContext } from './routes.js';
import { ZetaError } from '../common/errors.js';
import { ALERT_STATES, ACTION_STATUSES, INGEST_FORMATS, SEVERITIES, ingestStream, type ResponseEngine } from '../response/index.js';
import { responseEngine } from './response-wiring.js';
import { inScopeOnly } from './scope.js';



const idParam = z.strictObject({ id: z.string().min(1).max(128) });
const alertQuery = z.strictObject({
  state: z.enum(ALERT_STATES).optional(),
  device: z.string().min(1).max(128).optional(),
  severity: z.enum(SEVERITIES).optional(),
  since: z.iso.datetime().optional(),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});
const ackBody = z.strictObject({ note: z.string().max(1000).optional() }).optional();
const respondBody = z.strictObject({ playbook: z.string().min(1).max(63).optional(), step: z.string().min(1).max(63).optional(), dryRun: z.boolean().optional() }).optional();
const actionQuery = z.strictObject({ status: z.enum(ACTION_STATUSES).optional(), device: z.string().min(1).max(128).optional(), limit: z.coerce.number().int().min(1).max(5000).optional() });
const rejectBody = z.strictObject({ note: z.string().max(1000).optional() }).optional();

function id(ctx: RouteContext): string {
  return parse(idParam, ctx.req.params, 'path').id;
}

/** The running server's engine, or one over the store for this request (no sinks). */
function engine(ctx: RouteContext): ResponseEngine {
  return ctx.runtime.response?.engine ?? responseEngine(ctx.cp);
}

function undef<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export const RESPONSE_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET', path: '/api/v1/alerts', tag: 'response', summary: 'Persisted alerts, newest first (filters: state, device, severity, since), each with its explanation', action: 'viewFleet',
    handler: async (ctx) => {
      const q = parse(alertQuery, ctx.req.query, 'query');
      return { stats: ctx.runtime.monitor?.stats() ?? null, alerts: await inScopeOnly(ctx, await engine(ctx).alerts.list(undef(q)), (a) => a.deviceId) };
    },
  },
  {
    method: 'GET', path: '/api/v1/alerts/:id', tag: 'response', summary: 'One alert with its explanation and the response actions it caused', action: 'viewFleet',
    handler: async (ctx) => {
      const e = engine(ctx);
      const alert = await e.alerts.get(id(ctx));
      // A scoped operator learns nothing about alerts outside the scope, not even that they exist.
      if ((await inScopeOnly(ctx, [alert], (a) => a.deviceId)).length === 0) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no alert ${alert.id}`);
      const actions = alert.deviceId === null ? [] : (await e.listActions({ device: alert.deviceId, limit: 500 })).filter((a) => a.alertId === alert.id);
      return { ...alert, actions };
    },
  },
  {
    method: 'POST', path: '/api/v1/alerts/:id/ack', tag: 'response', summary: 'Acknowledge an alert (with an optional note)', action: 'quarantineDevice',
    exampleBody: { note: 'looking into it' },
    handler: async (ctx) => {
      const b = parse(ackBody, ctx.req.body, 'body');
      const r = await engine(ctx).alerts.setState(id(ctx), 'acknowledged', ctx.actor, b?.note);
      await ctx.afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/alerts/:id/resolve', tag: 'response', summary: 'Resolve an alert (with an optional note)', action: 'quarantineDevice',
    exampleBody: { note: 'false positive: firmware roll-out' },
    handler: async (ctx) => {
      const b = parse(ackBody, ctx.req.body, 'body');
      const r = await engine(ctx).alerts.setState(id(ctx), 'resolved', ctx.actor, b?.note);
      await ctx.afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/alerts/:id/respond', tag: 'response', summary: 'Run the playbooks (or one playbook / step) on an alert now; dryRun reports exactly what would change', action: 'quarantineDevice', stepUp: true,
    exampleBody: { dryRun: true },
    handler: async (ctx) => {
      const b = parse(respondBody, ctx.req.body, 'body') ?? {};
      const e = engine(ctx);
      const plan = b.dryRun === true
        ? await e.dryRun(id(ctx), undef({ playbook: b.playbook }))
        : await e.respond(id(ctx), undef({ playbook: b.playbook, step: b.step }), ctx.actor);
      if (b.dryRun !== true) await ctx.afterWrite();
      return { dryRun: b.dryRun === true, plan };
    },
  },
  {
    method: 'GET', path: '/api/v1/responses', tag: 'response', summary: 'Response actions (applied, pending approval, rejected, undone, failed), newest first', action: 'viewFleet',
    handler: async (ctx) => ({ actions: await inScopeOnly(ctx, await engine(ctx).listActions(undef(parse(actionQuery, ctx.req.query, 'query'))), (a) => a.deviceId) }),
  },
  {
    method: 'GET', path: '/api/v1/responses/:id', tag: 'response', summary: 'One response action with its reason and what it replaced', action: 'viewFleet',
    handler: async (ctx) => {
      const a = await engine(ctx).getAction(id(ctx));
      if ((await inScopeOnly(ctx, [a], (x) => x.deviceId)).length === 0) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no response action ${a.id}`);
      return a;
    },
  },
  {
    method: 'POST', path: '/api/v1/responses/:id/approve', tag: 'response', summary: 'Approve a pending action (held by the blast-radius guard or a step that requires approval): it is applied now', action: 'approve', stepUp: true,
    handler: async (ctx) => { const r = await engine(ctx).approve(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'POST', path: '/api/v1/responses/:id/reject', tag: 'response', summary: 'Reject a pending action: nothing changes', action: 'approve',
    exampleBody: { note: 'expected maintenance' },
    handler: async (ctx) => {
      const b = parse(rejectBody, ctx.req.body, 'body');
      const r = await engine(ctx).reject(id(ctx), ctx.actor, b?.note);
      await ctx.afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/responses/:id/undo', tag: 'response', summary: 'Undo an applied action: restores the previous state (revoke cannot be undone)', action: 'quarantineDevice', stepUp: true,
    handler: async (ctx) => { const r = await engine(ctx).undo(id(ctx), ctx.actor); await ctx.afterWrite(); return r; },
  },
  {
    method: 'GET', path: '/api/v1/playbooks', tag: 'response', summary: 'The playbooks in force (latest version of each)', action: 'viewFleet',
    handler: async (ctx) => ({ playbooks: await engine(ctx).playbooks() }),
  },
  {
    method: 'PUT', path: '/api/v1/playbooks', tag: 'response', summary: 'Validate and store a playbook as a new version (strict JSON; refused with every problem listed)', action: 'applyPolicy', stepUp: true, status: 201,
    exampleBody: { name: 'example', guard: { maxDevices: 5, maxSegmentPercent: 20, windowMinutes: 60 }, steps: [{ id: 'q', action: 'quarantine', when: { rules: ['fan-out-hosts'] } }] },
    handler: async (ctx) => {
      const r = await engine(ctx).putPlaybook(ctx.req.body, ctx.actor, typeof ctx.req.headers['x-zeta-comment'] === 'string' ? ctx.req.headers['x-zeta-comment'].slice(0, 256) : undefined);
      await ctx.afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/ingest/:format', tag: 'response', summary: 'Stream sensor lines (zeek-conn, telemetry, gateway) into the live monitor; answers {accepted, rejected (first 100)}; 429/503 with Retry-After when busy', action: 'ingest',
    rawBody: true,
    handler: async ({ cp, runtime, req, reply }) => {
      const { format } = parse(z.strictObject({ format: z.enum(INGEST_FORMATS) }), req.params, 'path');
      const rt = runtime.response;
      const monitor = runtime.monitor;
      const body = req.body as Readable | undefined;
      if (rt === undefined || monitor === undefined) throw new ZetaError('ZETA_ERR_INGEST_BUSY', 'no live monitor in this process (ingest needs zeta serve)');
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > cp.config.ingestMaxBodyBytes) {
        throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `ingest body of ${declared} bytes is larger than the limit of ${cp.config.ingestMaxBodyBytes}; nothing was read`);
      }
      // Bounded concurrency first, then the monitor's queue: refuse before reading anything.
      if (rt.ingestInFlight >= cp.config.ingestMaxConcurrent) {
        void reply.header('retry-after', '1');
        throw new ZetaError('ZETA_ERR_RATE_LIMITED', `${rt.ingestInFlight} ingest requests are being served (at most ${cp.config.ingestMaxConcurrent}); retry later`);
      }
      if (monitor.queued >= INGEST_REFUSE_QUEUED) {
        void reply.header('retry-after', '2');
        throw new ZetaError('ZETA_ERR_INGEST_BUSY', `the monitor has ${monitor.queued} signals queued; retry later`);
      }
      if (body === undefined || typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
        throw new ZetaError('ZETA_ERR_VALIDATION', 'send the lines as the request body');
      }
      rt.ingestInFlight++;
      try {
        return await ingestStream(body, format, monitor, { maxBodyBytes: cp.config.ingestMaxBodyBytes });
      } catch (e) {
        if (e instanceof ZetaError && e.code === 'ZETA_ERR_INGEST_BUSY') void reply.header('retry-after', '5');
        // Stop the sender: whatever it still sends is not read.
        if (e instanceof ZetaError && e.code === 'ZETA_ERR_PAYLOAD_TOO_LARGE') void reply.header('connection', 'close');
        throw e;
      } finally {
        rt.ingestInFlight--;
      }
    },
  },
];

/** Above this many queued monitor signals a new ingest request is refused (503) before it is read. */
const INGEST_REFUSE_QUEUED = 50_000;
