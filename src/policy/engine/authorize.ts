/**
 * The decision: a pure, total function of (request, policies, entities). Cedar spec,
 * "Authorization": deny by default; any satisfied forbid denies and is the reason; else any
 * satisfied permit allows and is the reason; a policy whose evaluation errors is skipped and its
 * error reported (CompiledPolicySet.decide).
 */
import type { CompiledPolicySet } from './compile.js';
import { Env } from './env.js';
import type { EntityStore, Slot } from './entity-store.js';
import { errorMessage } from './ops.js';
import type { CedarRequest, Decision } from './types.js';
import { typeAndIdFromJson, valueFromJson } from './value-json.js';
import { CedarRecord, EntityRef, EvalError, type Value } from './values.js';

/** The `policyId` under which a malformed request is reported (no policy was evaluated). */
export const REQUEST_ERROR_ID = '';

/** The stored entity, which is its own uid (its key built once, at upsert), else a new uid. */
function refOf(e: Slot | undefined, type: string, id: string): EntityRef {
  return e !== undefined ? e : new EntityRef(type, id);
}

function bindRequest(req: CedarRequest, s: EntityStore): Env {
  const ctx = req.context as unknown;
  if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx)) throw new EvalError('context must be a record');
  const m = new Map<string, Value>();
  for (const k of Object.keys(ctx)) m.set(k, valueFromJson((ctx as Record<string, unknown>)[k]));
  const p = typeAndIdFromJson(req.principal);
  const a = typeAndIdFromJson(req.action);
  const r = typeAndIdFromJson(req.resource);
  const pe = s.lookup(p.type, p.id);
  const re = s.lookup(r.type, r.id);
  return new Env(refOf(pe, p.type, p.id), refOf(s.lookup(a.type, a.id), a.type, a.id), refOf(re, r.type, r.id), new CedarRecord(m), s, pe, re);
}

export function isAuthorized(req: CedarRequest, policies: CompiledPolicySet, entities: EntityStore): Decision {
  let env: Env;
  try {
    env = bindRequest(req, entities);
  } catch (e) {
    // Fail closed: a request that cannot be bound is denied, and says why.
    return { decision: 'deny', determining: [], errors: [{ policyId: REQUEST_ERROR_ID, message: `invalid request: ${errorMessage(e)}` }] };
  }
  return policies.decide(env);
}
