/**
 * What the dashboard's pages read: the fleet overview, a device's trust score over time, and a live
 * stream of change-feed rows and alerts (server-sent events). Every row here goes through the same
 * authentication and role table as the rest of the API; nothing is public.
 */
import { z } from 'zod';
import { parse } from './parse-input.js';
import { sql } from 'kysely';
import type { ServerResponse } from 'node:http';
import type { ApiRoute, RouteContext } from './routes.js';
import type { ControlPlane } from './control-plane.js';
import type { Caller } from './access.js';
import type { Change } from '../store/index.js';
import type { Alert } from '../monitor/index.js';
import { ZetaError } from '../common/errors.js';
import { DEVICE_STATES, type Device } from '../inventory/index.js';
import { isUnscoped } from '../iam/index.js';

/** Gateway event types that count as a refusal on the overview's enforcement panel. */
const REFUSALS = new Set(['connect_refused', 'subscribe_denied', 'publish_denied', 'receive_denied', 'limit_exceeded', 'fail_closed', 'duplicate_identity']);

/** Stream bounds: a dashboard tab is cheap, a forgotten or slow one must not become a leak. */
export const STREAM_LIMITS = {
  /** Concurrent streams per server; the next one gets 429 and the browser retries later. */
  maxStreams: 200,
  /** A stream is closed after this long; EventSource reconnects, and re-authenticates doing so. */
  maxAgeMs: 30 * 60_000,
  /** Unsent bytes allowed to pile up for a slow reader before its stream is dropped. */
  maxBufferedBytes: 1 << 20,
  /** Events per second per stream; a burst above it is summarised as one `resync` event. */
  maxEventsPerSecond: 200,
} as const;

let openStreams = 0;
/** Open streams per server instance, so shutting a server down can end them (they never go idle). */
const liveStreams = new WeakMap<object, Set<() => void>>();

/** Ends every open stream of a server: called from its preClose hook, or close() would wait on them. */
export function endStreams(server: object): void {
  for (const close of [...(liveStreams.get(server) ?? [])]) close();
}

/**
 * Whether the credential behind a long-lived request still stands, read without touching it: a
 * stream's heartbeat must not count as activity, or an open tab would defeat the idle timeout.
 */
export async function credentialStillValid(cp: ControlPlane, caller: Caller): Promise<boolean> {
  const now = cp.clock.now();
  const db = cp.store.db;
  let operatorId: string | null = null;
  if (caller.session !== undefined) {
    const row = await db.selectFrom('sessions').select(['stage', 'expires_at', 'last_seen_at', 'operator_id']).where('id_hash', '=', caller.session.id_hash).executeTakeFirst();
    if (row === undefined || row.stage !== 'full' || row.expires_at <= now.toISOString()) return false;
    if (new Date(row.last_seen_at).getTime() + cp.config.iamSessionIdleMinutes * 60_000 <= now.getTime()) return false;
    operatorId = row.operator_id;
  } else {
    const tokenId = caller.principal.tokenId;
    if (tokenId === undefined) return false;
    const row = await db.selectFrom('api_tokens').select(['revoked_at', 'expires_at', 'operator_id']).where('id', '=', tokenId).executeTakeFirst();
    if (row === undefined || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now.toISOString())) return false;
    operatorId = row.operator_id;
  }
  if (operatorId === null) return true;
  const op = await db.selectFrom('operators').select('disabled_at').where('id', '=', operatorId).executeTakeFirst();
  return op !== undefined && op.disabled_at === null;
}


async function countBy(ctx: RouteContext, column: 'state' | 'segment'): Promise<Record<string, number>> {
  const rows = await ctx.cp.store.db.selectFrom('devices').select([column, (eb) => eb.fn.countAll<number>().as('n')]).groupBy(column).execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[(r as Record<string, unknown>)[column] as string | null ?? '(none)'] = Number(r.n);
  return out;
}

/** Ten buckets 0-9, 10-19, ... 90-100, plus devices with no score yet; counted in the database. */
async function trustHistogram(ctx: RouteContext): Promise<{ buckets: number[]; unscored: number }> {
  const store = ctx.cp.store;
  const score = store.dialect === 'postgres'
    ? sql<number | null>`((posture::json->>'trustScore')::float)`
    : sql<number | null>`json_extract(posture, '$.trustScore')`;
  const bucket = store.dialect === 'postgres'
    ? sql<number | null>`least(floor(${score} / 10), 9)`
    : sql<number | null>`min(cast(${score} / 10 as integer), 9)`;
  const rows = await store.db.selectFrom('devices').select([bucket.as('b'), (eb) => eb.fn.countAll<number>().as('n')]).groupBy('b').execute();
  const buckets = new Array<number>(10).fill(0);
  let unscored = 0;
  for (const r of rows) {
    if (r.b === null) unscored += Number(r.n);
    else buckets[Math.max(0, Math.min(9, Number(r.b)))]! += Number(r.n);
  }
  return { buckets, unscored };
}

/**
 * A scoped operator's view: the same figures over the devices in scope only, counted here (a
 * scoped operator's share of the fleet is small; an unscoped one is counted in SQL).
 */
async function scopedCounts(ctx: RouteContext): Promise<{ byState: Record<string, number>; bySegment: Record<string, number>; trust: { buckets: number[]; unscored: number }; expiring: { devices: Device[]; total: number }; byDevice: Set<string> }> {
  const byDevice = new Set<string>();
  const byState: Record<string, number> = {};
  const bySegment: Record<string, number> = {};
  const buckets = new Array<number>(10).fill(0);
  let unscored = 0;
  for (let offset = 0; ; offset += 10_000) {
    const page = await ctx.cp.inventory.list({ limit: 10_000, offset });
    for (const d of page.devices) {
      if (!ctx.inScope(d)) continue;
      byDevice.add(d.id);
      byState[d.state] = (byState[d.state] ?? 0) + 1;
      bySegment[d.segment ?? '(none)'] = (bySegment[d.segment ?? '(none)'] ?? 0) + 1;
      if (d.trustScore === null) unscored++;
      else buckets[Math.max(0, Math.min(9, Math.floor(d.trustScore / 10)))]! += 1;
    }
    if (page.devices.length < 10_000) break;
  }
  const soon = await ctx.cp.inventory.list({ expiringWithinDays: 30, limit: 10_000 });
  const mine = soon.devices.filter((d) => ctx.inScope(d));
  return { byState, bySegment, trust: { buckets, unscored }, expiring: { devices: mine.slice(0, 10), total: mine.length }, byDevice };
}

async function overview(ctx: RouteContext): Promise<unknown> {
  const { cp, runtime } = ctx;
  const now = cp.clock.now();
  const scoped = isUnscoped(ctx.principal.scope) ? undefined : await scopedCounts(ctx);
  const byState = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<string, number>;
  Object.assign(byState, scoped?.byState ?? await countBy(ctx, 'state'));
  const expiring = scoped?.expiring ?? await cp.inventory.list({ expiringWithinDays: 30, limit: 10 });
  const alerts = (runtime.alerts ?? []).filter((a) => scoped === undefined || scoped.byDevice.has(a.key));
  const dayAgo = now.getTime() - 86_400_000;
  const recentAlerts = alerts.filter((a) => a.atMs >= dayAgo);
  const events = runtime.gateway?.recentEvents ?? [];
  const active = await cp.policies.active();
  const maxSeq = await cp.store.db.selectFrom('changes').select((eb) => eb.fn.max('seq').as('max')).executeTakeFirst();
  const applied = runtime.feed?.lastSeq ?? null;
  return {
    at: now.toISOString(),
    devices: { total: Object.values(byState).reduce((a, b) => a + b, 0), byState, bySegment: scoped?.bySegment ?? await countBy(ctx, 'segment') },
    trust: scoped?.trust ?? await trustHistogram(ctx),
    alerts: {
      open: recentAlerts.length,
      bySeverity: { high: recentAlerts.filter((a) => a.severity === 'high').length, medium: recentAlerts.filter((a) => a.severity === 'medium').length, low: recentAlerts.filter((a) => a.severity === 'low').length },
      latest: alerts.slice(-5).reverse().map((a) => ({ id: a.id, at: a.at, device: a.key, rule: a.rule, severity: a.severity, summary: a.summary })),
    },
    certificates: { expiringWithin30Days: expiring.total, soonest: expiring.devices.map((d) => ({ id: d.id, name: d.name, notAfter: d.certificate?.notAfter ?? null })) },
    enforcement: {
      gatewayRunning: runtime.gateway !== undefined,
      gatewaySessions: runtime.gateway?.gateway.sessions().length ?? 0,
      recentRefusals: events.filter((e) => REFUSALS.has(e.type)).length,
      policyVersion: active?.version ?? null,
      changeFeed: { appliedSeq: applied, latestSeq: Number(maxSeq?.max ?? 0), lag: applied === null ? null : Math.max(0, Number(maxSeq?.max ?? 0) - applied) },
      pdp: runtime.pdp?.stats ?? null,
    },
  };
}

/**
 * Server-sent events (WHATWG HTML §9.2): `change` for each change-feed row, `alert` for each new
 * alert, a comment heartbeat. A request that does not accept text/event-stream gets the current
 * position as JSON instead, so a plain API client (and the authorization matrix) is answered at once.
 */
async function stream(ctx: RouteContext): Promise<unknown> {
  const { req, reply, runtime } = ctx;
  const feed = runtime.feed;
  if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
    return { seq: feed?.lastSeq ?? null, streams: openStreams, hint: 'send Accept: text/event-stream for the live stream' };
  }
  if (openStreams >= STREAM_LIMITS.maxStreams) {
    void reply.header('retry-after', '30');
    throw new ZetaError('ZETA_ERR_RATE_LIMITED', 'too many live streams open on this server', { internal: `${openStreams} streams` });
  }
  openStreams++;
  const res: ServerResponse = reply.raw;
  reply.hijack();
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': req.id,
  });
  // The browser reconnects after this many ms if the stream drops.
  res.write(`retry: 3000\n: seq ${feed?.lastSeq ?? 0}\n\n`);

  let closed = false;
  let windowStart = Date.now();
  let sentInWindow = 0;
  let resyncPending = false;
  const send = (event: string, data: unknown): void => {
    if (closed) return;
    if (res.writableLength > STREAM_LIMITS.maxBufferedBytes) { close(); return; }
    const t = Date.now();
    if (t - windowStart >= 1000) { windowStart = t; sentInWindow = 0; resyncPending = false; }
    if (++sentInWindow > STREAM_LIMITS.maxEventsPerSecond) {
      // Over budget: tell the page once to refetch instead of sending every row.
      if (!resyncPending) { resyncPending = true; res.write('event: resync\ndata: {}\n\n'); }
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  // A scoped operator must not learn about devices outside the scope from the stream: it gets only
  // the kind and sequence (enough to refetch through the scoped API), never subjects or data.
  const scoped = !isUnscoped(ctx.principal.scope);
  const onChange = (c: Change): void => { send('change', scoped ? { seq: c.seq, ts: c.ts, kind: c.kind, subject: '', data: {} } : c); };
  const onAlert = (a: Alert): void => {
    send('alert', scoped ? { id: '', at: a.at, device: '', rule: '', severity: a.severity, summary: '' } : { id: a.id, at: a.at, device: a.key, rule: a.rule, severity: a.severity, summary: a.summary });
  };
  feed?.on('change', onChange);
  runtime.monitor?.on('alert', onAlert);

  // The stream ends with the credential: re-checked at every heartbeat, so a logout, an expired
  // session or a revoked token stops the flow within one heartbeat.
  const heartbeat = setInterval(() => {
    void (async () => {
      if (closed) return;
      const ok = ctx.stillAuthorized === undefined ? true : await ctx.stillAuthorized().catch(() => false);
      if (!ok) { if (!closed) res.write('event: end\ndata: {"reason":"session ended"}\n\n'); close(); return; }
      if (!closed) res.write(': heartbeat\n\n');
    })();
  }, ctx.cp.config.streamHeartbeatMs);
  const maxAge = setTimeout(() => close(), STREAM_LIMITS.maxAgeMs);
  heartbeat.unref();
  maxAge.unref();
  function close(): void {
    if (closed) return;
    closed = true;
    openStreams--;
    clearInterval(heartbeat);
    clearTimeout(maxAge);
    feed?.off('change', onChange);
    runtime.monitor?.off('alert', onAlert);
    liveStreams.get(req.server)?.delete(close);
    res.end();
  }
  res.on('close', close);
  const mine = liveStreams.get(req.server) ?? new Set<() => void>();
  liveStreams.set(req.server, mine);
  mine.add(close);
  return undefined;
}

export const DASHBOARD_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET', path: '/api/v1/overview', tag: 'dashboard', summary: 'Fleet overview: devices by state and segment, trust-score histogram, alerts, expiring certificates, enforcement health', action: 'viewFleet',
    handler: overview,
  },
  {
    method: 'GET', path: '/api/v1/devices/:id/trust-history', tag: 'dashboard', summary: "A device's trust score over time (oldest first, bounded)", action: 'viewDevice', device: 'param',
    handler: async (ctx) => {
      const { id } = parse(z.strictObject({ id: z.string().min(1).max(128) }), ctx.req.params, 'path');
      const q = parse(z.strictObject({ limit: z.coerce.number().int().min(1).max(500).optional() }), ctx.req.query, 'query');
      return { device: id, points: await ctx.cp.inventory.trustHistory(id, q.limit) };
    },
  },
  {
    method: 'GET', path: '/api/v1/stream', tag: 'dashboard', summary: 'Live change-feed rows and alerts as server-sent events (Accept: text/event-stream); JSON position otherwise', action: 'viewFleet',
    handler: stream,
  },
];
