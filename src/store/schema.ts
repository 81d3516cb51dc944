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
  /** Personal token: the owning operator (null for a role token). */
  operator_id: string | null;
  /** JSON array of permissions the token is limited to (null: all of its role's or owner's). */
  scopes: string | null;
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

export interface OperatorsTable {
  id: string;
  username: string;
  display_name: string;
  /** admin | secops | devops | auditor */
  role: string;
  /** JSON {sites: string[], segments: string[]}; empty lists mean unscoped */
  scope: string;
  /** argon2id PHC string; null for single-sign-on-only accounts */
  password_hash: string | null;
  /** Sealed (src/iam/secret-box.ts) base32 TOTP secret */
  totp_secret: string | null;
  /** Sealed secret of an enrolment not yet confirmed by a code */
  totp_pending: string | null;
  /** RFC 6238 time step of the last accepted code (replay guard) */
  totp_last_step: number | null;
  oidc_issuer: string | null;
  oidc_subject: string | null;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface RecoveryCodesTable {
  code_hash: string;
  operator_id: string;
  used_at: string | null;
  created_at: string;
}

export interface WebauthnCredentialsTable {
  /** credential id, base64url */
  id: string;
  operator_id: string;
  /** COSE public key, base64url */
  public_key: string;
  counter: number;
  transports: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

export interface SessionsTable {
  id_hash: string;
  operator_id: string;
  /** mfa | enroll (pre-authentication) | full */
  stage: string;
  csrf_token: string;
  /** Pending WebAuthn challenge (base64url) */
  challenge: string | null;
  address: string;
  created_at: string;
  last_seen_at: string;
  /** Absolute expiry */
  expires_at: string;
  step_up_until: string | null;
}

export interface LoginFailuresTable {
  /** lower-cased, as typed (the account need not exist) */
  username: string;
  failures: number;
  first_at: string;
  locked_until: string | null;
}

export interface ApprovalsTable {
  id: string;
  /** policyApply | caRotate */
  action: string;
  /** JSON */
  payload: string;
  /** pending | approved | rejected | failed */
  state: string;
  requested_by: string;
  requested_at: string;
  decided_by: string | null;
  decided_at: string | null;
  result: string | null;
}

export interface AttestReferencesTable {
  ref_key: string;
  device_id: string | null;
  model: string;
  firmware_version: string;
  /** registered | imported | tofu */
  source: string;
  /** ReferenceValues as JSON */
  body: string;
  created_by: string;
  created_at: string;
}

export interface AttestKeysTable {
  device_id: string;
  /** tpm | software */
  method: string;
  ak_name: string | null;
  /** TPM: TPM2B/TPMT_PUBLIC base64; software: SPKI PEM */
  ak_public: string;
  ek_name: string | null;
  /** EkTrust as JSON */
  ek_trust: string | null;
  /** The device certificate presented over mTLS when the key was bound. */
  cert_serial: string | null;
  bound_at: string;
}

export interface AttestResultsTable {
  id: string;
  device_id: string;
  /** verified | failed | unknown */
  status: string;
  reason: string | null;
  detail: string | null;
  /** tpm | software */
  method: string;
  weaker: number;
  reference: string | null;
  at: string;
  /** 1, 2, ... per device, in the order the results were recorded */
  seq: number;
}

export interface AttestDueTable {
  device_id: string;
  requested_by: string;
  requested_at: string;
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
  operators: OperatorsTable;
  recovery_codes: RecoveryCodesTable;
  webauthn_credentials: WebauthnCredentialsTable;
  sessions: SessionsTable;
  login_failures: LoginFailuresTable;
  approvals: ApprovalsTable;
  alerts: AlertsTable;
  response_actions: ResponseActionsTable;
  playbooks: PlaybooksTable;
  attest_references: AttestReferencesTable;
  attest_keys: AttestKeysTable;
  attest_results: AttestResultsTable;
  attest_due: AttestDueTable;
  trust_history: TrustHistoryTable;
}

export type DeviceRow = Selectable<DevicesTable>;
export type NewDeviceRow = Insertable<DevicesTable>;
export type DeviceUpdate = Updateable<DevicesTable>;
export type CertificateRow = Selectable<CertificatesTable>;
export type CaRow = Selectable<CasTable>;
export type AuditRow = Selectable<AuditLogTable>;
export type ChangeRow = Selectable<ChangesTable>;

/** Persisted alerts (src/response). `explanation` is the monitor's alert as JSON (observed, baseline, features). */
export interface AlertsTable {
  id: string;
  ts: string;
  device_id: string | null;
  key: string;
  rule: string;
  /** low | medium | high */
  severity: string;
  score: number;
  summary: string;
  explanation: string;
  /** open | acknowledged | resolved */
  state: string;
  updated_by: string | null;
  updated_at: string | null;
  note: string | null;
}

/** Response actions (src/response). `previous` (JSON) is the device state and tags undo restores. */
export interface ResponseActionsTable {
  id: string;
  ts: string;
  device_id: string;
  segment: string | null;
  /** restrict | quarantine | suspend | revoke */
  action: string;
  /** applied | pending | rejected | undone | failed */
  status: string;
  /** 1 when the engine applied it without an operator (counts toward the blast-radius guard). */
  automatic: number;
  playbook: string;
  playbook_version: number;
  step: string;
  alert_id: string | null;
  reason: string;
  previous: string;
  actor: string;
  decided_by: string | null;
  decided_at: string | null;
}

export interface PlaybooksTable {
  name: string;
  version: number;
  body: string;
  actor: string;
  created_at: string;
}

export type AlertRow = Selectable<AlertsTable>;
export type ResponseActionRow = Selectable<ResponseActionsTable>;
