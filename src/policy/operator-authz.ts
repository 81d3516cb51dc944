/**
 * Operator decisions for the admin API: the shipped role policy (operator-policies.cedar),
 * validated against the Zeta schema at load like any policy set and evaluated by the same pure
 * engine as device requests. Each decision builds a two-entity store (the operator, the device if
 * any), so no fleet state is shared with the MQTT decision point. Deny by default; the reasons are
 * the determining policy ids (the forbid that denied, or the permit that allowed).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAuthorized, EntityStore, type EntityJson } from './engine/index.js';
import { parsePolicySet, type ParsedPolicySet } from './policy-set.js';

export const OPERATOR_POLICY_TEXT = readFileSync(join(import.meta.dirname, 'operator-policies.cedar'), 'utf8');

export interface OperatorSubject {
  id: string;
  role: string;
  sites: readonly string[];
  segments: readonly string[];
}

/** The device acted on: a stored device, or the one a request would create. */
export interface DeviceTarget {
  id: string;
  site: string | null;
  segment: string | null;
}

export interface OperatorDecision {
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: string[];
}

let compiled: ParsedPolicySet | undefined;

function operatorEntity(o: OperatorSubject): EntityJson {
  return {
    uid: { type: 'Operator', id: o.id },
    attrs: { role: o.role, allSites: o.sites.length === 0, sites: [...o.sites], allSegments: o.segments.length === 0, segments: [...o.segments] },
    parents: [],
  };
}

export function decideOperator(o: OperatorSubject, action: string, device?: DeviceTarget): OperatorDecision {
  compiled ??= parsePolicySet(OPERATOR_POLICY_TEXT);
  const entities: EntityJson[] = [operatorEntity(o)];
  if (device !== undefined) {
    entities.push({ uid: { type: 'Device', id: device.id }, attrs: { site: device.site ?? '', segment: device.segment ?? '' }, parents: [] });
  }
  try {
    const d = isAuthorized({
      principal: { type: 'Operator', id: o.id }, action: { type: 'Action', id: action },
      resource: device === undefined ? { type: 'Fleet', id: 'fleet' } : { type: 'Device', id: device.id }, context: {},
    }, compiled.compiled, new EntityStore(entities));
    return { decision: d.decision, reasons: d.determining, errors: d.errors.map((e) => `${e.policyId}: ${e.message}`) };
  } catch (e) {
    // Fail closed, with the reason.
    return { decision: 'deny', reasons: [], errors: [`evaluation failed: ${(e as Error).message}`] };
  }
}
