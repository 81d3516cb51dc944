/**
 * Device attestation as a service of the control plane: AK enrollment (EK chain → credential
 * activation), nonces, quote verification, results into the history, the posture, the trust score,
 * the audit log and the change feed (`device.attestation_failed` for the response playbooks).
 * HTTP-free: the device routes (attest-routes.ts), the operator routes (routes-attest.ts) and the
 * CLI on --data all call this.
 */
import { X509Certificate, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ZetaConfig } from '../common/config.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { emitChange, type Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Device, Inventory } from '../inventory/index.js';
import { splitPemCerts } from '../pki/index.js';
import { trustScore, type TrustInput } from '../monitor/index.js';
import {
  ACTIVATION_TTL_MS,
  AttestationRecords,
  DEFAULT_REQUIRED_PCRS,
  DbReferenceStore,
  MAX_IMPORTED_REFERENCES,
  NonceRegistry,
  encodeTpm2ToolsCredential,
  finishAkActivation,
  parseReferenceValues,
  startAkActivation,
  verifyAttestation,
  type AttestKeyRecord,
  type AttestMethod,
  type AttestationResult,
  type AttestResultRecord,
  type PcrValues,
  type PendingActivation,
  type ReferenceValues,
  type StoredReference,
} from '../attest/index.js';

/** What the device gets back: the status and the stable reason, never the operator detail. */
export interface AttestationOutcome {
  status: 'verified' | 'failed' | 'unknown';
  reason: string | null;
  at: string;
  method: AttestMethod;
  weaker: boolean;
}

/** The posture entry `zeta device show --json` reports. */
export interface AttestationPosture {
  status: 'verified' | 'failed' | 'unknown';
  reason: string | null;
  at: string;
  method: AttestMethod;
  weaker: boolean;
  reference?: string;
  /** What is TPM-resident: the AK (TPM method); the TLS key never is (see src/attest/README.md). */
  akTpmResident: boolean;
  tlsKeyTpmResident: false;
}

/** Bounds on what a device sends (STYLE: size before structure before crypto before state). */
const LIMITS = { tpmPublic: 2048, ekCert: 8192, ekChain: 4, quote: 2048, signature: 2048, eventLog: 4 * 1024 * 1024, pcrs: 24, softwareKeyPem: 4096 } as const;
/** Outstanding AK activations kept in memory; the oldest is dropped beyond this. */
const MAX_PENDING_ACTIVATIONS = 10_000;

function b64(v: unknown, what: string, max: number): Buffer {
  if (typeof v !== 'string' || v.length === 0 || v.length > Math.ceil((max * 4) / 3) + 4 || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `${what}: base64 of at most ${max} bytes required`);
  }
  return Buffer.from(v, 'base64');
}

function hexField(v: unknown, what: string, max: number): Buffer {
  if (typeof v !== 'string' || v.length === 0 || v.length > max * 2 || !/^([0-9a-f]{2})+$/.test(v)) throw new ZetaError('ZETA_ERR_VALIDATION', `${what}: lower-case hex of at most ${max} bytes required`);
  return Buffer.from(v, 'hex');
}

function objectBody(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ZetaError('ZETA_ERR_VALIDATION', 'a JSON object body is required');
  return v as Record<string, unknown>;
}

/** PCR values as sent: { sha256: { "0": "<hex>", ... } }; only SHA-2 banks. */
function parsePcrs(v: unknown): PcrValues {
  const banks = objectBody(v);
  const out: Record<string, Record<number, Buffer>> = {};
  let count = 0;
  for (const [alg, values] of Object.entries(banks)) {
    if (!['sha1', 'sha256', 'sha384', 'sha512'].includes(alg)) throw new ZetaError('ZETA_ERR_VALIDATION', `pcrs: unknown bank ${alg.slice(0, 16)}`);
    const bank: Record<number, Buffer> = {};
    for (const [idx, hex] of Object.entries(objectBody(values))) {
      if (!/^(1?[0-9]|2[0-3])$/.test(idx)) throw new ZetaError('ZETA_ERR_VALIDATION', `pcrs.${alg}: PCR index 0-23 required`);
      if (++count > LIMITS.pcrs * 4) throw new ZetaError('ZETA_ERR_VALIDATION', 'pcrs: too many values');
      bank[Number(idx)] = hexField(hex, `pcrs.${alg}.${idx}`, 64);
    }
    out[alg] = bank;
  }
  return out as PcrValues;
}

/** Loads PEM roots from a file or every *.pem / *.crt in a directory. */
export function loadManufacturerRoots(path: string): X509Certificate[] {
  if (path === '') return [];
  let files: string[];
  try {
    files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => /\.(pem|crt|cer)$/i.test(f)).sort().map((f) => join(path, f)) : [path];
  } catch (e) {
    throw new ZetaError('ZETA_ERR_CONFIG', `attestManufacturerRoots: cannot read ${path}`, { cause: e });
  }
  const roots: X509Certificate[] = [];
  for (const f of files) {
    for (const der of splitPemCerts(readFileSync(f, 'utf8'))) {
      try {
        roots.push(new X509Certificate(der));
      } catch (e) {
        throw new ZetaError('ZETA_ERR_CONFIG', `attestManufacturerRoots: ${f} holds a certificate that does not parse`, { cause: e });
      }
    }
  }
  return roots;
}

/** The trust-score identity of a device from its posture (used by the monitor's alert path too). */
export function trustIdentity(device: Device, now: Date): TrustInput['identity'] {
  const a = (device.posture as { attestation?: Partial<AttestationPosture> }).attestation;
  const status = a?.status ?? 'none';
  return {
    certValid: device.certificate !== null && new Date(device.certificate.notAfter) > now,
    keyType: 'ec',
    attestation: status === 'verified' || status === 'failed' || status === 'unknown' ? status : 'none',
    tpmResident: a?.akTpmResident === true,
    ...(a?.method === undefined ? {} : { attestationMethod: a.method }),
  };
}

export class AttestationService {
  readonly references: DbReferenceStore;
  readonly records: AttestationRecords;
  readonly nonces: NonceRegistry;
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #inventory: Inventory;
  readonly #clock: Clock;
  readonly #config: ZetaConfig;
  readonly #pending = new Map<string, { deviceId: string; certSerial: string | null; pending: PendingActivation }>();
  #roots: X509Certificate[] | undefined;

  constructor(o: { store: Store; audit: AuditLog; inventory: Inventory; clock: Clock; config: ZetaConfig }) {
    this.#store = o.store;
    this.#audit = o.audit;
    this.#inventory = o.inventory;
    this.#clock = o.clock;
    this.#config = o.config;
    this.references = new DbReferenceStore(o.store, () => o.clock.now());
    this.records = new AttestationRecords(o.store);
    this.nonces = new NonceRegistry({ clock: o.clock, ttlMs: o.config.attestNonceTtlSeconds * 1000 });
  }

  get manufacturerRoots(): X509Certificate[] {
    this.#roots ??= loadManufacturerRoots(this.#config.attestManufacturerRoots);
    return this.#roots;
  }

  // ---- device side ----

  /**
   * Step 1 of TPM AK enrollment: the EK certificate must chain to a configured manufacturer root
   * (fail closed when none is configured), the AK must be a restricted TPM signing key; the answer
   * is a credential only the TPM holding that EK can activate, and only for that AK name.
   */
  async startActivation(deviceId: string, certSerial: string | null, body: unknown, behavior?: TrustInput['behavior']): Promise<{ activationId: string; credential: string; expiresAt: string }> {
    const b = objectBody(body);
    const ekPublic = b64(b.ekPublic, 'ekPublic', LIMITS.tpmPublic);
    const akPublic = b64(b.akPublic, 'akPublic', LIMITS.tpmPublic);
    const ekCert = b.ekCert === undefined ? undefined : b64(b.ekCert, 'ekCert', LIMITS.ekCert);
    if (b.ekChain !== undefined && (!Array.isArray(b.ekChain) || b.ekChain.length > LIMITS.ekChain)) throw new ZetaError('ZETA_ERR_VALIDATION', `ekChain: at most ${LIMITS.ekChain} certificates`);
    const ekChain = ((b.ekChain ?? []) as unknown[]).map((c, i) => b64(c, `ekChain[${i}]`, LIMITS.ekCert));
    const now = this.#clock.now();
    const r = startAkActivation({ ekPublic, akPublic, ...(ekCert === undefined ? {} : { ekCert }), ekIntermediates: ekChain, manufacturerRoots: this.manufacturerRoots, at: now });
    if (!r.ok) {
      await this.#record(deviceId, 'tpm', { status: 'failed', reason: r.reason, detail: r.detail, at: now, measurements: null, tpmResident: false }, 'attest.ak-enroll', behavior);
      throw new ZetaError('ZETA_ERR_ATTESTATION_FAILED', `AK enrollment refused: ${r.reason}`, { internal: r.detail, fields: { reason: r.reason } });
    }
    if (this.#pending.size >= MAX_PENDING_ACTIVATIONS) {
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
    const activationId = randomBytes(16).toString('hex');
    this.#pending.set(activationId, { deviceId, certSerial, pending: r.pending });
    return { activationId, credential: encodeTpm2ToolsCredential(r.credential).toString('base64'), expiresAt: new Date(now.getTime() + ACTIVATION_TTL_MS).toISOString() };
  }

  /** Step 2: the secret TPM2_ActivateCredential released proves the AK is in the EK's TPM. */
  async finishActivation(deviceId: string, body: unknown, actor: string, behavior?: TrustInput['behavior']): Promise<{ method: 'tpm'; akName: string; ekName: string; ekTrust: unknown; boundAt: string }> {
    const b = objectBody(body);
    if (typeof b.activationId !== 'string' || !/^[0-9a-f]{32}$/.test(b.activationId)) throw new ZetaError('ZETA_ERR_VALIDATION', 'activationId: the id from the activation challenge');
    const secret = b64(b.secret, 'secret', 64);
    const p = this.#pending.get(b.activationId);
    // Single use, and only by the device it was issued to.
    if (p === undefined || p.deviceId !== deviceId) throw new ZetaError('ZETA_ERR_NOT_FOUND', 'no such AK activation for this device; start again');
    this.#pending.delete(b.activationId);
    const now = this.#clock.now();
    const r = finishAkActivation(p.pending, secret, now);
    if (!r.ok) {
      await this.#record(deviceId, 'tpm', { status: 'failed', reason: r.reason, detail: r.detail, at: now, measurements: null, tpmResident: false }, 'attest.ak-enroll', behavior);
      throw new ZetaError('ZETA_ERR_ATTESTATION_FAILED', `AK enrollment refused: ${r.reason}`, { internal: r.detail, fields: { reason: r.reason } });
    }
    // INVARIANT: the EK is the TPM's identity. A new AK in the same TPM (agent reinstalled) may be
    // bound; an AK in another TPM may not, or a stolen TLS key plus any genuine TPM would take over
    // the device's attestation. Moving a device to new hardware is an operator's reset.
    const existing = await this.records.key(deviceId);
    if (existing !== undefined && !(existing.method === 'tpm' && existing.ekName === r.bound.ekName)) {
      await this.#record(deviceId, 'tpm', { status: 'failed', reason: 'ak-not-bound', detail: `The device is bound to ${existing.method === 'tpm' ? `EK ${existing.ekName ?? '?'}` : 'a software key'}; an AK under EK ${r.bound.ekName} needs an operator's reset first.`, at: now, measurements: null, tpmResident: false }, 'attest.ak-enroll', behavior);
      throw new ZetaError('ZETA_ERR_CONFLICT', 'this device is bound to another attestation key; an operator must reset its attestation (zeta device attest --reset) before a new TPM can be bound');
    }
    const rec: AttestKeyRecord = {
      deviceId, method: 'tpm', akName: r.bound.akName, akPublic: r.bound.akPublic.toString('base64'), ekName: r.bound.ekName,
      ekTrust: r.bound.ekTrust, certSerial: p.certSerial, boundAt: now.toISOString(),
    };
    await this.#store.writeTx(async (tx) => {
      await this.records.putKey(tx, rec);
      await this.#audit.append(tx, { actor, action: 'attest.ak-enroll', subject: deviceId, details: { method: 'tpm', akName: rec.akName, ekName: rec.ekName, ekTrust: rec.ekTrust, certSerial: rec.certSerial } });
    });
    return { method: 'tpm', akName: r.bound.akName, ekName: r.bound.ekName, ekTrust: r.bound.ekTrust, boundAt: rec.boundAt };
  }

  /**
   * A device without a TPM registers a software attestation key (weaker). Refused for a device
   * that already has a TPM AK: a downgrade is an operator's decision, not the device's.
   */
  async registerSoftwareKey(deviceId: string, certSerial: string | null, body: unknown, actor: string): Promise<{ method: 'software'; boundAt: string }> {
    const b = objectBody(body);
    if (typeof b.publicKey !== 'string' || b.publicKey.length > LIMITS.softwareKeyPem) throw new ZetaError('ZETA_ERR_VALIDATION', 'publicKey: an SPKI PEM public key');
    let pem: string;
    try {
      const k = createPublicKey(b.publicKey);
      if (k.asymmetricKeyType !== 'ec' || !['prime256v1', 'secp384r1'].includes(k.asymmetricKeyDetails?.namedCurve ?? '')) throw new Error('not ECDSA P-256/P-384');
      pem = k.export({ type: 'spki', format: 'pem' }).toString();
    } catch (e) {
      throw new ZetaError('ZETA_ERR_KEY_REFUSED', 'publicKey: an ECDSA P-256 or P-384 SPKI PEM key is required', { internal: String(e) });
    }
    const existing = await this.records.key(deviceId);
    if (existing?.method === 'tpm') throw new ZetaError('ZETA_ERR_CONFLICT', 'this device has a TPM attestation key; a software key cannot replace it');
    // Idempotent for the same key; another key would let whoever holds the TLS key re-key the device.
    if (existing !== undefined && existing.akPublic !== pem) throw new ZetaError('ZETA_ERR_CONFLICT', 'this device already has another software attestation key; an operator must reset its attestation first');
    const now = this.#clock.now();
    await this.#store.writeTx(async (tx) => {
      await this.records.putKey(tx, { deviceId, method: 'software', akName: null, akPublic: pem, ekName: null, ekTrust: null, certSerial, boundAt: now.toISOString() });
      await this.#audit.append(tx, { actor, action: 'attest.ak-enroll', subject: deviceId, details: { method: 'software', certSerial } });
    });
    return { method: 'software', boundAt: now.toISOString() };
  }

  /** A fresh single-use nonce, the PCRs to quote, and whether an operator asked for this round. */
  async challenge(deviceId: string): Promise<{ nonce: string; pcrs: readonly number[]; expiresInSeconds: number; due: boolean; method: AttestMethod | null }> {
    const key = await this.records.key(deviceId);
    const due = await this.records.due(deviceId);
    return { nonce: this.nonces.issue(deviceId).toString('hex'), pcrs: DEFAULT_REQUIRED_PCRS, expiresInSeconds: this.#config.attestNonceTtlSeconds, due: due !== undefined, method: key?.method ?? null };
  }

  /** Verifies one attestation round and records the result everywhere it matters. */
  async submit(deviceId: string, body: unknown, behavior?: TrustInput['behavior']): Promise<AttestationOutcome> {
    const b = objectBody(body);
    const nonce = hexField(b.nonce, 'nonce', 64);
    const quote = b64(b.quote, 'quote', LIMITS.quote);
    const signature = b64(b.signature, 'signature', LIMITS.signature);
    const eventLog = b64(b.eventLog, 'eventLog', LIMITS.eventLog);
    const pcrs = parsePcrs(b.pcrs);
    const device = await this.#inventory.get(deviceId);
    const key = await this.records.key(deviceId);
    if (key === undefined) throw new ZetaError('ZETA_ERR_STATE', 'this device has no attestation key; enroll one first (zeta agent enroll --tpm, or zeta agent attest for a software key)');
    const boundPublic = Buffer.from(key.akPublic, 'base64');
    // The device may name the AK it quoted with; one other than the bound AK is refused (ak-not-bound).
    const named = b.akPublic === undefined || key.method !== 'tpm' ? boundPublic : b64(b.akPublic, 'akPublic', LIMITS.tpmPublic);
    const ak = key.method === 'tpm'
      ? { kind: 'tpm' as const, akPublic: named, bound: key.akName === null || key.ekName === null || key.ekTrust === null ? null : { akName: key.akName, akPublic: boundPublic, ekName: key.ekName, ekTrust: key.ekTrust, boundAt: new Date(key.boundAt) } }
      : { kind: 'software' as const, publicKey: createPublicKey(key.akPublic) };
    const result = await verifyAttestation({
      deviceId, model: device.model ?? device.type, firmwareVersion: device.firmware ?? 'unknown', ak, quote, signature, nonce, pcrs, eventLog,
    }, { references: this.references, tofu: this.#config.attestTofu, clock: this.#clock, nonces: this.nonces });
    return this.#record(deviceId, key.method, result, 'attest.quote', behavior);
  }

  async #record(deviceId: string, method: AttestMethod, r: AttestationResult, action: string, behavior?: TrustInput['behavior']): Promise<AttestationOutcome> {
    const at = r.at.toISOString();
    const weaker = method === 'software';
    await this.#store.writeTx(async (tx) => {
      await this.records.addResult(tx, { deviceId, status: r.status, reason: r.reason ?? null, detail: r.detail ?? null, method, weaker, reference: r.reference ?? null, at });
      await this.records.clearDue(tx, deviceId);
      await this.#audit.append(tx, {
        actor: `device:${deviceId}`, action, outcome: r.status === 'failed' ? 'refused' : 'ok', subject: deviceId,
        details: { status: r.status, method, ...(r.reason === undefined ? {} : { reason: r.reason }), ...(r.detail === undefined ? {} : { detail: r.detail }), ...(r.reference === undefined ? {} : { reference: r.reference }) },
      });
      // The response playbooks key on this event (quarantine, notify); the posture change follows.
      if (r.status === 'failed') await emitChange(tx, r.at, 'device.attestation_failed', deviceId, { reason: r.reason ?? null, method, at });
    });
    const posture: AttestationPosture = {
      status: r.status, reason: r.reason ?? null, at, method, weaker, ...(r.reference === undefined ? {} : { reference: r.reference }),
      akTpmResident: method === 'tpm', tlsKeyTpmResident: false,
    };
    const device = await this.#inventory.get(deviceId);
    const withAttestation = { ...device, posture: { ...device.posture, attestation: posture } };
    const now = this.#clock.now();
    const t = trustScore({ identity: trustIdentity(withAttestation, now), posture: {}, behavior: behavior ?? { recentScores: [], nowMs: now.getTime() } });
    await this.#inventory.setPosture(deviceId, { attestation: posture, trustScore: t.score, trustFactors: t.factors, trustUpdatedAt: now.toISOString() });
    return { status: r.status, reason: r.reason ?? null, at, method, weaker };
  }

  // ---- operator side ----

  /** On demand: the device's next challenge says `due`, and its agent attests at once. */
  async requestAttestation(deviceId: string, actor: string): Promise<{ deviceId: string; due: true; requestedAt: string }> {
    await this.#inventory.get(deviceId);
    const now = this.#clock.now();
    await this.#store.writeTx(async (tx) => {
      await this.records.markDue(tx, deviceId, actor, now);
      await this.#audit.append(tx, { actor, action: 'attest.request', subject: deviceId, details: {} });
      await emitChange(tx, now, 'device.attestation_requested', deviceId, {});
    });
    return { deviceId, due: true, requestedAt: now.toISOString() };
  }

  /**
   * Forget a device's attestation key and TOFU pin (new hardware, a wiped agent): its next
   * enrollment binds afresh and its next good attestation is pinned again. History is kept.
   */
  async reset(deviceId: string, actor: string): Promise<{ deviceId: string; reset: true }> {
    await this.#inventory.get(deviceId);
    const now = this.#clock.now();
    await this.#store.writeTx(async (tx) => {
      await tx.deleteFrom('attest_keys').where('device_id', '=', deviceId).execute();
      const unpinned = await this.references.unpinDevice(tx, deviceId);
      await this.#audit.append(tx, { actor, action: 'attest.reset', subject: deviceId, details: { unpinned } });
      await emitChange(tx, now, 'device.attestation_reset', deviceId, {});
    });
    return { deviceId, reset: true };
  }

  async history(deviceId: string, limit?: number): Promise<{ deviceId: string; key: Omit<AttestKeyRecord, 'akPublic'> | null; due: boolean; results: AttestResultRecord[] }> {
    await this.#inventory.get(deviceId);
    const key = await this.records.key(deviceId);
    const due = await this.records.due(deviceId);
    const results = await this.records.history(deviceId, limit);
    const { akPublic: _omit, ...keyInfo } = key ?? { akPublic: '' };
    return { deviceId, key: key === undefined ? null : (keyInfo as Omit<AttestKeyRecord, 'akPublic'>), due: due !== undefined, results };
  }

  async registerReference(ref: unknown, actor: string): Promise<ReferenceValues> {
    const v = parseReferenceValues(ref);
    await this.#store.writeTx(async (tx) => {
      await this.references.register(tx, v, 'registered', actor);
      await this.#audit.append(tx, { actor, action: 'attest.reference.register', subject: `${v.model}@${v.firmwareVersion}`, details: { model: v.model, firmwareVersion: v.firmwareVersion, alg: v.alg } });
    });
    return v;
  }

  /** All or nothing: every reference is validated before one is written. */
  async importReferences(input: unknown, actor: string): Promise<{ imported: number }> {
    const list = Array.isArray(input) ? input : (input as { references?: unknown } | null)?.references;
    if (!Array.isArray(list)) throw new ZetaError('ZETA_ERR_VALIDATION', 'a JSON array of reference values, or { "references": [...] }, is required');
    if (list.length > MAX_IMPORTED_REFERENCES) throw new ZetaError('ZETA_ERR_VALIDATION', `at most ${MAX_IMPORTED_REFERENCES} references per import`);
    const refs = list.map((r, i) => parseReferenceValues(r, `references[${i}]`));
    const seen = new Set<string>();
    for (const r of refs) {
      const k = JSON.stringify([r.model, r.firmwareVersion]);
      if (seen.has(k)) throw new ZetaError('ZETA_ERR_VALIDATION', `references: ${r.model} firmware ${r.firmwareVersion} appears twice`);
      seen.add(k);
    }
    await this.#store.writeTx(async (tx) => {
      for (const r of refs) await this.references.register(tx, r, 'imported', actor);
      await this.#audit.append(tx, { actor, action: 'attest.reference.import', subject: null, details: { count: refs.length, models: [...new Set(refs.map((r) => r.model))].slice(0, 50) } });
    });
    return { imported: refs.length };
  }

  listReferences(filter: { model?: string; deviceId?: string } = {}): Promise<StoredReference[]> {
    return this.references.list(filter);
  }
}
