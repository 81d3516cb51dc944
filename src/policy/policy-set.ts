/**
 * A policy set as Zeta handles it: Cedar text, validated against Zeta's schema with cedar-wasm
 * (the validator's own messages on failure), parsed to JSON, keyed by `@id` annotations (Cedar's
 * default `policyN` where there is none), and compiled by the pure engine. Nothing is applied
 * unless all of that succeeds.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { ZetaError } from '../common/errors.js';
import { compilePolicySet, type CompiledPolicySet, type PolicyJson } from './engine/index.js';
import { policySetTextToJson } from './cedar-json.js';

const HERE = import.meta.dirname;
export const SCHEMA_TEXT = readFileSync(join(HERE, 'zeta.cedarschema'), 'utf8');
export const TEMPLATE_DIR = join(HERE, 'templates');

/** The shipped least-privilege templates, by name (base, camera, thermostat, lock, plc, sensor). */
export function templates(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(TEMPLATE_DIR).filter((n) => n.endsWith('.cedar')).sort()) out[f.slice(0, -6)] = readFileSync(join(TEMPLATE_DIR, f), 'utf8');
  return out;
}

/** The default policy set `zeta init` applies: base first, then every device type. */
export function defaultPolicyText(): string {
  const t = templates();
  return [t.base ?? '', ...Object.entries(t).filter(([k]) => k !== 'base').map(([, v]) => v)].join('\n');
}

export interface ParsedPolicySet {
  text: string;
  sha256: string;
  policies: Record<string, PolicyJson>;
  /** Policy id → its source text (for diffs and the analyzer). */
  sources: Record<string, string>;
  compiled: CompiledPolicySet;
}

const MAX_POLICY_TEXT = 1024 * 1024;

export function parsePolicySet(text: string): ParsedPolicySet {
  if (text.length > MAX_POLICY_TEXT) throw new ZetaError('ZETA_ERR_POLICY_INVALID', `policy text is ${text.length} bytes; the limit is ${MAX_POLICY_TEXT}`);
  const v = cedar.validate({ schema: SCHEMA_TEXT, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } });
  if (v.type === 'failure') {
    throw new ZetaError('ZETA_ERR_POLICY_INVALID', `policies do not parse: ${v.errors.map((e) => e.message).join('; ')}`, { fields: { problems: v.errors.map((e) => e.message) } });
  }
  if (v.validationErrors.length > 0) {
    const problems = v.validationErrors.map((e) => `${e.policyId}: ${e.error.message}${e.error.help === undefined || e.error.help === null ? '' : ` (${e.error.help})`}`);
    throw new ZetaError('ZETA_ERR_POLICY_INVALID', `policies do not validate against the Zeta schema: ${problems.join('; ')}`, { fields: { problems } });
  }
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') throw new ZetaError('ZETA_ERR_POLICY_INVALID', parts.errors.map((e) => e.message).join('; '));
  const byDefault = policySetTextToJson(text);
  const policies: Record<string, PolicyJson> = {};
  const sources: Record<string, string> = {};
  // cedar-wasm returns the parts ordered by their default id as a string (policy0, policy1, policy10, ...).
  const partIndex = new Map(Object.keys(byDefault).sort().map((id, j) => [id, j]));
  Object.entries(byDefault).forEach(([defaultId, p]) => {
    const i = partIndex.get(defaultId) ?? -1;
    const annotated = (p as { annotations?: Record<string, string> }).annotations?.id;
    const id = annotated ?? defaultId;
    if (policies[id] !== undefined) throw new ZetaError('ZETA_ERR_POLICY_INVALID', `two policies share the id "${id}"; @id annotations must be unique`);
    policies[id] = p;
    sources[id] = parts.policies[i] ?? '';
  });
  return { text, sha256: createHash('sha256').update(text).digest('hex'), policies, sources, compiled: compilePolicySet(policies) };
}

export interface PolicyDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Which policy ids a new set adds, removes or changes, compared by normalised JSON. */
export function diffPolicySets(before: ParsedPolicySet | undefined, after: ParsedPolicySet): PolicyDiff {
  const b = before?.policies ?? {};
  const norm = (p: unknown): string => JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return {
    added: Object.keys(after.policies).filter((id) => b[id] === undefined).sort(),
    removed: Object.keys(b).filter((id) => after.policies[id] === undefined).sort(),
    changed: Object.keys(after.policies).filter((id) => b[id] !== undefined && norm(b[id]) !== norm(after.policies[id])).sort(),
  };
}
