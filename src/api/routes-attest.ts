/**
 * Operator routes for attestation: request a re-attestation, read a device's history, and manage
 * the reference values (register one, import many, list). Deny by default like every route table.
 */
import { z } from 'zod';
import { parse } from './parse-input.js';
import type { ApiRoute } from './routes.js';


const idParam = z.strictObject({ id: z.string().min(1).max(128) });
const EXAMPLE_REFERENCE = { model: 'cam-x1', firmwareVersion: '1.4.2', alg: 'sha256', ipl: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] };

export const ATTEST_ROUTES: readonly ApiRoute[] = [
  {
    method: 'POST', path: '/api/v1/devices/:id/attest', tag: 'attestation', summary: 'Request a re-attestation: the device\'s next challenge is marked due and its agent attests at once', action: 'manageDevice', device: 'param',
    handler: async ({ cp, req, actor, afterWrite }) => {
      const { id } = parse(idParam, req.params, 'params');
      const r = await cp.attestation.requestAttestation(id, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/devices/:id/attest/reset', tag: 'attestation', summary: 'Forget the device\'s attestation key and TOFU pin (new hardware); history is kept', action: 'revokeDevice', device: 'param', stepUp: true,
    handler: async ({ cp, req, actor, afterWrite }) => {
      const { id } = parse(idParam, req.params, 'params');
      const r = await cp.attestation.reset(id, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'GET', path: '/api/v1/devices/:id/attestations', tag: 'attestation', summary: 'Attestation history of a device (newest first), its key binding and whether a round is due', action: 'viewDevice', device: 'param',
    handler: async ({ cp, req }) => {
      const { id } = parse(idParam, req.params, 'params');
      const q = parse(z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() }), req.query, 'query');
      return cp.attestation.history(id, q.limit);
    },
  },
  {
    method: 'GET', path: '/api/v1/attest/references', tag: 'attestation', summary: 'Reference values: registered and imported per model + firmware, and TOFU pins per device', action: 'viewFleet',
    handler: async ({ cp, req }) => {
      const q = parse(z.strictObject({ model: z.string().max(200).optional(), device: z.string().max(128).optional() }), req.query, 'query');
      return { references: await cp.attestation.listReferences({ ...(q.model === undefined ? {} : { model: q.model }), ...(q.device === undefined ? {} : { deviceId: q.device }) }) };
    },
  },
  {
    method: 'POST', path: '/api/v1/attest/references', tag: 'attestation', summary: 'Register (or replace) the reference values of one model + firmware version', action: 'applyPolicy', stepUp: true, status: 201,
    exampleBody: EXAMPLE_REFERENCE,
    handler: async ({ cp, req, actor, afterWrite }) => {
      const r = await cp.attestation.registerReference(req.body, actor);
      await afterWrite();
      return r;
    },
  },
  {
    method: 'POST', path: '/api/v1/attest/references/import', tag: 'attestation', summary: 'Import reference values (JSON array or { references: [...] }); all or nothing', action: 'applyPolicy', stepUp: true, status: 201,
    exampleBody: [EXAMPLE_REFERENCE],
    handler: async ({ cp, req, actor, afterWrite }) => {
      const r = await cp.attestation.importReferences(req.body, actor);
      await afterWrite();
      return r;
    },
  },
];
