/**
 * Zeta's policy engine (NIST SP 800-207 "Policy Engine"): a Cedar 4 evaluator over the JSON (EST)
 * form of policies. INVARIANT: pure. It imports only src/common and itself, does no I/O and never
 * reads the clock; time reaches a policy only through the request context.
 */
export { compilePolicySet, CompiledPolicySet } from './compile.js';
export { EntityStore, type StoredEntity } from './entity-store.js';
export { isAuthorized, REQUEST_ERROR_ID } from './authorize.js';
export { parseJsonLossless } from './lossless-json.js';
export type {
  ActionConstraint,
  CedarRequest,
  CedarValueJson,
  Decision,
  EntityJson,
  EntityUid,
  ExprJson,
  PatternElem,
  PolicyError,
  PolicyJson,
  PrincipalOrResourceConstraint,
  TypeAndId,
} from './types.js';
