/**
 * The one registry of detection rules and models (STYLE.md: one registry knows the set). Every alert
 * carries one of these ids; the README table is generated from the same facts by hand, and
 * rules.test.ts checks that each id is documented there.
 */

/** Cohort-context classes: a per-device alert of a dampable class is held back when a large share of the cohort shows the same thing at once. */
export type DampClass = 'failures' | 'flapping' | 'rate' | 'model' | 'telemetry' | 'adoption';

export interface RuleSpec {
  readonly family: 'rule' | 'model';
  readonly signal: 'flow' | 'gateway' | 'telemetry';
  readonly severity: 'low' | 'medium' | 'high';
  /** `null`: never damped by cohort context (a cohort-wide occurrence is itself an attack signal). */
  readonly damp: DampClass | null;
  /** How long a raised alert waits for cohort context before it is released (event time). */
  readonly holdMs: number;
  readonly describe: string;
}

export const RULES = {
  'refused-connect-burst': { family: 'rule', signal: 'flow', severity: 'medium', damp: 'failures', holdMs: 20_000, describe: 'Many refused or unanswered connection attempts (Zeek REJ/S0/RSTOS0/SH/SHR/RSTRH) in 60 s, most of the device\'s connections.' },
  'auth-failure-burst': { family: 'rule', signal: 'flow', severity: 'high', damp: 'failures', holdMs: 10_000, describe: 'A burst of short login-service connections (ssh, telnet, ftp, rdp, vnc) in 60 s, or of refused MQTT connects / denied publishes and subscribes at the gateway.' },
  'connect-flapping': { family: 'rule', signal: 'gateway', severity: 'low', damp: 'flapping', holdMs: 30_000, describe: 'The device reconnects over and over (decayed connect count, 5 min time constant).' },
  'new-topic': { family: 'rule', signal: 'gateway', severity: 'medium', damp: 'adoption', holdMs: 300_000, describe: 'A topic pattern never seen for the cohort (device id and numbers folded) once the cohort has learnt its topics.' },
  'fan-out-hosts': { family: 'rule', signal: 'flow', severity: 'high', damp: null, holdMs: 0, describe: 'Connections to many distinct hosts in 60 s, far above the cohort (horizontal scan, worm spread).' },
  'fan-out-ports': { family: 'rule', signal: 'flow', severity: 'high', damp: null, holdMs: 0, describe: 'Connections to many distinct ports in 60 s, far above the cohort (vertical scan).' },
  'cross-segment': { family: 'rule', signal: 'flow', severity: 'high', damp: null, holdMs: 0, describe: 'Traffic toward another internal segment that the cohort never talks to (lateral movement).' },
  'rate-spike': { family: 'rule', signal: 'flow', severity: 'medium', damp: 'rate', holdMs: 15_000, describe: 'Connection, message or outbound byte rate in 60 s far above the device baseline (the cohort baseline while the device is new): flood, exfiltration.' },
  'duplicate-identity': { family: 'rule', signal: 'gateway', severity: 'high', damp: null, holdMs: 0, describe: 'One device identity used from two client addresses at once (cloned certificate).' },
  'attestation-mismatch': { family: 'rule', signal: 'gateway', severity: 'high', damp: null, holdMs: 0, describe: 'The attestation verifier found measurements that match no reference value (firmware tampering); reported as an `attestation_failed` event.' },
  'beacon': { family: 'rule', signal: 'flow', severity: 'high', damp: 'adoption', holdMs: 20_000, describe: 'Periodic connections (low inter-arrival variance) to a destination the cohort does not use (C2 beaconing).' },
  'hst': { family: 'model', signal: 'flow', severity: 'medium', damp: 'model', holdMs: 20_000, describe: 'Half-Space Trees over per-device 10 s window features (flows or gateway events), against the cohort\'s reference window.' },
  'telemetry-zscore': { family: 'model', signal: 'telemetry', severity: 'medium', damp: 'telemetry', holdMs: 30_000, describe: 'Robust z-score of a telemetry value against the device\'s usual offset from its cohort at the same moment.' },
  'telemetry-drift': { family: 'model', signal: 'telemetry', severity: 'medium', damp: 'telemetry', holdMs: 30_000, describe: 'CUSUM of the same residual: a slow, persistent drift away from the cohort.' },
} as const satisfies Record<string, RuleSpec>;

export type RuleId = keyof typeof RULES;
export const RULE_IDS = Object.keys(RULES) as RuleId[];
export const RULE_INDEX: Readonly<Record<RuleId, number>> = Object.fromEntries(RULE_IDS.map((r, i) => [r, i])) as Record<RuleId, number>;

export interface FeatureContribution {
  readonly name: string;
  readonly observed: number;
  readonly baseline: number;
  /** Robust z of the observed value against the cohort's usual value of this feature. */
  readonly z: number;
}

/** A per-device (or per-host) alert. Everything an operator needs to judge it is in here. */
export interface Alert {
  readonly level: 'device';
  readonly id: string;
  readonly at: string;
  readonly atMs: number;
  readonly key: string;
  readonly cohort: string;
  readonly rule: RuleId;
  readonly family: 'rule' | 'model';
  readonly severity: 'low' | 'medium' | 'high';
  readonly score: number;
  readonly summary: string;
  readonly observed: Readonly<Record<string, number | string>>;
  readonly baseline: Readonly<Record<string, number | string>>;
  readonly features?: readonly FeatureContribution[];
  /** Share of the cohort showing the same class of anomaly when the alert was released. */
  readonly cohortShare?: number;
}

/** One cohort-level notice in place of many damped per-device alerts. */
export interface CohortNotice {
  readonly level: 'cohort';
  readonly id: string;
  readonly at: string;
  readonly atMs: number;
  readonly cohort: string;
  readonly reason: DampClass;
  readonly rule: RuleId;
  readonly share: number;
  readonly devices: number;
  readonly summary: string;
}
