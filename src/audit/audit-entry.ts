/**
 * The shape of one audit entry and its hash. Everything here is pure so an exported log can be
 * re-checked anywhere: hash = SHA-256(prev_hash + "\n" + canonicalJson(body)), where body is the
 * entry without prev_hash and hash, and the first entry's prev_hash is GENESIS_HASH.
 */
import { createHash } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import type { AuditRow } from '../store/index.js';
import { canonicalJson } from './canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);

export const AUDIT_OUTCOMES = ['ok', 'refused', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Bounds on what one entry may hold. An entry over a bound is refused, never truncated. */
export const AUDIT_LIMITS = {
  actorChars: 256,
  actionChars: 128,
  subjectChars: 512,
  /** UTF-8 bytes of canonicalJson(details). */
  detailsBytes: 16 * 1024,
} as const;

export interface AuditEvent {
  actor: string;
  action: string;
  outcome?: AuditOutcome;
  subject?: string | null;
  details?: Record<string, unknown>;
}

/** What the hash covers. */
export interface AuditEntryBody {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  /** As stored; only the values in AUDIT_OUTCOMES are ever written. */
  outcome: string;
  subject: string | null;
  details: Record<string, unknown>;
}

/** One entry as list() returns it and export() writes it (one JSON line each). */
export interface AuditEntry extends AuditEntryBody {
  prev_hash: string;
  hash: string;
}

export function computeEntryHash(prevHash: string, body: AuditEntryBody): string {
  return sha256Hex(`${prevHash}\n${canonicalJson(bodyOf(body))}`);
}

/** Exactly the seven body fields, so extra properties on an AuditEntry never reach the hash. */
export function bodyOf(e: AuditEntryBody): AuditEntryBody {
  return { seq: e.seq, ts: e.ts, actor: e.actor, action: e.action, outcome: e.outcome, subject: e.subject, details: e.details };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Validates an event before anything is written (size → structure; nothing is clipped).
 * Returns the normalized fields and the canonical details text that will be stored.
 */
export function normalizeEvent(event: AuditEvent): {
  actor: string;
  action: string;
  outcome: AuditOutcome;
  subject: string | null;
  details: Record<string, unknown>;
  detailsJson: string;
} {
  const e = event as Partial<Record<keyof AuditEvent, unknown>>;
  const actor = boundedString(e.actor, 'actor', AUDIT_LIMITS.actorChars);
  const action = boundedString(e.action, 'action', AUDIT_LIMITS.actionChars);
  const outcome = e.outcome ?? 'ok';
  if (typeof outcome !== 'string' || !(AUDIT_OUTCOMES as readonly string[]).includes(outcome)) {
    throw invalid('outcome', `audit outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  }
  const subject = e.subject === undefined || e.subject === null ? null : boundedString(e.subject, 'subject', AUDIT_LIMITS.subjectChars);
  const details = e.details ?? {};
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    throw invalid('details', 'audit details must be a JSON object');
  }
  const detailsJson = canonicalJson(details);
  const bytes = Buffer.byteLength(detailsJson, 'utf8');
  if (bytes > AUDIT_LIMITS.detailsBytes) {
    throw new ZetaError(
      'ZETA_ERR_VALIDATION',
      `audit details are ${bytes} bytes of canonical JSON; the limit is ${AUDIT_LIMITS.detailsBytes} (entries are never truncated)`,
      { fields: { field: 'details', bytes, limit: AUDIT_LIMITS.detailsBytes } },
    );
  }
  // Stored and hashed from the same canonical text, so a read-back parses to the hashed value.
  return { actor, action, outcome: outcome as AuditOutcome, subject, details: JSON.parse(detailsJson) as Record<string, unknown>, detailsJson };
}

function boundedString(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0) throw invalid(field, `audit ${field} must be a non-empty string`);
  if (v.length > max) throw invalid(field, `audit ${field} is ${v.length} characters; the limit is ${max}`);
  return v;
}

function invalid(field: string, message: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', message, { fields: { field } });
}

/** The stored details text as an object, or null if it is not a JSON object (only by tampering). */
export function parseDetails(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Hashes a stored row as if its seq were `seq`. The verifier calls this with other candidate seqs
 * to recognise intact entries that were renumbered or moved; the canonical text is built once.
 * Keys in canonical order: action, actor, details, outcome, seq, subject, ts.
 */
export function rowHasher(row: AuditRow): ((seq: number) => string) | null {
  const details = parseDetails(row.details);
  if (details === null) return null;
  let head: string;
  let tail: string;
  try {
    head = `${row.prev_hash}\n{"action":${canonicalJson(row.action)},"actor":${canonicalJson(row.actor)},"details":${canonicalJson(details)},"outcome":${canonicalJson(row.outcome)},"seq":`;
    tail = `,"subject":${canonicalJson(row.subject)},"ts":${canonicalJson(row.ts)}}`;
  } catch {
    return null; // a tampered value that is not canonicalizable cannot match any hash we wrote
  }
  return (seq) => sha256Hex(`${head}${seq}${tail}`);
}

export function rowToEntry(row: AuditRow, details: Record<string, unknown>): AuditEntry {
  return {
    seq: row.seq,
    ts: row.ts,
    actor: row.actor,
    action: row.action,
    outcome: row.outcome,
    subject: row.subject,
    details,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}
