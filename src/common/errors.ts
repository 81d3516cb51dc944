/**
 * Every error Zeta reports has a stable `ZETA_ERR_*` code from this one registry. The caller gets a
 * short message (`title` + `detail`) and a request id; the operator's log gets `cause`/`internal`.
 * docs/errors.md lists the same set; test/errors-registry.test.ts keeps the two in step.
 */
export const ERROR_CODES = {
  ZETA_ERR_INTERNAL: { status: 500, title: 'Internal error', hint: 'Retry; if it persists, read the server log for the request id.' },
  ZETA_ERR_CONFIG: { status: 500, title: 'Invalid configuration', hint: 'Fix the named keys in the config file, ZETA_* variables or flags.' },
  ZETA_ERR_VALIDATION: { status: 400, title: 'Invalid request', hint: 'Correct the named fields and send the request again.' },
  ZETA_ERR_NOT_FOUND: { status: 404, title: 'Not found', hint: 'Check the id; `zeta device list` shows what exists.' },
  ZETA_ERR_CONFLICT: { status: 409, title: 'Conflict', hint: 'The object already exists or is in a state that does not allow this.' },
  ZETA_ERR_STATE: { status: 409, title: 'Invalid lifecycle transition', hint: 'See docs/inventory.md for the allowed device state transitions.' },
  ZETA_ERR_UNAUTHENTICATED: { status: 401, title: 'Authentication required', hint: 'Send a valid API token as `Authorization: Bearer <token>`.' },
  ZETA_ERR_FORBIDDEN: { status: 403, title: 'Forbidden', hint: 'Your role does not allow this action; ask an admin.' },
  ZETA_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request too large', hint: 'Send a smaller body; the limit is in the message.' },
  ZETA_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', hint: 'Use the content type the endpoint documents.' },
  ZETA_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests', hint: 'Slow down and retry after the time in Retry-After.' },
  ZETA_ERR_STORE_UNAVAILABLE: { status: 503, title: 'Storage unavailable', hint: 'Check that the database is reachable; the request was not applied.' },
  ZETA_ERR_CA_EXISTS: { status: 409, title: 'A CA already exists here', hint: 'Use another --data directory, or keep the existing CA.' },
  ZETA_ERR_CA_MISSING: { status: 500, title: 'No CA in this data directory', hint: 'Run `zeta init --data DIR` first.' },
  ZETA_ERR_CSR_MALFORMED: { status: 400, title: 'Malformed certificate request', hint: 'Send a base64 DER PKCS#10 request (RFC 7030 §4.2.1).' },
  ZETA_ERR_CSR_SIGNATURE: { status: 400, title: 'Certificate request signature invalid', hint: 'Sign the CSR with the key it carries (proof of possession).' },
  ZETA_ERR_KEY_REFUSED: { status: 400, title: 'Key type not allowed', hint: 'Use an ECDSA P-256 or P-384, or an Ed25519 key.' },
  ZETA_ERR_TOKEN_INVALID: { status: 401, title: 'Enrollment token not accepted', hint: 'Ask an operator for a new enrollment token for this device.' },
  ZETA_ERR_CERT_INVALID: { status: 401, title: 'Client certificate not accepted', hint: 'Re-enroll with a new token if the certificate is revoked or expired.' },
  ZETA_ERR_DEVICE_STATE: { status: 403, title: 'Device state does not allow this', hint: 'Resume or re-register the device first.' },
  ZETA_ERR_ISSUANCE: { status: 500, title: 'Certificate issuance failed', hint: 'Read the server log; nothing was issued.' },
  ZETA_ERR_OCSP_MALFORMED: { status: 400, title: 'Malformed OCSP request', hint: 'Send a DER OCSPRequest (RFC 6960 §4.1).' },
  ZETA_ERR_AUDIT_BROKEN: { status: 500, title: 'Audit chain verification failed', hint: 'Run `zeta audit verify` and investigate the reported entries.' },
  ZETA_ERR_IMPORT: { status: 400, title: 'Import refused', hint: 'Fix the reported rows; nothing was imported.' },
  ZETA_ERR_SERVER: { status: 502, title: 'Server request failed', hint: 'Check --server and the API token.' },
  ZETA_ERR_POLICY_INVALID: { status: 400, title: 'Policy not accepted', hint: 'Fix the reported policy; the policy set was not loaded.' },
  ZETA_ERR_ENTITY_INVALID: { status: 400, title: 'Entity data not accepted', hint: 'Fix the reported entity; the entity store was not changed.' },
  ZETA_ERR_MUD_INVALID: { status: 400, title: 'MUD file not accepted', hint: 'Fix the reported part of the MUD file (RFC 8520); nothing was applied.' },
  ZETA_ERR_SIGNAL_INPUT: { status: 400, title: 'Signal input not readable', hint: 'Check the --input path, --format (zeek-conn, telemetry, gateway) and the inventory file; malformed lines are reported, not fatal.' },
  ZETA_ERR_NFT_APPLY: { status: 500, title: 'Network ruleset not applied', hint: 'Read the netd log; the last good ruleset stays in force (default drop).' },
  ZETA_ERR_TPM_MALFORMED: { status: 400, title: 'Malformed TPM structure', hint: 'Send the TPM structures (TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE, event log) exactly as the TPM and firmware produced them.' },
  ZETA_ERR_ATTESTATION_FAILED: { status: 403, title: 'Attestation refused', hint: 'The reason names the failed check (nonce, signature, PCRs, event log, reference values, EK/AK binding); re-attest with a fresh nonce or fix the device.' },
  ZETA_ERR_LOGIN_FAILED: { status: 401, title: 'Login failed', hint: 'Check the user name and password; after repeated failures the account is locked for a while.' },
  ZETA_ERR_LOCKED: { status: 429, title: 'Too many failed logins', hint: 'Wait for the time in Retry-After, or ask an admin to run `zeta operator unlock`.' },
  ZETA_ERR_MFA_FAILED: { status: 401, title: 'Second factor not accepted', hint: 'Use a fresh code from the authenticator app (each code works once), a passkey, or an unused recovery code.' },
  ZETA_ERR_PRE_AUTH_REQUIRED: { status: 401, title: 'Password step missing or expired', hint: 'Start again with POST /api/v1/auth/login; the second factor must follow within 5 minutes.' },
  ZETA_ERR_CSRF: { status: 403, title: 'CSRF token missing or wrong', hint: 'Send the csrfToken from /api/v1/auth/me in the x-csrf-token header with every state-changing request.' },
  ZETA_ERR_STEP_UP_REQUIRED: { status: 403, title: 'Recent re-authentication required', hint: 'Confirm with a TOTP code or a passkey at /api/v1/auth/step-up, then retry.' },
  ZETA_ERR_PASSWORD_POLICY: { status: 400, title: 'Password not accepted', hint: 'Use at least the minimum length, not the user name, not a single repeated character.' },
  ZETA_ERR_SELF_APPROVAL: { status: 403, title: 'Cannot approve your own request', hint: 'Separation of duties: a different operator must approve it.' },
  ZETA_ERR_WEBAUTHN: { status: 401, title: 'Passkey not accepted', hint: 'Retry with a registered passkey for this site; the challenge expires with the login step.' },
  ZETA_ERR_OIDC: { status: 401, title: 'Single sign-on failed', hint: 'Start again from /api/v1/auth/oidc/start; the identity must be linked to an operator by an admin.' },
} as const satisfies Record<string, { status: number; title: string; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ZetaErrorOptions {
  /** Operator-only detail: goes to the log and audit, never to the caller. */
  internal?: string;
  cause?: unknown;
  /** Structured, caller-safe extra fields (e.g. the invalid keys). */
  fields?: Record<string, unknown>;
}

export class ZetaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly internal: string | undefined;
  readonly fields: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ZetaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ZetaError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.internal = options.internal;
    this.fields = options.fields;
  }

  get title(): string {
    return ERROR_CODES[this.code].title;
  }

  get hint(): string {
    return ERROR_CODES[this.code].hint;
  }
}

export function isZetaError(e: unknown): e is ZetaError {
  return e instanceof ZetaError;
}

/** RFC 9457 problem details body for an error; never includes `internal`. */
export function toProblem(e: unknown, requestId: string, instance?: string): Record<string, unknown> {
  const err = isZetaError(e) ? e : new ZetaError('ZETA_ERR_INTERNAL', 'An internal error occurred.');
  return {
    type: `https://zeta.dev/errors/${err.code}`,
    title: err.title,
    status: err.status,
    detail: err.message,
    code: err.code,
    hint: err.hint,
    requestId,
    ...(instance === undefined ? {} : { instance }),
    ...(err.fields ?? {}),
  };
}
