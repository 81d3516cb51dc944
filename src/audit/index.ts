/**
 * audit: the tamper-evident activity log (ARCHITECTURE.md, "Activity log"). Other components use
 * only what is exported here.
 */
export { AuditLog, type AuditLogOptions, type AuditCheckpoint, type AuditVerifyReport, type AuditListFilter } from './audit-log.js';
export {
  GENESIS_HASH, AUDIT_LIMITS, AUDIT_OUTCOMES, computeEntryHash,
  type AuditEvent, type AuditEntry, type AuditEntryBody, type AuditOutcome,
} from './audit-entry.js';
export { ensureAuditKey, auditKeyId, checkpointMessage, verifyCheckpointSignature, AUDIT_KEY_FILE, type CheckpointClaim } from './audit-key.js';
export { canonicalJson } from './canonical-json.js';
export type { AuditProblem, AuditProblemKind } from './chain-walker.js';
