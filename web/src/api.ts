/**
 * The dashboard's only way to the server: same-origin fetch with the session cookie (HttpOnly, the
 * page never sees it), the CSRF token in a header on every unsafe method, and RFC 9457 problems
 * turned into ApiError with the stable ZETA_ERR_* code. A 403 ZETA_ERR_STEP_UP_REQUIRED asks the
 * registered step-up handler (the dialog) once and retries the request.
 */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly problems: readonly string[];
  constructor(status: number, code: string, detail: string, problems: readonly string[] = []) {
    super(detail !== '' ? detail : `${status} ${code}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.problems = problems;
  }
}

let csrfToken: string | null = null;
export function setCsrfToken(t: string | null): void {
  csrfToken = t;
}

type StepUpHandler = () => Promise<boolean>;
let stepUpHandler: StepUpHandler | null = null;
export function setStepUpHandler(h: StepUpHandler | null): void {
  stepUpHandler = h;
}

type UnauthenticatedHandler = () => void;
let onUnauthenticated: UnauthenticatedHandler | null = null;
export function setUnauthenticatedHandler(h: UnauthenticatedHandler | null): void {
  onUnauthenticated = h;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  body?: unknown;
  /** Send the body as text/plain (Cedar policy text). */
  text?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

async function toError(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let detail = res.statusText;
  let problems: string[] = [];
  try {
    const p = (await res.json()) as { code?: unknown; detail?: unknown; title?: unknown; problems?: unknown; fields?: { problems?: unknown } };
    if (typeof p.code === 'string') code = p.code;
    if (typeof p.detail === 'string') detail = p.detail;
    else if (typeof p.title === 'string') detail = p.title;
    const list = Array.isArray(p.problems) ? p.problems : Array.isArray(p.fields?.problems) ? p.fields.problems : [];
    problems = list.filter((x): x is string => typeof x === 'string');
  } catch {
    // Not problem+json (a proxy page): keep the status line.
  }
  return new ApiError(res.status, code, detail, problems);
}

async function once(path: string, o: RequestOptions): Promise<Response> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
  if (!SAFE.has(method) && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let body: string | undefined;
  if (o.body !== undefined) {
    body = o.text === true ? String(o.body) : JSON.stringify(o.body);
    headers['content-type'] = o.text === true ? 'text/plain' : 'application/json';
  }
  return fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body === undefined ? {} : { body }), ...(o.signal === undefined ? {} : { signal: o.signal }) });
}

export async function api<T>(path: string, o: RequestOptions = {}): Promise<T> {
  let res = await once(path, o);
  if (res.status === 403 && stepUpHandler !== null) {
    const err = await toError(res.clone());
    if (err.code === 'ZETA_ERR_STEP_UP_REQUIRED') {
      if (!(await stepUpHandler())) throw err;
      res = await once(path, o);
    }
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && !path.startsWith('/api/v1/auth/')) onUnauthenticated?.();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

// ---- shapes the pages read (the server's JSON; see src/api/routes*.ts) ----

export type Role = 'admin' | 'secops' | 'devops' | 'auditor';

export interface Operator {
  id: string;
  username: string;
  displayName?: string | null;
  role: Role;
  scope?: { sites: string[]; segments: string[] };
}

export interface Me {
  operator: Operator;
  csrfToken: string;
  stepUpUntil: string | null;
  mfa: { totp: boolean; passkeys: number };
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
  state: string;
  certificate: { serial: string; fingerprintSha256: string; notAfter: string } | null;
  lastSeen: string | null;
  posture: Record<string, unknown>;
  trustScore: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface AlertSummary {
  id: string;
  at: string;
  key?: string;
  device?: string;
  rule: string;
  severity: 'low' | 'medium' | 'high';
  summary: string;
  score?: number;
  family?: string;
  cohort?: string;
  observed?: Record<string, number | string>;
  baseline?: Record<string, number | string>;
  features?: { feature: string; contribution: number; value?: number; expected?: number }[];
  cohortShare?: number;
  state?: string;
}

/** Roles that may act on devices (the API decides; this only hides buttons). */
export function canActOnDevices(role: Role | undefined): boolean {
  return role === 'admin' || role === 'secops' || role === 'devops';
}

export function canEditPolicy(role: Role | undefined): boolean {
  return role === 'admin' || role === 'secops';
}

export function canReadAudit(role: Role | undefined): boolean {
  return role === 'admin' || role === 'auditor' || role === 'secops';
}

export function canApprove(role: Role | undefined): boolean {
  return role === 'admin' || role === 'secops';
}
