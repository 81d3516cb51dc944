import { z } from 'zod';
import { ZetaError } from '../common/errors.js';
import type { Measurements } from './measurements.js';
import type { HashName } from './tpm-alg.js';

/**
 * Expected measurements for one device model and firmware version (or, under TOFU, for one
 * device). A category left out is not checked; a category present is an allow-list: every
 * measurement the log shows in it must be listed.
 */
export interface ReferenceValues {
  readonly model: string;
  readonly firmwareVersion: string;
  /** PCR bank the digests are in; digests of another bank never match. */
  readonly alg: HashName;
  readonly firmware?: readonly string[];
  readonly bootApplications?: readonly string[];
  readonly ipl?: readonly string[];
  readonly secureBoot?: {
    readonly enabled?: boolean;
    readonly pk?: string;
    readonly kek?: string;
    readonly db?: string;
    readonly dbx?: string;
  };
}

const hex = z.string().regex(/^[0-9a-f]{40,128}$/, 'lower-case hex digest');
/** Reference values of one model + firmware version; the one shape the memory and DB stores take. */
export const referenceValuesSchema = z.strictObject({
  model: z.string().min(1).max(200),
  firmwareVersion: z.string().min(1).max(200),
  alg: z.enum(['sha1', 'sha256', 'sha384', 'sha512']),
  firmware: z.array(hex).max(10000).optional(),
  bootApplications: z.array(hex).max(10000).optional(),
  ipl: z.array(hex).max(10000).optional(),
  secureBoot: z.strictObject({ enabled: z.boolean().optional(), pk: hex.optional(), kek: hex.optional(), db: hex.optional(), dbx: hex.optional() }).optional(),
});
const fileSchema = z.object({ version: z.literal(1), references: z.array(referenceValuesSchema).max(10000), devices: z.record(z.string(), referenceValuesSchema).optional() }).strict();

export type ReferenceSource = 'model' | 'device';

/**
 * Where reference values live. Async so a database-backed store can implement it; the in-memory
 * one below serves tests, the demo and a JSON file.
 */
export interface ReferenceValueStore {
  forModel(model: string, firmwareVersion: string): Promise<ReferenceValues | undefined>;
  forDevice(deviceId: string, model: string, firmwareVersion: string): Promise<ReferenceValues | undefined>;
  /** TOFU: pin a device's first accepted measurements. Refuses to overwrite (never silently re-learn). */
  pinDevice(deviceId: string, ref: ReferenceValues): Promise<void>;
}

function key(model: string, fw: string): string {
  return JSON.stringify([model, fw]);
}

export class MemoryReferenceStore implements ReferenceValueStore {
  readonly #models = new Map<string, ReferenceValues>();
  readonly #devices = new Map<string, ReferenceValues>();

  register(ref: ReferenceValues): void {
    this.#models.set(key(ref.model, ref.firmwareVersion), referenceValuesSchema.parse(ref) as ReferenceValues);
  }

  async forModel(model: string, firmwareVersion: string): Promise<ReferenceValues | undefined> {
    return this.#models.get(key(model, firmwareVersion));
  }

  async forDevice(deviceId: string, model: string, firmwareVersion: string): Promise<ReferenceValues | undefined> {
    const r = this.#devices.get(deviceId);
    return r !== undefined && r.model === model && r.firmwareVersion === firmwareVersion ? r : undefined;
  }

  async pinDevice(deviceId: string, ref: ReferenceValues): Promise<void> {
    const existing = this.#devices.get(deviceId);
    if (existing !== undefined && existing.model === ref.model && existing.firmwareVersion === ref.firmwareVersion) {
      throw new ZetaError('ZETA_ERR_CONFLICT', 'This device already has pinned reference values.');
    }
    this.#devices.set(deviceId, ref);
  }

  /** Forget a device's TOFU reference (operator action after a legitimate change). */
  unpinDevice(deviceId: string): boolean {
    return this.#devices.delete(deviceId);
  }

  toJSON(): unknown {
    return { version: 1, references: [...this.#models.values()], devices: Object.fromEntries(this.#devices) };
  }

  static fromJSON(json: unknown): MemoryReferenceStore {
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new ZetaError('ZETA_ERR_VALIDATION', 'Reference values file not accepted.', { internal: parsed.error.message });
    const s = new MemoryReferenceStore();
    for (const r of parsed.data.references) s.register(r as ReferenceValues);
    for (const [id, r] of Object.entries(parsed.data.devices ?? {})) s.#devices.set(id, r as ReferenceValues);
    return s;
  }
}

/** The reference a TOFU pin records: exactly what this attestation showed. */
export function referenceFromMeasurements(model: string, firmwareVersion: string, m: Measurements): ReferenceValues {
  const sb = m.secureBoot;
  return {
    model,
    firmwareVersion,
    alg: m.alg,
    firmware: [...m.firmware],
    bootApplications: [...m.bootApplications],
    ipl: [...m.ipl],
    secureBoot: {
      ...(sb.enabled === null ? {} : { enabled: sb.enabled }),
      ...(sb.pk === null ? {} : { pk: sb.pk }),
      ...(sb.kek === null ? {} : { kek: sb.kek }),
      ...(sb.db === null ? {} : { db: sb.db }),
      ...(sb.dbx === null ? {} : { dbx: sb.dbx }),
    },
  };
}

/** First measurement not allowed by the reference, or null when all are. */
export function compareMeasurements(m: Measurements, ref: ReferenceValues): string | null {
  if (m.alg !== ref.alg) return `measurements are ${m.alg} digests, the reference values are ${ref.alg}`;
  for (const cat of ['firmware', 'bootApplications', 'ipl'] as const) {
    const allowed = ref[cat];
    if (allowed === undefined) continue;
    const extra = m[cat].find((d) => !allowed.includes(d));
    if (extra !== undefined) return `${cat} measurement ${extra} is not in the reference values`;
  }
  const sb = ref.secureBoot;
  if (sb !== undefined) {
    if (sb.enabled !== undefined && m.secureBoot.enabled !== sb.enabled) return `Secure Boot is ${m.secureBoot.enabled === null ? 'not measured' : m.secureBoot.enabled ? 'on' : 'off'}, the reference expects it ${sb.enabled ? 'on' : 'off'}`;
    for (const v of ['pk', 'kek', 'db', 'dbx'] as const) {
      const want = sb[v];
      if (want !== undefined && m.secureBoot[v] !== want) return `Secure Boot ${v} ${m.secureBoot[v] ?? '(not measured)'} is not the reference ${want}`;
    }
  }
  return null;
}
