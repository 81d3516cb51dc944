/**
 * The decision: a pure, total function of (request, policies, entities). Cedar spec,
 * "Authorization": deny by default; any satisfied forbid denies and is the reason; else any
 * satisfied permit allows and is the reason; a policy whose evaluation errors is skipped and its
 * error reported.
 */
import type { CompiledPolicy, CompiledPolicySet } from './compile.js';
import { Env } from './env.js';
import type { EntityStore } from './entity-store.js';
import type { CedarRequest, Decision, PolicyError } from './types.js';
import { entityRefFromJson, valueFromJson } from './value-json.js';
import { CedarRecord, EvalError, type Value } from './values.js';

/** The `policyId` under which a malformed request is reported (no policy was evaluated). */
export const REQUEST_ERROR_ID = '';

function errorMessage(e: unknown): string {
  if (e instanceof EvalError) return e.message;
  // INVARIANT: total. A host error (e.g. stack exhaustion on a pathological policy) is this
  // policy's evaluation error, as Cedar reports its recursion limit.
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function bindRequest(req: CedarRequest, s: EntityStore): Env {
  const ctx = req.context as unknown;
  if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx)) throw new EvalError('context must be a record');
  const m = new Map<string, Value>();
  for (const k of Object.keys(ctx)) m.set(k, valueFromJson((ctx as Record<string, unknown>)[k]));
  return new Env(entityRefFromJson(req.principal), entityRefFromJson(req.action), entityRefFromJson(req.resource), new CedarRecord(m), s);
}

function run(list: readonly CompiledPolicy[], env: Env, errors: PolicyError[]): string[] | undefined {
  let satisfied: string[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const p = list[i] as CompiledPolicy;
    let ok: boolean;
    try {
      ok = p.test(env);
    } catch (e) {
      errors.push({ policyId: p.id, message: errorMessage(e) });
      continue;
    }
    if (ok) (satisfied ??= []).push(p.id);
  }
  return satisfied;
}

export function isAuthorized(req: CedarRequest, policies: CompiledPolicySet, entities: EntityStore): Decision {
  let env: Env;
  try {
    env = bindRequest(req, entities);
  } catch (e) {
    // Fail closed: a request that cannot be bound is denied, and says why.
    return { decision: 'deny', determining: [], errors: [{ policyId: REQUEST_ERROR_ID, message: `invalid request: ${errorMessage(e)}` }] };
  }
  const errors: PolicyError[] = [];
  const applicable = policies.forAction(env);
  const forbids = run(applicable.forbids, env, errors);
  const permits = run(applicable.permits, env, errors);
  if (forbids !== undefined) return { decision: 'deny', determining: forbids, errors };
  if (permits !== undefined) return { decision: 'allow', determining: permits, errors };
  return { decision: 'deny', determining: [], errors };
}
