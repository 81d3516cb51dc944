/**
 * `zeta serve`: the HTTPS port (REST API under /api/v1, EST under /.well-known/est) and the plain
 * HTTP port for CRL and OCSP (relying parties fetch these without TLS, RFC 5280 §4.2.1.13 and
 * RFC 6960 Appendix A; both are signed objects). Errors are RFC 9457 problem+json with a request id.
 */
import { randomUUID, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyReply } from 'fastify';
import { ZetaError, isZetaError, toProblem } from '../common/errors.js';
import { ChangeFeed, mapStoreError, type Change } from '../store/index.js';
import { decodeBase64Body, auditedRefusals } from '../pki/index.js';
import type { ControlPlane } from './control-plane.js';
import { ROUTES, type ApiRoute, type Runtime } from './routes.js';
import { startGateway, pdpAuthorizer, FlowView, type GatewayHandle } from './gateway-wiring.js';
import { PolicyDecisionPoint } from '../policy/index.js';
import { Monitor, trustScore, type Alert } from '../monitor/index.js';
import { openApiDocument } from './openapi.js';
import { registerDashboard } from './dashboard-static.js';
import { credentialStillValid } from './routes-dashboard.js';
import { AccessControl, type Caller } from './access.js';
import { registerAuthRoutes } from './routes-auth.js';
import type { DeviceTarget } from '../policy/index.js';
import { startResponse, alertInput } from './response-wiring.js';
import { registerAttestRoutes } from './attest-routes.js';
import { trustIdentity } from './attest-service.js';

export interface ServeHandles {
  api: FastifyInstance;
  pki: FastifyInstance;
  feed: ChangeFeed;
  gateway: GatewayHandle | undefined;
  pdp: PolicyDecisionPoint;
  apiUrl: string;
  pkiUrl: string;
  caBundlePath: string;
  /** The most recent changes this server has seen from the feed (newest last). */
  recentChanges: Change[];
  close(): Promise<void>;
}

const PROBLEM = 'application/problem+json';

function sendProblem(reply: FastifyReply, req: FastifyRequest, e: unknown): FastifyReply {
  const mapped = mapStoreError(e);
  const err = isZetaError(mapped) ? mapped : fastifyErrorToZeta(mapped);
  if (!isZetaError(err) || err.status >= 500) req.log.error({ err: mapped, reqId: req.id }, 'request failed');
  else req.log.info({ code: err.code, internal: err.internal, reqId: req.id }, 'request refused');
  // RFC 9110 §10.2.3: tell a rate-limited or locked-out caller when to come back.
  const retryAfter = isZetaError(err) ? err.fields?.retryAfter : undefined;
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
  return reply.status(err.status).type(PROBLEM).header('x-request-id', req.id).send(toProblem(err, req.id, req.url.split('?')[0]));
}

function fastifyErrorToZeta(e: unknown): ZetaError {
  const code = (e as { code?: string } | null)?.code ?? '';
  const message = (e as Error | null)?.message ?? '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', 'request body too large');
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ZetaError('ZETA_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type');
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e instanceof SyntaxError)) return new ZetaError('ZETA_ERR_VALIDATION', `body is not valid JSON: ${message}`);
  if (code.startsWith('FST_ERR_CTP') || code === 'FST_ERR_VALIDATION') return new ZetaError('ZETA_ERR_VALIDATION', message);
  return new ZetaError('ZETA_ERR_INTERNAL', 'An internal error occurred.', { cause: e });
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer ([A-Za-z0-9_\-.~+/=]+)$/.exec(h);
  return m?.[1];
}

/** EST credentials: Basic (user = device id, password = token) or Bearer token. */
function estCredentials(req: FastifyRequest): { deviceId: string | null; token: string } | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  if (h.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) return undefined;
    return { deviceId: decoded.slice(0, i), token: decoded.slice(i + 1) };
  }
  const t = bearer(req);
  return t === undefined ? undefined : { deviceId: null, token: t };
}

function clientAddr(req: FastifyRequest): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
}

function pkcs7Reply(reply: FastifyReply, der: Buffer): FastifyReply {
  // RFC 7030 §4.1.3 / §4.2.3: base64 body, certs-only PKCS#7.
  return reply.status(200)
    .header('content-type', 'application/pkcs7-mime; smime-type=certs-only')
    .header('content-transfer-encoding', 'base64')
    .send(der.toString('base64').replace(/(.{64})/g, '$1\n') + '\n');
}

export function buildApiApp(cp: ControlPlane, tls: { key: string; cert: string; ca: string }, options: { logLevel?: string; onWrite?: () => Promise<void> | void; runtime?: Runtime } = {}): FastifyInstance {
  const runtime: Runtime = options.runtime ?? {};
  const app = Fastify({
    logger: { level: options.logLevel ?? cp.config.logLevel },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: cp.config.maxBodyBytes,
    https: {
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      // Client certificates are optional on this port (the API uses tokens, simpleenroll uses the
      // one-time token) and required only by simplereenroll, which checks `socket.authorized` (the
      // chain against our CA bundle) and then revocation and validity itself. TLS 1.3 has no
      // renegotiation, so "optional" is the only way to serve both on one port (RFC 7030 §3.3.2).
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
  });
  const afterWrite = async (): Promise<void> => { await options.onWrite?.(); };

  app.addContentTypeParser(['application/pkcs10', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: cp.config.maxCsrBytes * 2 }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(['text/csv', 'application/x-ndjson', 'text/plain', 'application/cedar'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((e, req, reply) => sendProblem(reply, req, e));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, req, new ZetaError('ZETA_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
  app.addHook('onSend', async (req, reply) => { void reply.header('x-request-id', req.id); });

  const access = new AccessControl(cp);
  // Authentication, CSRF and the role-level decision run in onRequest: an unauthenticated body is
  // never parsed. The device-level decision (scope) needs the device, so it runs in preHandler.
  const callers = new WeakMap<FastifyRequest, Caller>();
  // Streamed routes (ingest) get the raw request stream as body, in a context of their own so no
  // other route loses its parsers or body limit; the handler bounds what it reads.
  const streamed = ROUTES.filter((r) => r.rawBody === true);
  if (streamed.length > 0) {
    void app.register(async (raw) => {
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser('*', (_req, payload, done) => { done(null, payload); });
      for (const route of streamed) addRoute(raw, route);
    });
  }
  const addRoute = (into: FastifyInstance, route: ApiRoute): void => {
    const what = `${route.method} ${route.path}`;
    into.route({
      method: route.method,
      url: route.path,
      onRequest: async (req) => {
        const caller = await access.authenticate(req, what);
        await access.checkCsrf(req, caller, what);
        // Role (and token scope) first, ignoring operator scope: device scope is decided on the device.
        await access.authorize(req, caller.principal, route.action, what, undefined, { ignoreScope: route.device !== undefined });
        callers.set(req, caller);
      },
      preHandler: async (req) => {
        const caller = callers.get(req);
        if (caller === undefined) throw new ZetaError('ZETA_ERR_UNAUTHENTICATED', 'a valid API token or session is required');
        const target = await deviceTarget(cp, route, req);
        if (target !== undefined) await access.authorize(req, caller.principal, route.action, what, target);
        if (route.stepUp === true) await access.checkStepUp(req, caller.principal, what);
      },
      handler: async (req, reply) => {
        const caller = callers.get(req);
        if (caller === undefined) throw new ZetaError('ZETA_ERR_UNAUTHENTICATED', 'a valid API token or session is required');
        const p = caller.principal;
        const out = await route.handler({
          cp, runtime, req, reply, principal: p, actor: p.actor, afterWrite,
          authorize: (action, device) => access.authorize(req, p, action, what, device),
          inScope: (device) => access.inScope(p, device),
          stillAuthorized: () => credentialStillValid(cp, caller),
        });
        if (reply.sent) return reply; // hijacked: the live stream writes its own response
        // A handler may answer otherwise (202 when an approval is needed).
        if (reply.statusCode === 200) void reply.status(route.status ?? 200);
        return reply.statusCode === 204 ? reply.send() : out;
      },
    });
  };
  for (const route of ROUTES) if (route.rawBody !== true) addRoute(app, route);
  registerAuthRoutes(app, cp, access);

  // Public, read-only, no secrets.
  app.get('/api/v1/openapi.json', async () => openApiDocument(ROUTES));
  app.get('/api/v1/health', async () => ({ status: 'ok', time: cp.clock.now().toISOString() }));
  registerDashboard(app);
  // ---- EST, RFC 7030 ----
  app.get('/.well-known/est/cacerts', async (_req, reply) => pkcs7Reply(reply, cp.authority.cacertsPkcs7()));

  // RFC 7030 §4.2.1: the body is application/pkcs10; refuse anything else before it is parsed.
  const csrContentType = async (req: FastifyRequest): Promise<void> => {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/pkcs10')) {
      throw new ZetaError('ZETA_ERR_UNSUPPORTED_MEDIA_TYPE', 'EST enrollment takes Content-Type: application/pkcs10 with a base64 PKCS#10 body');
    }
  };

  // Every refused EST attempt is audited, including ones refused before the enrollment service
  // saw them (content type, size, base64): the service records its own and marks them.
  const auditEstRefusal = (action: string) => async (req: FastifyRequest, _reply: FastifyReply, e: Error): Promise<void> => {
    if (auditedRefusals.has(e)) return;
    const err = isZetaError(mapStoreError(e)) ? (mapStoreError(e) as ZetaError) : fastifyErrorToZeta(e);
    const creds = estCredentials(req);
    await cp.audit.record({
      actor: creds?.deviceId != null ? `device:${creds.deviceId}` : 'anonymous', action, outcome: err.status >= 500 ? 'error' : 'refused',
      subject: creds?.deviceId ?? null, details: { code: err.code, message: err.message, ...(err.internal === undefined ? {} : { reason: err.internal }), client: clientAddr(req), requestId: req.id },
    }).catch(() => undefined);
  };

  app.post('/.well-known/est/simpleenroll', { onRequest: csrContentType, onError: auditEstRefusal('est.enroll') }, async (req, reply) => {
    const creds = estCredentials(req);
    if (creds === undefined) {
      void reply.header('www-authenticate', 'Basic realm="zeta-est"');
      throw new ZetaError('ZETA_ERR_TOKEN_INVALID', 'send the enrollment token as HTTP Basic password (user name = device id) or as a Bearer token');
    }
    const csr = decodeBase64Body(requireCsrBody(req), cp.config.maxCsrBytes);
    try {
      const r = await cp.enrollment.enroll(creds.deviceId, creds.token, csr, clientAddr(req));
      afterWrite();
      return pkcs7Reply(reply, r.pkcs7);
    } catch (e) {
      if (isZetaError(e) && e.status === 401) void reply.header('www-authenticate', 'Basic realm="zeta-est"');
      throw e;
    }
  });

  app.post('/.well-known/est/simplereenroll', { onRequest: csrContentType, onError: auditEstRefusal('est.reenroll') }, async (req, reply) => {
    const sock = req.raw.socket as TLSSocket;
    const peer: X509Certificate | undefined = sock.getPeerX509Certificate?.();
    if (peer === undefined || !sock.authorized) {
      const why = peer === undefined ? 'no client certificate' : `client certificate chain not trusted: ${String(sock.authorizationError)}`;
      throw new ZetaError('ZETA_ERR_CERT_INVALID', 'simplereenroll requires the current device certificate over mutual TLS', { internal: why });
    }
    const csr = decodeBase64Body(requireCsrBody(req), cp.config.maxCsrBytes);
    const r = await cp.enrollment.reenroll(peer.raw, csr, clientAddr(req));
    afterWrite();
    return pkcs7Reply(reply, r.pkcs7);
  });

  registerAttestRoutes(app, cp, runtime, afterWrite);
  return app;
}

/** The device a device route acts on: the stored one for `:id`, the proposed one for a create. */
async function deviceTarget(cp: ControlPlane, route: ApiRoute, req: FastifyRequest): Promise<DeviceTarget | undefined> {
  if (route.device === 'param') {
    const id = (req.params as { id?: unknown }).id;
    if (typeof id !== 'string' || id.length > 128) return undefined;
    // An unknown id is left to the handler (404); there is nothing in scope to act on.
    const d = await cp.inventory.get(id).catch(() => undefined);
    return d === undefined ? undefined : { id: d.id, site: d.site, segment: d.segment };
  }
  if (route.device === 'body') {
    const b = req.body as { site?: unknown; segment?: unknown } | null;
    return { id: '(new)', site: typeof b?.site === 'string' ? b.site : null, segment: typeof b?.segment === 'string' ? b.segment : null };
  }
  return undefined;
}

function requireCsrBody(req: FastifyRequest): Buffer {
  if (!Buffer.isBuffer(req.body)) throw new ZetaError('ZETA_ERR_CSR_MALFORMED', 'empty certificate request');
  return req.body;
}

export function buildPkiApp(cp: ControlPlane, options: { logLevel?: string } = {}): FastifyInstance {
  const app = Fastify({ logger: { level: options.logLevel ?? cp.config.logLevel }, genReqId: () => randomUUID(), requestIdHeader: false, bodyLimit: 64 * 1024 });
  app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((e, req, reply) => sendProblem(reply, req, e));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, req, new ZetaError('ZETA_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  app.get('/crl/:file', async (req, reply) => {
    const m = /^([a-z0-9-]{1,64})\.crl$/.exec((req.params as { file: string }).file);
    const der = m === null ? undefined : await cp.authority.crl(m[1]!);
    if (der === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', 'no such CRL');
    return reply.type('application/pkix-crl').header('cache-control', 'max-age=60').send(der);
  });
  app.get('/ca/:file', async (req, reply) => {
    const m = /^([a-z0-9-]{1,64})\.der$/.exec((req.params as { file: string }).file);
    const der = m === null ? undefined : cp.authority.caIssuersDer(m[1]!);
    if (der === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', 'no such CA certificate');
    return reply.type('application/pkix-cert').send(der);
  });
  app.get('/ca.pem', async (_req, reply) => reply.type('application/x-pem-file').send(cp.authority.trustBundlePem()));

  const ocspReply = async (reply: FastifyReply, der: Buffer): Promise<FastifyReply> =>
    reply.type('application/ocsp-response').header('cache-control', 'no-cache').send(await cp.authority.ocsp(der));
  // RFC 6960 Appendix A.1: POST with the DER request, or GET with it base64 and URL-encoded.
  app.post('/ocsp', async (req, reply) => ocspReply(reply, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)));
  app.get('/ocsp/*', async (req, reply) => {
    const raw = (req.params as { '*': string })['*'];
    let b64: string;
    try {
      b64 = decodeURIComponent(raw);
    } catch {
      b64 = '';
    }
    return ocspReply(reply, b64.length > 0 && b64.length < 8192 ? Buffer.from(b64, 'base64') : Buffer.alloc(0));
  });
  return app;
}

/** An alert is audited, and moves the device's trust score (which the policies can read). */
async function recordAlert(cp: ControlPlane, monitor: Monitor, a: Alert): Promise<void> {
  try {
    await cp.audit.record({ actor: 'monitor', action: 'monitor.alert', outcome: 'ok', subject: a.key, details: JSON.parse(JSON.stringify(a)) as Record<string, unknown> });
    const device = await cp.inventory.get(a.key).catch(() => undefined);
    if (device === undefined) return;
    const now = cp.clock.now();
    const t = trustScore({
      identity: trustIdentity(device, now),
      posture: {},
      behavior: monitor.behavior(device.id),
    });
    await cp.inventory.setPosture(device.id, { trustScore: t.score, trustFactors: t.factors, trustUpdatedAt: now.toISOString() });
  } catch {
    // Monitoring never takes the server down; the alert is still in the API's list.
  }
}

export async function startServer(cp: ControlPlane, options: { caBundlePath: string; tls: { key: string; cert: string; ca: string }; logLevel?: string }): Promise<ServeHandles> {
  const feed = new ChangeFeed(cp.store, cp.config.changeFeedIntervalMs);
  // The PDP follows the feed before any enforcement point does, so a change is in its entities
  // before the gateway re-checks sessions on that same change.
  const pdp = new PolicyDecisionPoint({ policies: cp.policies, inventory: cp.inventory, clock: cp.clock });
  await pdp.load();
  pdp.follow(feed);
  // Continuous monitoring: gateway events → detectors → alerts → trust score → posture → PDP.
  const monitor = new Monitor({ clock: cp.clock });
  const alerts: Alert[] = [];
  monitor.on('alert', (a: Alert) => {
    alerts.push(a);
    if (alerts.length > 2000) alerts.splice(0, alerts.length - 2000);
    void recordAlert(cp, monitor, a).then(() => response.submit(alertInput(a)));
  });
  const recent: Change[] = [];
  // Alerts are persisted and run through the playbooks once the trust score is updated.
  const response = await startResponse(cp, feed, { error: (o, m) => api.log.error(o, m) });
  const runtime: Runtime = { pdp, monitor, alerts, recentChanges: recent, response, feed };
  feed.on('change', (c) => {
    recent.push(c);
    if (recent.length > 1000) recent.splice(0, recent.length - 1000);
    if (c.kind === 'ca.rotated') void refreshCas();
  });
  feed.on('error', (e) => api.log.error({ err: e }, 'change feed poll failed'));
  const api = buildApiApp(cp, options.tls, {
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    onWrite: () => feed.poll(),
    runtime,
  });
  const pki = buildPkiApp(cp, options.logLevel === undefined ? {} : { logLevel: options.logLevel });
  // After an issuing-CA rotation (from any process), client certificates from the new CA must
  // verify at TLS too, while the retiring CA's keep verifying: reload the CA set into the context.
  const refreshCas = async (): Promise<void> => {
    try {
      await cp.authority.load();
      (api.server as unknown as { setSecureContext(o: object): void }).setSecureContext({ key: options.tls.key, cert: options.tls.cert, ca: cp.authority.chainPem(), minVersion: 'TLSv1.2' });
      runtime.gateway?.gateway.updateTrust({ ca: cp.authority.chainPem() });
    } catch (e) {
      api.log.error({ err: e }, 'reloading the CA set after a rotation failed');
    }
  };
  await feed.start();
  await api.listen({ host: cp.config.bindAddress, port: cp.config.apiPort });
  await pki.listen({ host: cp.config.bindAddress, port: cp.config.pkiHttpPort });
  if (cp.config.gatewayEnabled) {
    const flows = new FlowView();
    await flows.load(cp.segments);
    flows.follow(feed, cp.segments);
    runtime.gateway = await startGateway(cp, feed, { port: cp.config.mqttPort, host: cp.config.bindAddress, authorize: pdpAuthorizer(pdp, flows), ...(cp.config.gatewayUpstream === 'embedded' ? {} : { upstream: cp.config.gatewayUpstream }) });
    runtime.gateway.gateway.on('event', (e: Parameters<Monitor['ingestGatewayEvent']>[0]) => { monitor.ingestGatewayEvent(e); });
  }
  const host = cp.config.bindAddress.includes(':') ? `[${cp.config.bindAddress}]` : cp.config.bindAddress;
  const apiPort = (api.server.address() as { port: number }).port;
  const pkiPort = (pki.server.address() as { port: number }).port;
  return {
    api, pki, feed, gateway: runtime.gateway, pdp,
    apiUrl: `https://${host}:${apiPort}`,
    pkiUrl: `http://${host}:${pkiPort}`,
    caBundlePath: options.caBundlePath,
    recentChanges: recent,
    async close() {
      feed.stop();
      await runtime.gateway?.close();
      monitor.close();
      await response.close();
      await api.close();
      await pki.close();
    },
  };
}
