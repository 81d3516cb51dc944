/**
 * One configuration schema, parsed once and frozen. Sources, lowest to highest precedence:
 * defaults < config file (JSON) < ZETA_* environment variables < flags. Unknown keys are rejected
 * with their names. A secret can be given as `<KEY>_FILE` (env) / `<key>File` (file, flags): the
 * value is read from that file, so it never sits in the process list or the config.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ZetaError } from './errors.js';

const port = z.coerce.number().int().min(0).max(65535);
const hostname = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, 'must be a host name or IP address');

export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('.zeta'),
  trustDomain: z.string().min(1).max(255).regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a lower-case DNS-like name (SPIFFE trust domain)').default('zeta.local'),
  bindAddress: hostname.default('127.0.0.1'),
  /** Host name devices and clients use to reach this server; goes into AIA/CDP URLs and the server certificate. */
  publicHost: hostname.default('localhost'),
  /** Extra names for the server certificate, comma separated. */
  serverNames: z.string().default(''),
  apiPort: port.default(8443),
  pkiHttpPort: port.default(8080),
  mqttPort: port.default(8883),
  /** Run the MQTT gateway inside `zeta serve`. */
  gatewayEnabled: z.preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean()).default(true),
  /** `embedded` (aedes in-process) or an external broker `mqtt://host:port` / `mqtts://host:port`. */
  gatewayUpstream: z.string().regex(/^(embedded|mqtts?:\/\/.+)$/, 'embedded, mqtt://host:port or mqtts://host:port').default('embedded'),
  /** `sqlite` (file in the data directory) or a `postgres://` URL. Secret: use ZETA_DATABASE_URL_FILE. */
  databaseUrl: z.string().min(1).default('sqlite'),
  /** PostgreSQL schema to use (created if missing). */
  databaseSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('public'),
  certLifetimeDays: z.coerce.number().int().min(1).max(397).default(30),
  enrollmentTokenTtlHours: z.coerce.number().int().min(1).max(24 * 90).default(72),
  crlNextUpdateHours: z.coerce.number().int().min(1).max(24 * 30).default(24),
  ocspValidityHours: z.coerce.number().int().min(1).max(24 * 7).default(4),
  maxBodyBytes: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  maxCsrBytes: z.coerce.number().int().min(256).max(1024 * 1024).default(16 * 1024),
  changeFeedIntervalMs: z.coerce.number().int().min(20).max(5000).default(200),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Operator session: idle timeout (minutes without a request). */
  iamSessionIdleMinutes: z.coerce.number().int().min(1).max(24 * 60).default(30),
  /** Operator session: absolute lifetime (hours after login). */
  iamSessionAbsoluteHours: z.coerce.number().int().min(1).max(24 * 7).default(12),
  /** How long a step-up (fresh TOTP or passkey) unlocks destructive actions (minutes). */
  iamStepUpMinutes: z.coerce.number().int().min(1).max(60).default(5),
  /** Failed logins (password or second factor) for one user name before it is locked. */
  iamLockoutThreshold: z.coerce.number().int().min(1).max(100).default(5),
  /** Lockout duration, and the window failures are counted in (minutes). */
  iamLockoutMinutes: z.coerce.number().int().min(1).max(24 * 60).default(15),
  /** Login attempts per client address per minute (all user names together). */
  iamLoginRatePerMinute: z.coerce.number().int().min(1).max(10_000).default(30),
  iamPasswordMinLength: z.coerce.number().int().min(8).max(128).default(12),
  /** Longest allowed lifetime of a personal API token (days); every personal token expires. */
  iamTokenMaxDays: z.coerce.number().int().min(1).max(3650).default(90),
  /** Actions that need a second operator's approval, comma separated: policyApply, caRotate. */
  iamApprovalActions: z.string().regex(/^((policyApply|caRotate)(,(policyApply|caRotate))*)?$/, 'comma separated: policyApply, caRotate').default(''),
  /** Public URL of the API/dashboard (WebAuthn origin and rpID, OIDC redirect); default https://<publicHost>:<apiPort>. */
  iamPublicUrl: z.string().regex(/^https:\/\/[^/]+$/, 'https://host[:port] without a path').optional(),
  /** OpenID Connect issuer URL (single sign-on is off when unset). */
  oidcIssuer: z.string().url().optional(),
  oidcClientId: z.string().min(1).max(256).optional(),
  /** Secret: use ZETA_OIDC_CLIENT_SECRET_FILE. */
  oidcClientSecret: z.string().min(1).max(1024).optional(),
  /** Redirect URL registered at the IdP; default <iamPublicUrl>/api/v1/auth/oidc/callback. */
  oidcRedirectUrl: z.string().url().optional(),
  /** PEM CA bundle that verifies the IdP's TLS certificate (in addition to the system store). */
  oidcCaFile: z.string().min(1).optional(),
  /** Alerts and response actions are POSTed here as signed JSON (empty: off). */
  alertWebhookUrl: z.string().max(2048).regex(/^(|https?:\/\/.+)$/, 'empty, http://... or https://...').default(''),
  /** HMAC-SHA256 key for the webhook signature (≥ 16 chars). Secret: use ZETA_ALERT_WEBHOOK_SECRET_FILE. */
  alertWebhookSecret: z.string().max(1024).default(''),
  /** Syslog receiver for alerts and actions, RFC 5424: `udp://host:port` or `tcp://host:port` (octet counting), empty: off. */
  alertSyslog: z.string().max(300).regex(/^(|(udp|tcp):\/\/.+:\d{1,5})$/, 'empty, udp://host:port or tcp://host:port').default(''),
  /** Append alerts and actions as JSON lines to this file (empty: off). */
  alertJsonlFile: z.string().max(4096).default(''),
  /** Events each sink may hold while its receiver is slow; beyond, new events are dropped and counted. */
  alertSinkQueueLimit: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** Delivery attempts after the first (exponential backoff from 0.5 s, at most 30 s). */
  alertSinkMaxRetries: z.coerce.number().int().min(0).max(20).default(5),
  /** Persisted alerts kept at most (oldest pruned first). */
  alertRetentionCount: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
  /** Persisted alerts older than this are pruned. */
  alertRetentionDays: z.coerce.number().int().min(1).max(3650).default(90),
  /** Largest body POST /api/v1/ingest/* reads (bytes); larger bodies are refused with 413. */
  ingestMaxBodyBytes: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Ingest requests served at once; more are answered 429 with Retry-After. */
  ingestMaxConcurrent: z.coerce.number().int().min(1).max(256).default(4),
  /** TPM manufacturer roots that EK certificates must chain to: a PEM file or a directory of PEM files. Empty: no EK is trusted (fail closed). */
  attestManufacturerRoots: z.string().default(''),
  /** Trust on first use: with no reference values for a device's model + firmware, its first good attestation becomes its reference. */
  attestTofu: z.preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean()).default(true),
  /** How long an attestation nonce stays valid, in seconds. */
  attestNonceTtlSeconds: z.coerce.number().int().min(5).max(3600).default(300),
  /** Dashboard live stream: heartbeat period, which is also how often the stream re-checks its session. */
  streamHeartbeatMs: z.coerce.number().int().min(100).max(60_000).default(15_000),
});

export type ZetaConfig = Readonly<z.infer<typeof configSchema>>;
export type ConfigInput = Partial<Record<keyof z.infer<typeof configSchema>, unknown>>;

const KEYS = Object.keys(configSchema.shape) as (keyof ZetaConfig)[];
const SECRET_KEYS = new Set<keyof ZetaConfig>(['databaseUrl', 'oidcClientSecret', 'alertWebhookSecret']);

/** ZETA_* variables that configure the CLI as a client, not the server. */
const CLIENT_ENV = new Set(['ZETA_SERVER', 'ZETA_TOKEN', 'ZETA_TOKEN_FILE', 'ZETA_CONFIG', 'ZETA_CA_FILE']);

export function envName(key: string): string {
  return 'ZETA_' + key.replace(/([A-Z])/g, '_$1').toUpperCase();
}

function readSecretFile(path: string, source: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new ZetaError('ZETA_ERR_CONFIG', `${source}: cannot read secret file ${path}`, { cause: e });
  }
}

function fromObject(obj: Record<string, unknown>, source: string): ConfigInput {
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (k.endsWith('File') && SECRET_KEYS.has(k.slice(0, -4) as keyof ZetaConfig)) {
      out[k.slice(0, -4)] = readSecretFile(String(v), source);
    } else if ((KEYS as string[]).includes(k)) {
      out[k] = v;
    } else {
      unknown.push(k);
    }
  }
  if (unknown.length > 0) {
    throw new ZetaError('ZETA_ERR_CONFIG', `${source}: unknown configuration key(s): ${unknown.join(', ')}`, { fields: { unknownKeys: unknown } });
  }
  return out as ConfigInput;
}

function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: Record<string, unknown> = {};
  const byEnv = new Map(KEYS.map((k) => [envName(k), k]));
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('ZETA_') || value === undefined) continue;
    if (CLIENT_ENV.has(name) || name.startsWith('ZETA_TEST_')) continue;
    const key = byEnv.get(name);
    if (key !== undefined) {
      out[key] = value;
      continue;
    }
    if (name.endsWith('_FILE')) {
      const base = byEnv.get(name.slice(0, -5));
      if (base !== undefined && SECRET_KEYS.has(base)) {
        out[base] = readSecretFile(value, name);
        continue;
      }
    }
    unknown.push(name);
  }
  if (unknown.length > 0) {
    throw new ZetaError('ZETA_ERR_CONFIG', `environment: unknown ZETA_* variable(s): ${unknown.join(', ')}`, { fields: { unknownKeys: unknown } });
  }
  return out as ConfigInput;
}

export interface LoadConfigOptions {
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Explicit config file; otherwise ZETA_CONFIG, otherwise `<dataDir>/zeta.json` if it exists. */
  file?: string;
}

export function loadConfig(options: LoadConfigOptions = {}): ZetaConfig {
  const env = options.env ?? process.env;
  const flagInput = fromObject(options.flags ?? {}, 'flags');
  const envInput = fromEnv(env);
  const dataDirGuess = String(flagInput.dataDir ?? envInput.dataDir ?? '.zeta');
  const file = options.file ?? env.ZETA_CONFIG ?? join(dataDirGuess, 'zeta.json');
  let fileInput: ConfigInput = {};
  if (options.file !== undefined || env.ZETA_CONFIG !== undefined || existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ZetaError('ZETA_ERR_CONFIG', `config file ${file}: cannot read or parse JSON`, { cause: e });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ZetaError('ZETA_ERR_CONFIG', `config file ${file}: must be a JSON object`);
    }
    fileInput = fromObject(parsed as Record<string, unknown>, `config file ${file}`);
  }
  const merged = { ...fileInput, ...envInput, ...flagInput };
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ZetaError('ZETA_ERR_CONFIG', `invalid configuration: ${problems.join('; ')}`, { fields: { problems } });
  }
  const cfg = { ...result.data, dataDir: resolve(result.data.dataDir) };
  return Object.freeze(cfg);
}

/** A config for tests and embedding: defaults plus overrides, validated the same way. */
export function makeConfig(overrides: ConfigInput = {}): ZetaConfig {
  return loadConfig({ flags: overrides as Record<string, unknown>, env: {} });
}
