/**
 * The device record and its lifecycle. One table of allowed transitions; everything else is refused.
 *
 *   registered ──enroll──► active ──► suspended / quarantined ──resume──► active
 *        │                   │                 │
 *        └───────────────────┴─────────────────┴──► revoked ──► decommissioned
 */
import { z } from 'zod';
import { ID_PATTERN } from '../common/ids.js';

export const DEVICE_STATES = ['registered', 'active', 'suspended', 'quarantined', 'revoked', 'decommissioned'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** Well-known types get templates in later work; any other lower-case type is accepted as "another". */
export const KNOWN_DEVICE_TYPES = ['camera', 'thermostat', 'lock', 'plc', 'sensor', 'gateway'] as const;

export const TRANSITIONS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  registered: ['active', 'suspended', 'quarantined', 'revoked', 'decommissioned'],
  active: ['suspended', 'quarantined', 'revoked', 'decommissioned'],
  suspended: ['active', 'registered', 'quarantined', 'revoked', 'decommissioned'],
  quarantined: ['active', 'registered', 'suspended', 'revoked', 'decommissioned'],
  revoked: ['decommissioned'],
  decommissioned: [],
};

export function canTransition(from: DeviceState, to: DeviceState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States in which a device may hold and use a certificate. */
export const CONNECTABLE_STATES: readonly DeviceState[] = ['active'];
/** States in which a device may enroll or renew. Quarantined devices may renew (they stay identifiable). */
export const ENROLLABLE_STATES: readonly DeviceState[] = ['registered', 'active', 'quarantined'];

/** Bounds and patterns of a device record; the schema below and the bulk-import validator share them. */
export const DEVICE_INPUT_LIMITS = { labelChars: 128, tagChars: 64, tags: 32 } as const;
export const DEVICE_TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
export const SEGMENT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const label = z.string().trim().min(1).max(DEVICE_INPUT_LIMITS.labelChars);
const optionalLabel = z.string().trim().min(1).max(DEVICE_INPUT_LIMITS.labelChars).nullable().optional();
const segmentName = z.string().regex(SEGMENT_PATTERN, 'segment: lower-case letters, digits, ".", "_" or "-"');

export const deviceInputSchema = z.strictObject({
  id: z.string().regex(ID_PATTERN, 'id: 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit').optional(),
  name: label,
  type: z.string().regex(DEVICE_TYPE_PATTERN, 'type: lower-case word such as camera, thermostat, lock, plc, sensor, gateway'),
  vendor: optionalLabel,
  model: optionalLabel,
  firmware: optionalLabel,
  owner: optionalLabel,
  site: optionalLabel,
  segment: segmentName.nullable().optional(),
  tags: z.array(z.string().trim().min(1).max(DEVICE_INPUT_LIMITS.tagChars)).max(DEVICE_INPUT_LIMITS.tags).optional(),
});
export type DeviceInput = z.infer<typeof deviceInputSchema>;

export const deviceUpdateSchema = deviceInputSchema.omit({ id: true }).partial();
export type DeviceUpdateInput = z.infer<typeof deviceUpdateSchema>;

export interface DeviceCertificateInfo {
  serial: string;
  fingerprintSha256: string;
  notAfter: string;
}

export interface Device {
  id: string;
  name: string;
  type: string;
  vendor: string | null;
  model: string | null;
  firmware: string | null;
  owner: string | null;
  site: string | null;
  segment: string | null;
  tags: string[];
  state: DeviceState;
  certificate: DeviceCertificateInfo | null;
  lastSeen: string | null;
  posture: Record<string, unknown>;
  /** 0-100 from the monitor's trust score; null until first computed. */
  trustScore: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeviceFilter {
  type?: string;
  segment?: string;
  state?: DeviceState;
  site?: string;
  /** Devices whose current certificate expires within this many days of now. */
  expiringWithinDays?: number;
  /** Substring of id or name. */
  q?: string;
  /** Sort column (DEVICE_SORT_KEYS); ties are broken by id so paging is stable. Default id. */
  sort?: DeviceSortKey;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

/** Columns the inventory may be sorted by: each is indexed or cheap on a filtered set. */
export const DEVICE_SORT_KEYS = ['id', 'name', 'type', 'state', 'segment', 'site', 'lastSeen'] as const;
export type DeviceSortKey = (typeof DEVICE_SORT_KEYS)[number];

/** Newest trust-score rows kept per device (the device page's chart reads them). */
export const TRUST_HISTORY_PER_DEVICE = 500;

export interface TrustPoint {
  at: string;
  score: number;
  factors: Record<string, unknown>;
}
