/**
 * The IAM vocabulary: roles, permissions (the Cedar admin-API actions, one per kind of route) and
 * the operator as the API sees it. The default role policy that maps one to the other is Cedar
 * text in src/policy/operator-policies.cedar, decided by the same engine as device requests.
 */
export const ROLES = ['admin', 'secops', 'devops', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Every permission is a Cedar action in src/policy/zeta.cedarschema. Device permissions act on one
 * Device (scope applies); the rest act on the Fleet.
 */
export const PERMISSIONS = [
  'viewFleet', 'viewDevice', 'manageDevice', 'quarantineDevice', 'revokeDevice', 'decommissionDevice',
  'importDevices', 'readAudit', 'applyPolicy', 'manageSegments', 'rotateCa', 'manageAccess', 'approve', 'ingest',
] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const DEVICE_PERMISSIONS: readonly Permission[] = ['viewDevice', 'manageDevice', 'quarantineDevice', 'revokeDevice', 'decommissionDevice'];

export interface OperatorScope {
  /** Empty: every site. */
  sites: string[];
  /** Empty: every segment. */
  segments: string[];
}

export interface OperatorInfo {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  scope: OperatorScope;
  disabled: boolean;
  mfa: { totp: boolean; passkeys: number };
  sso: { issuer: string; subject: string } | null;
  createdAt: string;
}

/**
 * Who is calling, after authentication: an operator through a session, an operator's personal
 * token (limited to its scopes), or a role token (the first-version tokens, `zeta init`'s).
 */
export interface Principal {
  kind: 'session' | 'personal-token' | 'role-token';
  /** Audit actor: `operator:<username>` or `token:<id>`. */
  actor: string;
  /** Operator id, or `token:<id>` for a role token (separation of duties compares these). */
  subjectId: string;
  role: Role;
  scope: OperatorScope;
  /** A token's scopes; undefined means every permission the role grants. */
  scopes?: readonly Permission[];
  operator?: OperatorInfo;
  tokenId?: string;
  sessionCsrf?: string;
  stepUpUntil?: string | null;
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

export function isPermission(v: unknown): v is Permission {
  return typeof v === 'string' && (PERMISSIONS as readonly string[]).includes(v);
}

export function isUnscoped(s: OperatorScope): boolean {
  return s.sites.length === 0 && s.segments.length === 0;
}
