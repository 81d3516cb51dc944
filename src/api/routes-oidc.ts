/** OpenID Connect single sign-on (placeholder until the openid-client flow lands). */
import type { FastifyInstance } from 'fastify';
import type { AuthHelpers } from './routes-auth.js';

export function registerOidcRoutes(_app: FastifyInstance, _h: AuthHelpers): void {
  // Registered when oidcIssuer is configured.
}
