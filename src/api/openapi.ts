/** OpenAPI 3.1 rendered from the route table, so the document is what the server enforces. */
import type { ApiRoute } from './routes.js';
import { ROLES } from '../iam/index.js';
import { decideOperator } from '../policy/index.js';

/** The roles the operator policy grants a route's action to (unscoped), for the document. */
export function rolesFor(r: ApiRoute): string[] {
  return ROLES.filter((role) => decideOperator({ id: 'probe', role, sites: [], segments: [] }, r.action).decision === 'allow');
}
import { ERROR_CODES } from '../common/errors.js';

function toOpenApiPath(path: string): string {
  return path.replace(/:([a-zA-Z]+)/g, '{$1}');
}

export function openApiDocument(routes: readonly ApiRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = { $ref: '#/components/responses/Problem' };
  for (const r of routes) {
    const p = (paths[toOpenApiPath(r.path)] ??= {});
    const params = [...r.path.matchAll(/:([a-zA-Z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    p[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      'x-zeta-action': r.action,
      'x-zeta-roles': rolesFor(r),
      ...(r.stepUp === true ? { 'x-zeta-step-up': true } : {}),
      security: [{ bearerToken: [] }, { sessionCookie: [] }],
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(r.exampleBody === undefined ? {} : { requestBody: { content: { 'application/json': { schema: { type: r.exampleBody instanceof Array ? 'array' : 'object' }, example: r.exampleBody } } } }),
      responses: {
        [String(r.status ?? 200)]: { description: 'Success', ...(r.status === 204 ? {} : { content: { 'application/json': { schema: { type: 'object' } } } }) },
        400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 500: problem,
      },
    };
  }
  // Operator login (src/api/routes-auth.ts): before there is a principal, so outside the table.
  const auth = (method: string, path: string, summary: string): void => {
    (paths[path] ??= {})[method] = { summary, tags: ['auth'], security: [], responses: { 200: { description: 'Success' }, 400: problem, 401: problem, 403: problem, 429: problem } };
  };
  auth('get', '/api/v1/auth/config', 'Which login methods this server offers: {oidc, webauthn}');
  auth('post', '/api/v1/auth/login', 'Password step: {stage: "mfa", methods} or {stage: "enroll-mfa"}; sets __Host-zeta_pre');
  auth('post', '/api/v1/auth/totp/setup', 'Start TOTP enrolment (stage enroll-mfa, or a session): {secret, otpauthUrl}');
  auth('post', '/api/v1/auth/totp', 'Second factor (or enrolment) with a TOTP code: {operator, csrfToken, recoveryCodes?}; sets __Host-zeta_session');
  auth('post', '/api/v1/auth/recovery', 'Second factor with a single-use recovery code');
  auth('post', '/api/v1/auth/webauthn/options', 'Passkey assertion options for the pending login');
  auth('post', '/api/v1/auth/webauthn/verify', 'Second factor with a passkey assertion {response}');
  auth('post', '/api/v1/auth/webauthn/register/options', 'Passkey creation options (stage enroll-mfa or a session)');
  auth('post', '/api/v1/auth/webauthn/register/verify', 'Register a passkey {response, name}; at stage enroll-mfa this completes the login');
  auth('get', '/api/v1/auth/me', 'The session: {operator, csrfToken, stepUpUntil, mfa}');
  auth('post', '/api/v1/auth/logout', 'End the session (x-csrf-token required)');
  auth('post', '/api/v1/auth/step-up/options', 'Passkey assertion options for a step-up');
  auth('post', '/api/v1/auth/step-up', 'Re-authenticate with {code} (TOTP) or {response} (passkey): {stepUpUntil}');
  auth('get', '/api/v1/auth/oidc/start', 'Single sign-on: 302 to the identity provider');
  auth('get', '/api/v1/auth/oidc/callback', 'Single sign-on return: session, 302 to /');
  paths['/api/v1/health'] = { get: { summary: 'Liveness', tags: ['meta'], security: [], responses: { 200: { description: 'ok' } } } };
  paths['/api/v1/openapi.json'] = { get: { summary: 'This document', tags: ['meta'], security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Zeta control plane API', version: '1', description: 'Device identity, inventory, audit. EST (RFC 7030) lives under /.well-known/est; CRL and OCSP on the plain-HTTP PKI port.' },
    paths,
    components: {
      securitySchemes: {
        bearerToken: { type: 'http', scheme: 'bearer', description: 'API token from `zeta init` or `zeta token create`' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: '__Host-zeta_session', description: 'Operator session from /api/v1/auth/login; state-changing requests also send x-csrf-token' },
      },
      responses: {
        Problem: {
          description: 'RFC 9457 problem details',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code', 'requestId'],
          properties: {
            type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' },
            code: { type: 'string', enum: Object.keys(ERROR_CODES) }, hint: { type: 'string' }, requestId: { type: 'string' }, instance: { type: 'string' },
          },
        },
      },
    },
  };
}
