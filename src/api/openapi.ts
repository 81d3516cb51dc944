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
