/**
 * Playbooks: declarative, graduated response. A playbook is strict JSON (unknown keys refused) with
 * a blast-radius guard and an ordered ladder of steps; each step names one action and the
 * conditions under which it applies. The engine picks the most severe step whose conditions all
 * hold and that goes beyond what the device already has: responses only escalate automatically.
 */
import { z } from 'zod';
import { ZetaError } from '../common/errors.js';

/**
 * The one registry of response actions, least to most severe. `undoable: false` means the action
 * cannot be taken back (a revoked certificate stays on the CRL); such steps need an operator's
 * approval unless the playbook explicitly says otherwise.
 */
export const ACTIONS = {
  alert: { rank: 0, undoable: true, describe: 'notify only (sinks and the API); nothing changes on the device' },
  restrict: { rank: 1, undoable: true, describe: `tag the device ${'`zeta:read-only`'}: the base policy forbids it to publish; it may still subscribe` },
  quarantine: { rank: 2, undoable: true, describe: 'device state quarantined: the gateway cuts its sessions and netd moves its addresses to the quarantine segment' },
  suspend: { rank: 3, undoable: true, describe: 'device state suspended: its credentials are refused at the gateway, EST and the API' },
  revoke: { rank: 4, undoable: false, describe: 'revoke every certificate of the device (keyCompromise); NOT undoable, the device must re-enroll' },
} as const;
export type ActionName = keyof typeof ACTIONS;
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];

/** The tag the shipped base policy reads (`forbid-publish-when-read-only` in templates/base.cedar). */
export const READ_ONLY_TAG = 'zeta:read-only';

export const SEVERITIES = ['low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 0, medium: 1, high: 2 };

const ident = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" or "-"');

const conditionSchema = z.strictObject({
  /** The device's trust score (0..100) is below this. */
  trustBelow: z.number().min(0).max(100).optional(),
  /** The alert's rule id is one of these (monitor rule ids, `attestation-failed`, `trust-drop`). */
  rules: z.array(z.string().min(1).max(64)).min(1).max(64).optional(),
  severityAtLeast: z.enum(SEVERITIES).optional(),
  deviceTypes: z.array(z.string().min(1).max(32)).min(1).max(64).optional(),
  segments: z.array(z.string().min(1).max(63)).min(1).max(256).optional(),
  /** The device's attestation failed (posture), or the input is an attestation failure. */
  attestationFailed: z.boolean().optional(),
  /** At least `count` alerts for this device within `withinMinutes` (this one included). */
  repeat: z.strictObject({ count: z.number().int().min(1).max(1000), withinMinutes: z.number().int().min(1).max(10_080) }).optional(),
});
export type Condition = z.infer<typeof conditionSchema>;

const stepSchema = z.strictObject({
  id: ident,
  action: z.enum(ACTION_NAMES as [ActionName, ...ActionName[]]),
  when: conditionSchema,
  /** `required`: always wait for an operator. Default: `auto`, except for revoke (required). */
  approval: z.enum(['auto', 'required']).optional(),
  description: z.string().max(500).optional(),
});
export type Step = z.infer<typeof stepSchema>;

export const playbookSchema = z.strictObject({
  name: ident,
  description: z.string().max(1000).optional(),
  enabled: z.boolean().default(true),
  /**
   * Blast-radius guard: automatic actions on more than `maxDevices` distinct devices, or on more
   * than `maxSegmentPercent` % of a segment (segments of at least `segmentMinDevices`), within
   * `windowMinutes` wait as pending for an operator.
   */
  guard: z.strictObject({
    maxDevices: z.number().int().min(0).max(100_000),
    maxSegmentPercent: z.number().min(0).max(100),
    segmentMinDevices: z.number().int().min(1).max(1_000_000).default(4),
    windowMinutes: z.number().int().min(1).max(10_080),
  }),
  steps: z.array(stepSchema).min(1).max(32),
}).superRefine((p, ctx) => {
  const seen = new Set<string>();
  p.steps.forEach((s, i) => {
    if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `duplicate step id ${s.id}` });
    seen.add(s.id);
    if (Object.keys(s.when).length === 0) ctx.addIssue({ code: 'custom', path: ['steps', i, 'when'], message: 'a step needs at least one condition (an empty one would act on every alert)' });
  });
});
export type Playbook = z.infer<typeof playbookSchema>;

/** Parses and validates a playbook; ZETA_ERR_PLAYBOOK_INVALID lists every problem. */
export function parsePlaybook(input: unknown): Playbook {
  const r = playbookSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(playbook)'}: ${i.message}`);
    throw new ZetaError('ZETA_ERR_PLAYBOOK_INVALID', problems.join('; '), { fields: { problems } });
  }
  return r.data;
}

/** Whether a step waits for an operator whatever the guard says. */
export function needsApproval(step: Step): boolean {
  return (step.approval ?? (ACTIONS[step.action].undoable ? 'auto' : 'required')) === 'required';
}

/**
 * The shipped playbook. Severe, unambiguous attacks (scanning, lateral movement, cloned identity,
 * brute force) quarantine at once; weaker evidence first restricts publishing; failed attestation
 * suspends; revoke is offered only for a repeated cloned identity and always waits for approval.
 */
export const DEFAULT_PLAYBOOK: Playbook = parsePlaybook({
  name: 'default',
  description: 'Shipped graduated response: restrict → quarantine → suspend → revoke (approval).',
  guard: { maxDevices: 10, maxSegmentPercent: 25, segmentMinDevices: 4, windowMinutes: 60 },
  steps: [
    { id: 'notify', action: 'alert', when: { severityAtLeast: 'low' }, description: 'every alert reaches the sinks' },
    { id: 'restrict-low-trust', action: 'restrict', when: { trustBelow: 60 }, description: 'trust below 60: read-only' },
    { id: 'restrict-repeat', action: 'restrict', when: { severityAtLeast: 'medium', repeat: { count: 3, withinMinutes: 30 } } },
    {
      id: 'quarantine-attack', action: 'quarantine',
      when: { severityAtLeast: 'high', rules: ['fan-out-hosts', 'fan-out-ports', 'cross-segment', 'auth-failure-burst', 'duplicate-identity', 'beacon'] },
      description: 'scanning, lateral movement, brute force, cloned identity, C2: quarantine',
    },
    { id: 'quarantine-low-trust', action: 'quarantine', when: { trustBelow: 30 } },
    // Quarantine, not suspend: the device keeps its credentials, so it can re-attest once its firmware
    // is restored, while the gateway and netd hold it in the quarantine segment.
    { id: 'quarantine-attestation', action: 'quarantine', when: { attestationFailed: true }, description: 'firmware or boot state does not match: quarantine until it attests again' },
    { id: 'revoke-clone', action: 'revoke', when: { rules: ['duplicate-identity'], repeat: { count: 2, withinMinutes: 60 } }, approval: 'required', description: 'a cloned certificate seen twice: revoke (operator approves)' },
  ],
});

/** What a step is judged against. */
export interface ResponseInput {
  rule: string;
  severity: Severity;
  trustScore: number | null;
  deviceType: string;
  segment: string | null;
  attestationFailed: boolean;
  /** Alerts for this device in the repeat window of the step being judged. */
  repeatCount: (withinMinutes: number) => number;
}

/** Which conditions of a step hold (all must). Returns the reasons, or undefined if one fails. */
export function matchStep(step: Step, input: ResponseInput): string[] | undefined {
  const w = step.when;
  const why: string[] = [];
  if (w.trustBelow !== undefined) {
    if (input.trustScore === null || !(input.trustScore < w.trustBelow)) return undefined;
    why.push(`trust ${input.trustScore} < ${w.trustBelow}`);
  }
  if (w.rules !== undefined) {
    if (!w.rules.includes(input.rule)) return undefined;
    why.push(`rule ${input.rule}`);
  }
  if (w.severityAtLeast !== undefined) {
    if (SEVERITY_RANK[input.severity] < SEVERITY_RANK[w.severityAtLeast]) return undefined;
    why.push(`severity ${input.severity} ≥ ${w.severityAtLeast}`);
  }
  if (w.deviceTypes !== undefined) {
    if (!w.deviceTypes.includes(input.deviceType)) return undefined;
    why.push(`type ${input.deviceType}`);
  }
  if (w.segments !== undefined) {
    if (input.segment === null || !w.segments.includes(input.segment)) return undefined;
    why.push(`segment ${input.segment}`);
  }
  if (w.attestationFailed !== undefined) {
    if (input.attestationFailed !== w.attestationFailed) return undefined;
    why.push(w.attestationFailed ? 'attestation failed' : 'attestation not failed');
  }
  if (w.repeat !== undefined) {
    const n = input.repeatCount(w.repeat.withinMinutes);
    if (n < w.repeat.count) return undefined;
    why.push(`${n} alerts in ${w.repeat.withinMinutes} min ≥ ${w.repeat.count}`);
  }
  return why;
}
