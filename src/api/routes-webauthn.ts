/** WebAuthn passkeys (placeholder until the SimpleWebAuthn flow lands). */
import type { FastifyInstance } from 'fastify';
import { ZetaError } from '../common/errors.js';
import type { OperatorInfo, SessionRow } from '../iam/index.js';
import type { AuthHelpers } from './routes-auth.js';

export interface WebauthnHandle {
  stepUp: (s: { row: SessionRow; operator: OperatorInfo }, response: Record<string, unknown>, address: string) => Promise<string>;
}

export function registerWebauthnRoutes(_app: FastifyInstance, _h: AuthHelpers): WebauthnHandle {
  return { stepUp: async () => { throw new ZetaError('ZETA_ERR_WEBAUTHN', 'passkeys are not available yet'); } };
}
