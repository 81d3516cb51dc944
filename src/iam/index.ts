/**
 * iam: operator identity and access — accounts (argon2id + TOTP / passkeys + recovery codes),
 * the login flow, DB-backed sessions, lockout, approvals. Authorization decisions are made by the
 * Cedar engine in src/policy (wired in src/api/authz.ts); this component supplies who is asking.
 */
export { Iam } from './iam.js';
export { ROLES, PERMISSIONS, DEVICE_PERMISSIONS, isRole, isPermission, isUnscoped, type Role, type Permission, type OperatorScope, type OperatorInfo, type Principal } from './model.js';
export { Operators, normalizeUsername, USERNAME_PATTERN, RECOVERY_CODE_COUNT, type NewOperator, type ScopeInput } from './operators.js';
export { Sessions, PRE_AUTH_MINUTES, type SessionRow, type SessionStage } from './sessions.js';
export { Authenticator, type LoginStep, type SessionGrant, type MfaMethod } from './authenticator.js';
export { Approvals, APPROVAL_ACTIONS, type Approval, type ApprovalAction, type Requester } from './approvals.js';
export { SecretBox, IAM_KEY_FILE } from './secret-box.js';
export { totpCode, verifyTotp } from './totp.js';
export { checkPasswordPolicy } from './passwords.js';
