/**
 * Device inventory: records, lifecycle, one-time enrollment tokens, bulk import. Every change is
 * one write transaction holding the change, its audit entry and its change-feed row: an action is
 * reported successful only once all three are committed together.
 */
import { createHash, hash, randomBytes } from 'node:crypto';
import type { Store, Tx, DeviceRow } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { hashSecret, newSecret, safeEqualHex } from '../common/ids.js';
import { quickDeviceInput } from './import-validate.js';
import {
  canTransition, deviceInputSchema, deviceUpdateSchema, ENROLLABLE_STATES, TRUST_HISTORY_PER_DEVICE,
  type Device, type DeviceFilter, type DeviceSortKey, type TrustPoint, type DeviceInput, type DeviceState, type DeviceUpdateInput,
} from './model.js';

const SORT_COLUMNS = { id: 'id', name: 'name', type: 'type', state: 'state', segment: 'segment', site: 'site', lastSeen: 'last_seen' } as const satisfies Record<DeviceSortKey, keyof DeviceRow>;

function parseObject(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
  } catch {
    return {};
  }
}

export interface CertificateRevoker {
  /** Revokes every unrevoked certificate of the device inside tx; returns the serials revoked. */
  revokeAllFor(tx: Tx, deviceId: string, reason: string, at: Date): Promise<string[]>;
  /** Validates a reason name (RFC 5280); throws ZETA_ERR_VALIDATION listing the valid ones. */
  checkReason(reason: string): void;
}

export interface InventoryOptions {
  enrollmentTokenTtlHours: number;
  /**
   * SHA-256 (hex) of the root CA certificate, appended to every enrollment token so a device can
   * authenticate the server before it sends the token (RFC 7030 §4.1.1 bootstrap, the same idea as
   * kubeadm's discovery-token-ca-cert-hash). One string provisions a device.
   */
  caPin?: () => string | undefined;
}

function trustOf(posture: string): number | null {
  const t = (JSON.parse(posture) as { trustScore?: unknown }).trustScore;
  return typeof t === 'number' ? t : null;
}

export function rowToDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    vendor: r.vendor,
    model: r.model,
    firmware: r.firmware,
    owner: r.owner,
    site: r.site,
    segment: r.segment,
    tags: JSON.parse(r.tags) as string[],
    state: r.state as DeviceState,
    certificate: r.cert_serial === null ? null : {
      serial: r.cert_serial,
      fingerprintSha256: r.cert_fingerprint ?? '',
      notAfter: r.cert_not_after ?? '',
    },
    lastSeen: r.last_seen,
    posture: JSON.parse(r.posture) as Record<string, unknown>,
    trustScore: trustOf(r.posture),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function validation(err: { issues: { path: PropertyKey[]; message: string }[] }, prefix = ''): ZetaError {
  const problems = err.issues.map((i) => `${prefix}${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
  return new ZetaError('ZETA_ERR_VALIDATION', problems.join('; '), { fields: { problems } });
}

export function parseDeviceInput(input: unknown): DeviceInput {
  const r = deviceInputSchema.safeParse(input);
  if (!r.success) throw validation(r.error);
  return r.data;
}

function generateDeviceId(type: string): string {
  return `${type.slice(0, 12)}-${randomBytes(6).toString('hex')}`;
}

export class Inventory {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #opts: InventoryOptions;
  #revoker: CertificateRevoker | undefined;

  constructor(store: Store, audit: AuditLog, clock: Clock, options: InventoryOptions) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#opts = options;
  }

  /** The PKI is wired in after construction (it needs the inventory as its device directory). */
  setRevoker(revoker: CertificateRevoker): void {
    this.#revoker = revoker;
  }

  #newRow(input: DeviceInput, now: string): DeviceRow {
    return {
      id: input.id ?? generateDeviceId(input.type),
      name: input.name,
      type: input.type,
      vendor: input.vendor ?? null,
      model: input.model ?? null,
      firmware: input.firmware ?? null,
      owner: input.owner ?? null,
      site: input.site ?? null,
      segment: input.segment ?? null,
      tags: JSON.stringify([...new Set(input.tags ?? [])]),
      state: 'registered',
      cert_serial: null,
      cert_fingerprint: null,
      cert_not_after: null,
      last_seen: null,
      posture: '{}',
      created_at: now,
      updated_at: now,
    };
  }

  #newToken(): string {
    const pin = this.#opts.caPin?.();
    return pin === undefined ? newSecret('zet') : `${newSecret('zet')}.${pin}`;
  }

  #tokenExpiry(now: Date): string {
    return new Date(now.getTime() + this.#opts.enrollmentTokenTtlHours * 3600_000).toISOString();
  }

  /** Adds a device; returns it with its one-time enrollment token (shown once, stored hashed). */
  async add(input: unknown, actor: string): Promise<{ device: Device; enrollmentToken: string; tokenExpiresAt: string }> {
    const parsed = parseDeviceInput(input);
    const now = this.#clock.now();
    const row = this.#newRow(parsed, now.toISOString());
    const token = this.#newToken();
    const expiresAt = this.#tokenExpiry(now);
    await this.#store.writeTx(async (tx) => {
      const exists = await tx.selectFrom('devices').select('id').where('id', '=', row.id).executeTakeFirst();
      if (exists !== undefined) throw new ZetaError('ZETA_ERR_CONFLICT', `device ${row.id} already exists`);
      await tx.insertInto('devices').values(row).execute();
      await tx.insertInto('enrollment_tokens').values({ token_hash: hashSecret(token), device_id: row.id, created_at: now.toISOString(), expires_at: expiresAt, used_at: null }).execute();
      await this.#audit.append(tx, { actor, action: 'device.add', subject: row.id, details: { name: row.name, type: row.type, segment: row.segment, tokenExpiresAt: expiresAt } });
      await emitChange(tx, now, 'device.added', row.id, { segment: row.segment, type: row.type });
    });
    return { device: rowToDevice(row), enrollmentToken: token, tokenExpiresAt: expiresAt };
  }

  async get(id: string): Promise<Device> {
    const row = await this.#store.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no device with id ${id}`);
    return rowToDevice(row);
  }

  async list(filter: DeviceFilter = {}): Promise<{ devices: Device[]; total: number }> {
    let q = this.#store.db.selectFrom('devices');
    if (filter.type !== undefined) q = q.where('type', '=', filter.type);
    if (filter.segment !== undefined) q = q.where('segment', '=', filter.segment);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    if (filter.site !== undefined) q = q.where('site', '=', filter.site);
    if (filter.expiringWithinDays !== undefined) {
      const limit = new Date(this.#clock.now().getTime() + filter.expiringWithinDays * 86400_000).toISOString();
      q = q.where('cert_not_after', 'is not', null).where('cert_not_after', '<=', limit);
    }
    if (filter.q !== undefined && filter.q !== '') {
      const like = `%${filter.q.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb('id', 'like', like), eb('name', 'like', like)]));
    }
    const totalRow = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    const column = SORT_COLUMNS[filter.sort ?? 'id'];
    const dir = filter.order === 'desc' ? 'desc' : 'asc';
    let sorted = q.selectAll().orderBy(column, dir);
    if (column !== 'id') sorted = sorted.orderBy('id', dir);
    const rows = await sorted.limit(Math.min(filter.limit ?? 100, 10_000)).offset(filter.offset ?? 0).execute();
    return { devices: rows.map(rowToDevice), total: Number(totalRow?.n ?? 0) };
  }

  async update(id: string, patch: unknown, actor: string): Promise<Device> {
    const r = deviceUpdateSchema.safeParse(patch);
    if (!r.success) throw validation(r.error);
    const p: DeviceUpdateInput = r.data;
    const now = this.#clock.now();
    return this.#store.writeTx(async (tx) => {
      const row = await this.#mustGet(tx, id);
      if (row.state === 'decommissioned') throw new ZetaError('ZETA_ERR_STATE', `device ${id} is decommissioned and cannot change`);
      const next: DeviceRow = {
        ...row,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.type !== undefined ? { type: p.type } : {}),
        ...(p.vendor !== undefined ? { vendor: p.vendor } : {}),
        ...(p.model !== undefined ? { model: p.model } : {}),
        ...(p.firmware !== undefined ? { firmware: p.firmware } : {}),
        ...(p.owner !== undefined ? { owner: p.owner } : {}),
        ...(p.site !== undefined ? { site: p.site } : {}),
        ...(p.segment !== undefined ? { segment: p.segment } : {}),
        ...(p.tags !== undefined ? { tags: JSON.stringify([...new Set(p.tags)]) } : {}),
        updated_at: now.toISOString(),
      };
      await tx.updateTable('devices').set(next).where('id', '=', id).execute();
      const changed = Object.keys(p);
      await this.#audit.append(tx, { actor, action: 'device.update', subject: id, details: { changed: p as Record<string, unknown> } });
      await emitChange(tx, now, 'device.updated', id, { changed, segment: next.segment, previousSegment: row.segment });
      return rowToDevice(next);
    });
  }

  async #mustGet(tx: Tx, id: string): Promise<DeviceRow> {
    const row = await tx.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no device with id ${id}`);
    return row;
  }

  async #transition(id: string, to: DeviceState, actor: string, action: string, extra: Record<string, unknown> = {},
    inTx?: (tx: Tx, row: DeviceRow, now: Date) => Promise<Record<string, unknown>>): Promise<Device> {
    const now = this.#clock.now();
    return this.#store.writeTx(async (tx) => {
      const row = await this.#mustGet(tx, id);
      const from = row.state as DeviceState;
      if (!canTransition(from, to)) {
        throw new ZetaError('ZETA_ERR_STATE', `device ${id} is ${from}; it cannot become ${to}`, { fields: { from, to } });
      }
      const more = inTx === undefined ? {} : await inTx(tx, row, now);
      await tx.updateTable('devices').set({ state: to, updated_at: now.toISOString() }).where('id', '=', id).execute();
      await this.#audit.append(tx, { actor, action, subject: id, details: { from, to, ...extra, ...more } });
      await emitChange(tx, now, 'device.state', id, { from, to, segment: row.segment, ...extra, ...more });
      return rowToDevice({ ...row, state: to, updated_at: now.toISOString() });
    });
  }

  suspend(id: string, actor: string, reason?: string): Promise<Device> {
    return this.#transition(id, 'suspended', actor, 'device.suspend', reason === undefined ? {} : { reason });
  }

  quarantine(id: string, actor: string, reason?: string): Promise<Device> {
    return this.#transition(id, 'quarantined', actor, 'device.quarantine', reason === undefined ? {} : { reason });
  }

  /** Back to active if it holds a certificate, else back to registered. */
  async resume(id: string, actor: string): Promise<Device> {
    const d = await this.get(id);
    if (d.state !== 'suspended' && d.state !== 'quarantined') {
      throw new ZetaError('ZETA_ERR_STATE', `device ${id} is ${d.state}; only a suspended or quarantined device can be resumed`);
    }
    return this.#transition(id, d.certificate === null ? 'registered' : 'active', actor, 'device.resume');
  }

  decommission(id: string, actor: string): Promise<Device> {
    return this.#transition(id, 'decommissioned', actor, 'device.decommission', {}, async (tx, row, now) => {
      // A decommissioned device keeps no usable credential.
      const serials = await this.#mustRevoker().revokeAllFor(tx, row.id, 'cessationOfOperation', now);
      await tx.updateTable('enrollment_tokens').set({ used_at: now.toISOString() }).where('device_id', '=', id).where('used_at', 'is', null).execute();
      return { revokedSerials: serials };
    });
  }

  async revoke(id: string, reason: string, actor: string): Promise<{ device: Device; revokedSerials: string[] }> {
    const revoker = this.#mustRevoker();
    revoker.checkReason(reason);
    let serials: string[] = [];
    const device = await this.#transition(id, 'revoked', actor, 'device.revoke', { reason }, async (tx, row, now) => {
      serials = await revoker.revokeAllFor(tx, row.id, reason, now);
      await tx.updateTable('enrollment_tokens').set({ used_at: now.toISOString() }).where('device_id', '=', id).where('used_at', 'is', null).execute();
      return { revokedSerials: serials };
    });
    return { device, revokedSerials: serials };
  }

  #mustRevoker(): CertificateRevoker {
    if (this.#revoker === undefined) throw new ZetaError('ZETA_ERR_INTERNAL', 'inventory has no certificate revoker wired');
    return this.#revoker;
  }

  /** A fresh one-time token (e.g. a device that lost its key); earlier unused tokens stop working. */
  async newEnrollmentToken(id: string, actor: string): Promise<{ enrollmentToken: string; tokenExpiresAt: string }> {
    const now = this.#clock.now();
    const token = this.#newToken();
    const expiresAt = this.#tokenExpiry(now);
    await this.#store.writeTx(async (tx) => {
      const row = await this.#mustGet(tx, id);
      if (!ENROLLABLE_STATES.includes(row.state as DeviceState)) {
        throw new ZetaError('ZETA_ERR_STATE', `device ${id} is ${row.state}; it cannot enroll`);
      }
      await tx.updateTable('enrollment_tokens').set({ used_at: now.toISOString() }).where('device_id', '=', id).where('used_at', 'is', null).execute();
      await tx.insertInto('enrollment_tokens').values({ token_hash: hashSecret(token), device_id: id, created_at: now.toISOString(), expires_at: expiresAt, used_at: null }).execute();
      await this.#audit.append(tx, { actor, action: 'device.token', subject: id, details: { tokenExpiresAt: expiresAt } });
    });
    return { enrollmentToken: token, tokenExpiresAt: expiresAt };
  }

  // ---- the device directory the PKI's enrollment uses (inside its transaction) ----

  /**
   * Checks and burns a one-time token bound to `deviceId`. The caller-facing error never says which
   * check failed (token guessing gets no oracle); the reason goes to `internal` for the audit.
   */
  async redeemEnrollmentToken(tx: Tx, claimedId: string | null, token: string, now: Date): Promise<Device> {
    const refuse = (why: string): ZetaError => new ZetaError('ZETA_ERR_TOKEN_INVALID', 'enrollment token not accepted', { internal: why });
    if (token.length === 0 || token.length > 512) throw refuse('token empty or too long');
    const hash = hashSecret(token);
    const rec = await tx.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (rec === undefined) throw refuse('unknown token');
    if (!safeEqualHex(rec.token_hash, hash)) throw refuse('unknown token');
    if (claimedId !== null && rec.device_id !== claimedId) throw refuse(`token belongs to device ${rec.device_id}, presented for ${claimedId}`);
    const deviceId = rec.device_id;
    if (rec.used_at !== null) throw refuse(`token already used at ${rec.used_at}`);
    if (rec.expires_at <= now.toISOString()) throw refuse(`token expired at ${rec.expires_at}`);
    const row = await tx.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst();
    if (row === undefined) throw refuse('device record missing');
    if (!ENROLLABLE_STATES.includes(row.state as DeviceState)) throw refuse(`device is ${row.state}`);
    await tx.updateTable('enrollment_tokens').set({ used_at: now.toISOString() }).where('token_hash', '=', hash).execute();
    return rowToDevice(row);
  }

  async getInTx(tx: Tx, deviceId: string): Promise<Device | undefined> {
    const row = await tx.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst();
    return row === undefined ? undefined : rowToDevice(row);
  }

  /**
   * Records the newly issued certificate as current; a registered device becomes active. `current`
   * is the device as already read in this same transaction (the write lock is held, so it cannot
   * have changed); without it the row is read again.
   */
  async attachCertificate(tx: Tx, deviceId: string, cert: { serial: string; fingerprintSha256: string; notAfter: string }, now: Date,
    current?: { id: string; state: string; segment?: string | null }): Promise<void> {
    const known = current !== undefined && current.id === deviceId && current.segment !== undefined ? { state: current.state, segment: current.segment } : undefined;
    const row = known ?? await this.#mustGet(tx, deviceId);
    const state = row.state === 'registered' ? 'active' : row.state;
    await tx.updateTable('devices').set({
      cert_serial: cert.serial, cert_fingerprint: cert.fingerprintSha256, cert_not_after: cert.notAfter,
      state, updated_at: now.toISOString(),
    }).where('id', '=', deviceId).execute();
    if (state !== row.state) await emitChange(tx, now, 'device.state', deviceId, { from: row.state, to: state, segment: row.segment });
  }

  /**
   * Merges signals into the device's posture (trust score and its factors, attestation). Posture is
   * an observation, not an admin act: it is not audited itself (the alerts behind it are), but it
   * goes on the change feed so decision points see it at once.
   */
  async setPosture(deviceId: string, patch: Record<string, unknown>): Promise<Device> {
    const now = this.#clock.now();
    return this.#store.writeTx(async (tx) => {
      const row = await this.#mustGet(tx, deviceId);
      const before = JSON.parse(row.posture) as Record<string, unknown>;
      const posture = { ...before, ...patch };
      const next = { ...row, posture: JSON.stringify(posture), updated_at: now.toISOString() };
      await tx.updateTable('devices').set({ posture: next.posture, updated_at: next.updated_at }).where('id', '=', deviceId).execute();
      const score = patch.trustScore;
      if (typeof score === 'number' && Number.isFinite(score) && score !== before.trustScore) {
        await this.#recordTrust(tx, deviceId, now, score, patch.trustFactors);
      }
      await emitChange(tx, now, 'device.posture', deviceId, { trustScore: posture.trustScore ?? null });
      return rowToDevice(next);
    });
  }

  /** A device's trust score over time, oldest first (at most TRUST_HISTORY_PER_DEVICE points). */
  async trustHistory(deviceId: string, limit = TRUST_HISTORY_PER_DEVICE): Promise<TrustPoint[]> {
    await this.get(deviceId);
    const rows = await this.#store.db.selectFrom('trust_history').select(['at', 'score', 'factors'])
      .where('device_id', '=', deviceId).orderBy('id', 'desc').limit(Math.min(limit, TRUST_HISTORY_PER_DEVICE)).execute();
    return rows.reverse().map((r) => ({ at: r.at, score: Number(r.score), factors: parseObject(r.factors) }));
  }

  async #recordTrust(tx: Tx, deviceId: string, at: Date, score: number, factors: unknown): Promise<void> {
    const f = typeof factors === 'object' && factors !== null ? JSON.stringify(factors) : '{}';
    await tx.insertInto('trust_history').values({ device_id: deviceId, at: at.toISOString(), score, factors: f.length <= 4096 ? f : '{}' }).execute();
    // INVARIANT: at most TRUST_HISTORY_PER_DEVICE rows per device, so a flapping score cannot grow the table without bound.
    const cut = await tx.selectFrom('trust_history').select('id').where('device_id', '=', deviceId)
      .orderBy('id', 'desc').offset(TRUST_HISTORY_PER_DEVICE).limit(1).executeTakeFirst();
    if (cut !== undefined) await tx.deleteFrom('trust_history').where('device_id', '=', deviceId).where('id', '<=', cut.id).execute();
  }

  async touchLastSeen(deviceId: string, at: Date): Promise<void> {
    await this.#store.db.updateTable('devices').set({ last_seen: at.toISOString() }).where('id', '=', deviceId).execute();
  }

  // ---- bulk import ----

  /**
   * Imports a whole fleet in one transaction: every record is validated first and nothing is
   * written unless all are valid. One audit entry covers the import (count and SHA-256 of the
   * canonical records), so a million devices do not mean a million audit entries.
   */
  async importDevices(records: unknown[], actor: string, onProgress?: (done: number, total: number) => void): Promise<{ imported: number; tokens: { id: string; enrollmentToken: string }[]; tokenExpiresAt: string }> {
    const errors: string[] = [];
    const parsed: DeviceInput[] = [];
    for (let i = 0; i < records.length; i++) {
      const rec = records[i];
      // The common case skips the schema parse; anything else (and every error) goes through it.
      const quick = quickDeviceInput(rec);
      if (quick !== undefined) {
        parsed.push(quick);
        continue;
      }
      const r = deviceInputSchema.safeParse(rec);
      if (r.success) parsed.push(r.data);
      else if (errors.length < 20) errors.push(...r.error.issues.map((iss) => `record ${i + 1}: ${iss.path.map(String).join('.') || '(record)'}: ${iss.message}`));
    }
    if (errors.length > 0) throw new ZetaError('ZETA_ERR_IMPORT', `import refused, nothing imported: ${errors.slice(0, 20).join('; ')}`, { fields: { problems: errors } });
    if (parsed.length === 0) throw new ZetaError('ZETA_ERR_IMPORT', 'import refused: no records');
    const now = this.#clock.now();
    const nowIso = now.toISOString();
    const rows = parsed.map((p) => this.#newRow(p, nowIso));
    const seen = new Set<string>();
    for (const [i, r] of rows.entries()) {
      if (seen.has(r.id)) errors.push(`record ${i + 1}: duplicate id ${r.id} in the input`);
      seen.add(r.id);
      if (errors.length >= 20) break;
    }
    if (errors.length > 0) throw new ZetaError('ZETA_ERR_IMPORT', `import refused, nothing imported: ${errors.join('; ')}`, { fields: { problems: errors } });
    const expiresAt = this.#tokenExpiry(now);
    const issued = this.#newTokens(rows.length);
    const tokens = rows.map((r, i) => ({ id: r.id, enrollmentToken: issued.tokens[i]! }));
    const digest = createHash('sha256');
    let text = '';
    for (const r of rows) {
      text += `${r.id}\u0000${r.name}\u0000${r.type}\u0000${r.segment ?? ''}\n`;
      if (text.length > 65536) {
        digest.update(text);
        text = '';
      }
    }
    digest.update(text);
    const raw = this.#store.sqliteHandle;
    await this.#store.writeTx(async (tx) => {
      if (raw !== undefined) {
        insertImportSqlite(raw, rows, issued.hashes, nowIso, expiresAt, onProgress);
      } else {
        await this.#insertImportKysely(tx, rows, issued.hashes, nowIso, expiresAt, onProgress);
      }
      await this.#audit.append(tx, { actor, action: 'device.import', subject: null, details: { count: rows.length, sha256: digest.digest('hex'), first: rows[0]?.id, last: rows[rows.length - 1]?.id } });
      await emitChange(tx, now, 'device.imported', '*', { count: rows.length });
    });
    return { imported: rows.length, tokens, tokenExpiresAt: expiresAt };
  }

  /**
   * `count` one-time tokens (the #newToken format) and their at-rest hashes (hashSecret), from one
   * CSPRNG read instead of one per token; the random bytes are wiped once encoded.
   */
  #newTokens(count: number): { tokens: string[]; hashes: string[] } {
    const pin = this.#opts.caPin?.();
    const suffix = pin === undefined ? '' : `.${pin}`;
    const tokens: string[] = new Array<string>(count);
    const hashes: string[] = new Array<string>(count);
    const perBlock = 2048;
    for (let start = 0; start < count; start += perBlock) {
      const n = Math.min(perBlock, count - start);
      const bytes = randomBytes(n * SECRET_BYTES);
      for (let j = 0; j < n; j++) {
        const token = `zet_${bytes.toString('base64url', j * SECRET_BYTES, (j + 1) * SECRET_BYTES)}${suffix}`;
        tokens[start + j] = token;
        hashes[start + j] = hash('sha256', token, 'hex'); // = hashSecret(token), one-shot
      }
      bytes.fill(0);
    }
    return { tokens, hashes };
  }

  /** PostgreSQL: multi-row inserts through Kysely, after refusing ids that already exist. */
  async #insertImportKysely(tx: Tx, rows: DeviceRow[], hashes: string[], nowIso: string, expiresAt: string, onProgress?: (done: number, total: number) => void): Promise<void> {
    const chunk = 1000;
    for (let i = 0; i < rows.length; i += chunk) {
      const ids = rows.slice(i, i + chunk).map((r) => r.id);
      const clash = await tx.selectFrom('devices').select('id').where('id', 'in', ids).limit(5).execute();
      if (clash.length > 0) throw existingIds(clash.map((c) => c.id));
    }
    const batch = Math.floor(chunk / 4);
    for (let i = 0; i < rows.length; i += batch) {
      await tx.insertInto('devices').values(rows.slice(i, i + batch)).execute();
      await tx.insertInto('enrollment_tokens').values(rows.slice(i, i + batch).map((r, j) => ({
        token_hash: hashes[i + j]!, device_id: r.id, created_at: nowIso, expires_at: expiresAt, used_at: null,
      }))).execute();
      onProgress?.(Math.min(i + batch, rows.length), rows.length);
    }
  }
}

/** Raw random octets in one enrollment token (newSecret). */
const SECRET_BYTES = 32;
const PROGRESS_EVERY = 2000;

function existingIds(ids: string[]): ZetaError {
  return new ZetaError('ZETA_ERR_IMPORT', `import refused, nothing imported: device id(s) already exist: ${ids.join(', ')}`);
}

/**
 * SQLite: prepared statements on the store's own connection, inside the caller's writeTx. An id
 * that already exists is caught by the primary key as the row goes in (ON CONFLICT DO NOTHING, then
 * no row changed): up to five are named and the transaction rolls back. Synchronous, so nothing
 * else runs on the connection meanwhile.
 */
function insertImportSqlite(db: NonNullable<Store['sqliteHandle']>, rows: DeviceRow[], hashes: string[], nowIso: string, expiresAt: string, onProgress?: (done: number, total: number) => void): void {
  // INVARIANT: these statements must join the writeTx transaction, never autocommit on their own.
  if (!db.inTransaction) throw new ZetaError('ZETA_ERR_INTERNAL', 'bulk import must run inside store.writeTx');
  const device = db.prepare(`insert into devices (id, name, type, vendor, model, firmware, owner, site, segment, tags, state, cert_serial, cert_fingerprint, cert_not_after, last_seen, posture, created_at, updated_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (id) do nothing`);
  const token = db.prepare('insert into enrollment_tokens (token_hash, device_id, created_at, expires_at, used_at) values (?, ?, ?, ?, null)');
  const total = rows.length;
  const progress = (done: number): void => {
    if (onProgress !== undefined && (done % PROGRESS_EVERY === 0 || done === 2 * total)) onProgress(Math.floor(done / 2), total);
  };
  const clashes: string[] = [];
  for (let i = 0; i < total; i++) {
    const r = rows[i]!;
    const done = device.run(r.id, r.name, r.type, r.vendor, r.model, r.firmware, r.owner, r.site, r.segment, r.tags, r.state,
      r.cert_serial, r.cert_fingerprint, r.cert_not_after, r.last_seen, r.posture, r.created_at, r.updated_at);
    if (done.changes === 0) {
      clashes.push(r.id);
      if (clashes.length >= 5) break;
    }
    progress(i + 1);
  }
  if (clashes.length > 0) throw existingIds(clashes);
  // Tokens go in grouped by the first 12 bits of their hash, so the primary-key B-tree takes them
  // almost in order instead of at random pages (a counting sort, one pass).
  const buckets = new Int32Array(4097);
  const key = (h: string): number => Number.parseInt(h.slice(0, 3), 16);
  for (const h of hashes) buckets[key(h) + 1]!++;
  for (let b = 1; b <= 4096; b++) buckets[b]! += buckets[b - 1]!;
  const order = new Int32Array(total);
  for (let i = 0; i < total; i++) order[buckets[key(hashes[i]!)]!++] = i;
  for (let k = 0; k < total; k++) {
    const i = order[k]!;
    token.run(hashes[i]!, rows[i]!.id, nowIso, expiresAt);
    progress(total + k + 1);
  }
  if (clashes.length > 0) throw existingIds(clashes);
}
