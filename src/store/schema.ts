/**
 * Table types for Kysely. Times are ISO-8601 UTC strings (`Date#toISOString`), which sort and
 * compare correctly as text in both SQLite and PostgreSQL. JSON columns are text.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface CasTable {
  id: string;
  /** root | issuing | ocsp */
  role: string;
  parent_id: string | null;
  cert_pem: string;
  /** Signer reference, e.g. `file:keys/issuing-<id>.key.pem` or `pkcs11:...` */
  key_ref: string;
  /** active | retiring | retired */
  status: string;
  not_before: string;
  not_after: string;
  created_at: string;
}

export interface CertificatesTable {
  serial: string;
  device_id: string;
  issuer_id: string;
  fingerprint_sha256: string;
  spki_sha256: string;
  not_before: string;
  not_after: string;
  cert_pem: string;
  revoked_at: string | null;
  revocation_reason: string | null;
  created_at: string;
}

export interface DevicesTable {
  id: string;
  name: string;
  type: string;
  vendor: string | null;
  model: string | null;
  firmware: string | null;
  owner: string | null;
  site: string | null;
  segment: string | null;
  /** JSON array of strings */
  tags: string;
  /** registered | active | suspended | quarantined | revoked | decommissioned */
  state: string;
  cert_serial: string | null;
  cert_fingerprint: string | null;
  cert_not_after: string | null;
  last_seen: string | null;
  /** JSON object: attestation, trust score and other posture filled by later work */
  posture: string;
  created_at: string;
  updated_at: string;
}

export interface EnrollmentTokensTable {
  token_hash: string;
  device_id: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface ApiTokensTable {
  id: string;
  token_hash: string;
  name: string;
  role: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface AuditLogTable {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  /** ok | refused | error */
  outcome: string;
  subject: string | null;
  /** canonical JSON */
  details: string;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  ts: string;
  hash: string;
  key_id: string;
  signature: string;
}

export interface ChangesTable {
  seq: Generated<number>;
  ts: string;
  kind: string;
  subject: string;
  /** JSON */
  data: string;
}

export interface CrlStateTable {
  issuer_id: string;
  number: number;
  this_update: string;
  next_update: string;
  crl_der_b64: string;
}

export interface PolicySetsTable {
  version: number;
  /** active | shadow | superseded */
  status: string;
  text: string;
  sha256: string;
  actor: string;
  comment: string | null;
  created_at: string;
}

export interface SegmentsTable {
  name: string;
  /** type | function | site | sensitivity | other */
  kind: string;
  description: string | null;
  /** 1 for built-in segments (quarantine), which cannot be removed */
  builtin: number;
  created_at: string;
}

export interface ServicesTable {
  name: string;
  description: string | null;
  /** JSON array of canonical addresses / CIDR prefixes */
  addresses: string;
  dns_name: string | null;
  /** tcp | udp | icmp | any */
  protocol: string;
  /** JSON array of [low, high] destination port ranges */
  ports: string;
  /** remediation | null */
  role: string | null;
  created_at: string;
}

export interface FlowsTable {
  id: string;
  from_segment: string;
  /** Exactly one of to_segment / to_service is set. */
  to_segment: string | null;
  to_service: string | null;
  /** tcp | udp | icmp | any; null = the target service's */
  protocol: string | null;
  /** JSON array of [low, high] destination port ranges */
  ports: string;
  mqtt_topic_prefix: string | null;
  /** one-way | both */
  direction: string;
  from_device_type: string | null;
  to_device_type: string | null;
  description: string | null;
  /** manual | mud:<url> */
  source: string;
  created_at: string;
}

export interface DeviceAddressesTable {
  /** Canonical IPv4/IPv6 address or prefix */
  address: string;
  device_id: string;
  /** 4 | 6 */
  family: number;
  created_at: string;
}

export interface TrustHistoryTable {
  id: Generated<number>;
  device_id: string;
  at: string;
  /** 0..100 */
  score: number;
  /** JSON object of the factors behind the score */
  factors: string;
}

export interface Database {
  cas: CasTable;
  certificates: CertificatesTable;
  devices: DevicesTable;
  enrollment_tokens: EnrollmentTokensTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  changes: ChangesTable;
  crl_state: CrlStateTable;
  policy_sets: PolicySetsTable;
  segments: SegmentsTable;
  services: ServicesTable;
  flows: FlowsTable;
  device_addresses: DeviceAddressesTable;
  trust_history: TrustHistoryTable;
}

export type DeviceRow = Selectable<DevicesTable>;
export type NewDeviceRow = Insertable<DevicesTable>;
export type DeviceUpdate = Updateable<DevicesTable>;
export type CertificateRow = Selectable<CertificatesTable>;
export type CaRow = Selectable<CasTable>;
export type AuditRow = Selectable<AuditLogTable>;
export type ChangeRow = Selectable<ChangesTable>;
