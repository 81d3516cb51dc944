/**
 * Audit checks for overly broad policies, in the spirit of AWS IoT Device Defender's audit:
 * structural checks on each policy's JSON, and semantic probes that evaluate a policy alone (and
 * the set as a whole) against synthetic devices of every type.
 */
import { compilePolicySet, EntityStore, isAuthorized, type EntityJson } from './engine/index.js';
import type { ParsedPolicySet } from './policy-set.js';
import { toCedarRequest, type MqttRequest } from './pdp.js';
import { probesFor } from './what-if.js';

export type FindingKind = 'any-principal-any-resource' | 'wildcard-topic-access' | 'no-segment-or-type-condition' | 'shadowed-by-forbid' | 'cross-device-access';

export interface Finding {
  policy: string;
  kind: FindingKind;
  severity: 'high' | 'medium' | 'low';
  message: string;
}

const TYPES = ['camera', 'thermostat', 'lock', 'plc', 'sensor', 'gateway', 'other'];

function syntheticFleet(): EntityJson[] {
  return TYPES.flatMap((t) => ['a', 'b'].map((n) => ({
    uid: { type: 'Device', id: `probe-${t}-${n}` },
    attrs: { type: t, segment: t === 'plc' ? 'ot-1' : `seg-${t}`, site: 'probe', vendor: '', model: '', firmware: '', state: 'active', trustScore: 100, attestation: 'verified', attestedAt: 0, tags: [] },
    parents: [{ type: 'Segment', id: t === 'plc' ? 'ot-1' : `seg-${t}` }],
  })));
}

export function analyzePolicySet(set: ParsedPolicySet): Finding[] {
  const findings: Finding[] = [];
  const fleet = syntheticFleet();
  const store = new EntityStore(fleet);
  const probes: MqttRequest[] = fleet.flatMap((e, i) => {
    const id = (e.uid as { id: string }).id;
    const other = (fleet[(i + 2) % fleet.length]!.uid as { id: string }).id;
    return probesFor({ id, segment: String(e.attrs?.segment ?? '') }, other);
  });
  for (const [id, p] of Object.entries(set.policies)) {
    const json = p as { effect: string; principal: { op: string }; resource: { op: string }; conditions?: unknown[] };
    if (json.effect !== 'permit') continue;
    const src = set.sources[id] ?? '';
    const noConditions = (json.conditions ?? []).length === 0;
    if (json.principal.op === 'All' && json.resource.op === 'All') {
      findings.push({ policy: id, kind: 'any-principal-any-resource', severity: noConditions ? 'high' : 'medium', message: `permits any principal on any resource${noConditions ? ' with no condition' : ''}` });
    }
    const connectOnly = /action\s*==\s*Action::"connect"/.test(src);
    // Scoped to the device itself (`owner == principal`) or to one principal is narrow enough.
    if (!connectOnly && json.principal.op !== '==' && !/\.(type|segment)\b|\bSegment::|\bin\s+Segment|principal\s+in\s|owner\s*==\s*principal/.test(src)) {
      findings.push({ policy: id, kind: 'no-segment-or-type-condition', severity: 'medium', message: 'permits without any device type or segment condition: every device in the fleet gets it' });
    }
    // Semantic probes, this policy alone.
    const alone = compilePolicySet({ [id]: p });
    const wild = probes.filter((r) => r.topic === '#' || r.topic === 'broadcast').filter((r) => isAuthorized(toCedarRequest(r), alone, store).decision === 'allow');
    if (wild.length > 0) {
      findings.push({ policy: id, kind: 'wildcard-topic-access', severity: 'high', message: `lets devices ${[...new Set(wild.map((r) => `${r.action} ${r.topic}`))].join(', ')} (e.g. ${wild[0]!.principal})` });
    }
    const cross = probes.filter((r) => r.topic !== undefined && /^devices\//.test(r.topic) && !r.topic.startsWith(`devices/${r.principal}/`))
      .filter((r) => isAuthorized(toCedarRequest(r), alone, store).decision === 'allow');
    if (cross.length > 0) {
      findings.push({ policy: id, kind: 'cross-device-access', severity: 'high', message: `lets a device reach another device's namespace (e.g. ${cross[0]!.principal} ${cross[0]!.action} ${cross[0]!.topic})` });
    }
    // Shadowed: wherever it would allow on its own, the whole set still denies.
    const allowsAlone = probes.filter((r) => isAuthorized(toCedarRequest(r), alone, store).decision === 'allow');
    if (allowsAlone.length > 0) {
      const denied = allowsAlone.map((r) => isAuthorized(toCedarRequest(r), set.compiled, store)).filter((d) => d.decision === 'deny');
      if (denied.length === allowsAlone.length) {
        const by = [...new Set(denied.flatMap((d) => d.determining))];
        findings.push({ policy: id, kind: 'shadowed-by-forbid', severity: 'low', message: `never takes effect on the probed requests: ${by.length > 0 ? `forbid ${by.join(', ')} overrides it` : 'a forbid overrides it'}` });
      }
    }
  }
  return findings;
}
