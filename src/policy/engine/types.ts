/**
 * The JSON shapes the engine accepts: Cedar's policy EST ("JSON policy format") and Cedar's JSON
 * entity format, as produced by cedar-wasm. Long literals may arrive as `bigint` when they lie
 * outside the float-safe range (see lossless-json.ts and src/policy/cedar-json.ts): the engine
 * never sees a rounded i64.
 */

export interface TypeAndId {
  type: string;
  id: string;
}

/** An entity reference, with or without the `__entity` escape. */
export type EntityUid = TypeAndId | { __entity: TypeAndId };

export type CedarValueJson =
  | boolean
  | number
  | bigint
  | string
  | CedarValueJson[]
  | { __entity: TypeAndId }
  | { __extn: { fn: string; arg: CedarValueJson } | { fn: string; args: CedarValueJson[] } }
  | { [key: string]: CedarValueJson };

export interface EntityJson {
  uid: EntityUid;
  attrs?: Record<string, CedarValueJson>;
  parents?: EntityUid[];
  tags?: Record<string, CedarValueJson>;
}

export type PatternElem = 'Wildcard' | { Literal: string };

/** Cedar policy EST expression. Extension calls are `{ "<fn name>": [args] }`. */
export type ExprJson =
  | { Value: CedarValueJson }
  | { Var: 'principal' | 'action' | 'resource' | 'context' }
  | { Slot: string }
  | { Unknown: { name: string } }
  | { '!': { arg: ExprJson } }
  | { neg: { arg: ExprJson } }
  | { isEmpty: { arg: ExprJson } }
  | { [op: string]: { left: ExprJson; right: ExprJson } }
  | { '.': { left: ExprJson; attr: string } }
  | { has: { left: ExprJson; attr: string | string[] } }
  | { like: { left: ExprJson; pattern: PatternElem[] } }
  | { is: { left: ExprJson; entity_type: string; in?: ExprJson } }
  | { 'if-then-else': { if: ExprJson; then: ExprJson; else: ExprJson } }
  | { Set: ExprJson[] }
  | { Record: Record<string, ExprJson> }
  | { [fn: string]: ExprJson[] };

export type EntityRefJson = { entity: EntityUid } | { slot: string };

export type PrincipalOrResourceConstraint =
  | { op: 'All' }
  | ({ op: '==' } & EntityRefJson)
  | ({ op: 'in' } & EntityRefJson)
  | { op: 'is'; entity_type: string; in?: EntityRefJson };

export type ActionConstraint =
  | { op: 'All' }
  | ({ op: '==' } & EntityRefJson)
  | { op: 'in'; entity: EntityUid }
  | { op: 'in'; entities: EntityUid[] };

export interface PolicyJson {
  effect: 'permit' | 'forbid';
  principal: PrincipalOrResourceConstraint;
  action: ActionConstraint;
  resource: PrincipalOrResourceConstraint;
  conditions: { kind: 'when' | 'unless'; body: ExprJson }[];
  annotations?: Record<string, string | null>;
}

export interface CedarRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValueJson>;
}

export interface PolicyError {
  policyId: string;
  message: string;
}

/**
 * Cedar's response: `determining` is the set of satisfied forbids when denied by a forbid, the
 * satisfied permits when allowed, and empty on default deny (Cedar spec, "Authorization").
 */
export interface Decision {
  decision: 'allow' | 'deny';
  determining: string[];
  errors: PolicyError[];
}
