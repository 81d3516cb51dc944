/**
 * Persistence of attestation (migration 0005_attest), on SQLite and PostgreSQL alike: reference
 * values (registered / imported per model + firmware, TOFU per device), each device's attestation
 * key binding, the result history and the "re-attest now" flag. The verifier itself stays pure;
 * this is the `ReferenceValueStore` it is given, plus the records around it.
 */
import { ZetaError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { Store, Tx } from '../store/index.js';
import type { EkTrust } from './ak-binding.js';
import { referenceValuesSchema, type ReferenceValueStore, type ReferenceValues } from './reference-values.js';

export type ReferenceOrigin = 'registered' | 'imported' | 'tofu';

export { referenceValuesSchema };

/** Bulk import bound: a vendor's whole catalogue fits, a runaway file does not. */
export const MAX_IMPORTED_REFERENCES = 5000;

export function parseReferenceValues(v: unknown, where = 'reference'): ReferenceValues {
  const r = referenceValuesSchema.safeParse(v);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${where}${i.path.length > 0 ? '.' + i.path.map(String).join('.') : ''}: ${i.message}`);
    throw new ZetaError('ZETA_ERR_VALIDATION', problems.join('; '), { fields: { problems } });
  }
  return r.data as ReferenceValues;
}

const modelKey = (model: string, fw: string): string => `model:${JSON.stringify([model, fw])}`;
const deviceKey = (id: string): string => `device:${id}`;

export interface StoredReference {
  readonly source: ReferenceOrigin;
  readonly deviceId: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly values: ReferenceValues;
}

/**
 * The database-backed ReferenceValueStore. `pinDevice` is the TOFU write: it inserts, and a
 * second pin for the same device fails on the primary key (never silently re-learned).
 */
export class DbReferenceStore implements ReferenceValueStore {
  readonly #store: Store;
  readonly #now: () => Date;
  /** Set while a verification runs inside a write transaction, so the TOFU pin joins it. */
  tx: Tx | undefined;

  constructor(store: Store, now: () => Date) {
    this.#store = store;
    this.#now = now;
  }

  async forModel(model: string, firmwareVersion: string): Promise<ReferenceValues | undefined> {
    const row = await (this.tx ?? this.#store.db).selectFrom('attest_references').select('body').where('ref_key', '=', modelKey(model, firmwareVersion)).executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.body) as ReferenceValues);
  }

  async forDevice(deviceId: string, model: string, firmwareVersion: string): Promise<ReferenceValues | undefined> {
    const row = await (this.tx ?? this.#store.db).selectFrom('attest_references').select('body').where('ref_key', '=', deviceKey(deviceId)).executeTakeFirst();
    if (row === undefined) return undefined;
    const ref = JSON.parse(row.body) as ReferenceValues;
    // A pin is for the firmware it saw; after an update the device has no pin for the new one.
    return ref.model === model && ref.firmwareVersion === firmwareVersion ? ref : undefined;
  }

  async pinDevice(deviceId: string, ref: ReferenceValues): Promise<void> {
    const db = this.tx ?? this.#store.db;
    const existing = await db.selectFrom('attest_references').select('body').where('ref_key', '=', deviceKey(deviceId)).executeTakeFirst();
    if (existing !== undefined) {
      const old = JSON.parse(existing.body) as ReferenceValues;
      if (old.model === ref.model && old.firmwareVersion === ref.firmwareVersion) throw new ZetaError('ZETA_ERR_CONFLICT', 'This device already has pinned reference values.');
      // A firmware update: the old pin no longer applies; the new boot is pinned in its place.
      await db.deleteFrom('attest_references').where('ref_key', '=', deviceKey(deviceId)).execute();
    }
    await db.insertInto('attest_references').values({
      ref_key: deviceKey(deviceId), device_id: deviceId, model: ref.model, firmware_version: ref.firmwareVersion,
      source: 'tofu', body: JSON.stringify(ref), created_by: `device:${deviceId}`, created_at: this.#now().toISOString(),
    }).execute();
  }

  /** Registers (or replaces) the reference for a model + firmware version, inside the caller's transaction. */
  async register(tx: Tx, ref: ReferenceValues, source: 'registered' | 'imported', actor: string): Promise<void> {
    const v = parseReferenceValues(ref);
    const key = modelKey(v.model, v.firmwareVersion);
    await tx.deleteFrom('attest_references').where('ref_key', '=', key).execute();
    await tx.insertInto('attest_references').values({
      ref_key: key, device_id: null, model: v.model, firmware_version: v.firmwareVersion, source, body: JSON.stringify(v), created_by: actor, created_at: this.#now().toISOString(),
    }).execute();
  }

  async unpinDevice(tx: Tx, deviceId: string): Promise<boolean> {
    const r = await tx.deleteFrom('attest_references').where('ref_key', '=', deviceKey(deviceId)).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async list(filter: { model?: string; deviceId?: string } = {}): Promise<StoredReference[]> {
    let q = this.#store.db.selectFrom('attest_references').selectAll();
    if (filter.model !== undefined) q = q.where('model', '=', filter.model);
    if (filter.deviceId !== undefined) q = q.where('device_id', '=', filter.deviceId);
    const rows = await q.orderBy('model').orderBy('firmware_version').orderBy('ref_key').limit(10000).execute();
    return rows.map((r) => ({ source: r.source as ReferenceOrigin, deviceId: r.device_id, createdBy: r.created_by, createdAt: r.created_at, values: JSON.parse(r.body) as ReferenceValues }));
  }
}

export type AttestMethod = 'tpm' | 'software';

export interface AttestKeyRecord {
  readonly deviceId: string;
  readonly method: AttestMethod;
  readonly akName: string | null;
  /** TPM: TPMT_PUBLIC base64; software: SPKI PEM. */
  readonly akPublic: string;
  readonly ekName: string | null;
  readonly ekTrust: EkTrust | null;
  readonly certSerial: string | null;
  readonly boundAt: string;
}

export interface AttestResultRecord {
  readonly id: string;
  readonly deviceId: string;
  readonly status: 'verified' | 'failed' | 'unknown';
  readonly reason: string | null;
  readonly detail: string | null;
  readonly method: AttestMethod;
  readonly weaker: boolean;
  readonly reference: string | null;
  readonly at: string;
}

/** Key bindings, results and due flags. Writes take the caller's transaction. */
export class AttestationRecords {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async key(deviceId: string): Promise<AttestKeyRecord | undefined> {
    const r = await this.#store.db.selectFrom('attest_keys').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    if (r === undefined) return undefined;
    return {
      deviceId: r.device_id, method: r.method as AttestMethod, akName: r.ak_name, akPublic: r.ak_public, ekName: r.ek_name,
      ekTrust: r.ek_trust === null ? null : (JSON.parse(r.ek_trust) as EkTrust), certSerial: r.cert_serial, boundAt: r.bound_at,
    };
  }

  async putKey(tx: Tx, k: AttestKeyRecord): Promise<void> {
    await tx.deleteFrom('attest_keys').where('device_id', '=', k.deviceId).execute();
    await tx.insertInto('attest_keys').values({
      device_id: k.deviceId, method: k.method, ak_name: k.akName, ak_public: k.akPublic, ek_name: k.ekName,
      ek_trust: k.ekTrust === null ? null : JSON.stringify(k.ekTrust), cert_serial: k.certSerial, bound_at: k.boundAt,
    }).execute();
  }

  async addResult(tx: Tx, r: Omit<AttestResultRecord, 'id'>): Promise<AttestResultRecord> {
    const rec = { ...r, id: newId('att') };
    // Runs inside the caller's write transaction, so the next number cannot be taken twice.
    const last = await tx.selectFrom('attest_results').select((eb) => eb.fn.max('seq').as('m')).where('device_id', '=', r.deviceId).executeTakeFirst();
    await tx.insertInto('attest_results').values({
      seq: Number(last?.m ?? 0) + 1,
      id: rec.id, device_id: r.deviceId, status: r.status, reason: r.reason, detail: r.detail, method: r.method, weaker: r.weaker ? 1 : 0, reference: r.reference, at: r.at,
    }).execute();
    return rec;
  }

  async history(deviceId: string, limit = 100): Promise<AttestResultRecord[]> {
    const rows = await this.#store.db.selectFrom('attest_results').selectAll().where('device_id', '=', deviceId).orderBy('at', 'desc').orderBy('seq', 'desc').limit(Math.min(Math.max(1, limit), 1000)).execute();
    return rows.map((r) => ({
      id: r.id, deviceId: r.device_id, status: r.status as AttestResultRecord['status'], reason: r.reason, detail: r.detail,
      method: r.method as AttestMethod, weaker: Number(r.weaker) === 1, reference: r.reference, at: r.at,
    }));
  }

  async markDue(tx: Tx, deviceId: string, actor: string, at: Date): Promise<void> {
    await tx.deleteFrom('attest_due').where('device_id', '=', deviceId).execute();
    await tx.insertInto('attest_due').values({ device_id: deviceId, requested_by: actor, requested_at: at.toISOString() }).execute();
  }

  async due(deviceId: string): Promise<{ requestedBy: string; requestedAt: string } | undefined> {
    const r = await this.#store.db.selectFrom('attest_due').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return r === undefined ? undefined : { requestedBy: r.requested_by, requestedAt: r.requested_at };
  }

  async clearDue(tx: Tx, deviceId: string): Promise<void> {
    await tx.deleteFrom('attest_due').where('device_id', '=', deviceId).execute();
  }
}
