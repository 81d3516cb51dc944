/**
 * The certificate authority as a stateful service: CA material on disk and in the store, device
 * issuance recorded with its audit entry, revocation with a CRL rebuilt in the same transaction (so
 * CRL and OCSP show a revocation the moment it commits), OCSP answers, and issuing-CA rotation with
 * an overlap in which old and new both verify.
 *
 * Key files live under <dataDir>/keys (0700) with mode 0600; the store holds certificates and a
 * signer reference, never key bytes, so a PKCS#11 signer can replace the file signer.
 */
import { mkdirSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, X509Certificate } from 'node:crypto';
import type { Store, Tx, CaRow } from '../store/index.js';
import { emitChange } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { FileSigner, openSigner, type Signer } from './signer.js';
import {
  createRootCaCert, createIssuingCaCert, createOcspSignerCert, createServerCert, issueDeviceCertificate,
  type CaCert, type IssuedCert,
} from './certs.js';
import { buildCrl } from './crl.js';
import { parseRevocationReason, type RevocationReason } from './revocation.js';
import { buildOcspResponse, ocspErrorResponse, parseOcspRequest, matchesIssuer } from './ocsp.js';
import { toPem, fromPem, sha256Hex } from './pem.js';
import { pkcs7CertsOnly } from './pkcs7.js';
import { IssuancePool } from './issue-pool.js';

export interface AuthorityOptions {
  dataDir: string;
  trustDomain: string;
  publicHost: string;
  pkiHttpPort: number;
  certLifetimeDays: number;
  crlNextUpdateHours: number;
  ocspValidityHours: number;
}

interface LoadedCa extends CaCert {
  row: CaRow;
}

function caId(role: string): string {
  return `${role}-${randomBytes(4).toString('hex')}`;
}

export class Authority {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #o: AuthorityOptions;
  #cas: LoadedCa[] = [];
  #loadedAt = '';

  constructor(store: Store, audit: AuditLog, clock: Clock, options: AuthorityOptions) {
    this.#store = store;
    this.#audit = audit;
    this.#clock = clock;
    this.#o = options;
  }

  get keysDir(): string {
    return join(this.#o.dataDir, 'keys');
  }

  /** The base URL of the plain-HTTP PKI endpoints (CRL, OCSP, CA issuers), as devices reach it. */
  get pkiBaseUrl(): string {
    const host = this.#o.publicHost.includes(':') ? `[${this.#o.publicHost}]` : this.#o.publicHost;
    return `http://${host}:${this.#o.pkiHttpPort}`;
  }

  /**
   * Creates the root CA, the issuing CA and its OCSP signer. Refuses when any CA material already
   * exists, in the store or on disk: a CA is never silently replaced.
   */
  async init(actor: string): Promise<{ rootId: string; issuingId: string }> {
    const existing = await this.#store.db.selectFrom('cas').select('id').limit(1).execute();
    const keysOnDisk = existsSync(this.keysDir) && readdirSync(this.keysDir).some((f) => /^(root|issuing|ocsp)-/.test(f));
    if (existing.length > 0 || keysOnDisk) {
      throw new ZetaError('ZETA_ERR_CA_EXISTS', `a CA already exists in ${this.#o.dataDir}; refusing to overwrite it`);
    }
    mkdirSync(this.keysDir, { recursive: true, mode: 0o700 });
    const now = this.#clock.now();
    const rootId = caId('root');
    const rootSigner = FileSigner.generate(join(this.keysDir, `${rootId}.key.pem`), 'p256');
    const rootDer = createRootCaCert({ signer: rootSigner, trustDomain: this.#o.trustDomain, now });
    const root: CaCert = { id: rootId, certDer: rootDer, signer: rootSigner };
    const issuing = this.#makeIssuing(root, now);
    await this.#store.writeTx(async (tx) => {
      await tx.insertInto('cas').values(this.#row(rootId, 'root', null, rootDer, `file:keys/${rootId}.key.pem`, 'active', now)).execute();
      await this.#insertIssuing(tx, issuing, rootId, now);
      await this.#audit.append(tx, { actor, action: 'ca.init', subject: issuing.id, details: { root: rootId, issuing: issuing.id, trustDomain: this.#o.trustDomain, rootFingerprint: sha256Hex(rootDer) } });
    });
    await this.load();
    return { rootId, issuingId: issuing.id };
  }

  #makeIssuing(root: CaCert, now: Date): { id: string; der: Buffer; ocspId: string; ocspDer: Buffer } {
    const id = caId('issuing');
    const signer = FileSigner.generate(join(this.keysDir, `${id}.key.pem`), 'p256');
    const der = createIssuingCaCert({ root, signer, trustDomain: this.#o.trustDomain, now });
    const ocspId = caId('ocsp');
    const ocspSigner = FileSigner.generate(join(this.keysDir, `${ocspId}.key.pem`), 'p256');
    const ocspDer = createOcspSignerCert({ issuer: { id, certDer: der, signer }, signer: ocspSigner, now, validityDays: 90 });
    return { id, der, ocspId, ocspDer };
  }

  async #insertIssuing(tx: Tx, i: { id: string; der: Buffer; ocspId: string; ocspDer: Buffer }, rootId: string, now: Date): Promise<void> {
    await tx.insertInto('cas').values(this.#row(i.id, 'issuing', rootId, i.der, `file:keys/${i.id}.key.pem`, 'active', now)).execute();
    await tx.insertInto('cas').values(this.#row(i.ocspId, 'ocsp', i.id, i.ocspDer, `file:keys/${i.ocspId}.key.pem`, 'active', now)).execute();
  }

  #row(id: string, role: string, parent: string | null, der: Buffer, keyRef: string, status: string, now: Date): CaRow {
    const times = certTimes(der);
    return {
      id, role, parent_id: parent, cert_pem: toPem(der, 'CERTIFICATE'), key_ref: keyRef, status,
      not_before: times.notBefore, not_after: times.notAfter, created_at: now.toISOString(),
    };
  }

  /** Loads CA material from the store; call again after a rotation in another process. */
  async load(): Promise<void> {
    const rows = await this.#store.db.selectFrom('cas').selectAll().where('status', '!=', 'retired').orderBy('created_at').execute();
    if (rows.length === 0) throw new ZetaError('ZETA_ERR_CA_MISSING', `no CA in ${this.#o.dataDir}; run \`zeta init --data ${this.#o.dataDir}\` first`);
    this.#cas = rows.map((row) => ({ id: row.id, row, certDer: fromPem(row.cert_pem, 'CERTIFICATE'), signer: openSigner(row.key_ref, this.#o.dataDir) }));
    this.#loadedAt = this.#clock.now().toISOString();
  }

  get loadedAt(): string {
    return this.#loadedAt;
  }

  #byRole(role: string): LoadedCa[] {
    return this.#cas.filter((c) => c.row.role === role);
  }

  get root(): LoadedCa {
    const r = this.#byRole('root')[0];
    if (r === undefined) throw new ZetaError('ZETA_ERR_CA_MISSING', 'no root CA loaded');
    return r;
  }

  /** The one issuing CA that signs new certificates. */
  get activeIssuing(): LoadedCa {
    const active = this.#byRole('issuing').filter((c) => c.row.status === 'active');
    const newest = active[active.length - 1];
    if (newest === undefined) throw new ZetaError('ZETA_ERR_CA_MISSING', 'no active issuing CA');
    return newest;
  }

  /** Issuing CAs whose certificates still verify: the active one and any retiring during overlap. */
  get verifyingIssuers(): LoadedCa[] {
    return this.#byRole('issuing');
  }

  #ocspSignerFor(issuerId: string): LoadedCa | undefined {
    return this.#cas.filter((c) => c.row.role === 'ocsp' && c.row.parent_id === issuerId).at(-1);
  }

  /** SHA-256 of the root certificate (hex), the pin devices check at bootstrap; undefined before load. */
  get rootFingerprint(): string | undefined {
    const r = this.#byRole('root')[0];
    return r === undefined ? undefined : sha256Hex(r.certDer);
  }

  /** PEM bundle devices and clients trust: the root(s). */
  trustBundlePem(): string {
    return this.#byRole('root').map((c) => c.row.cert_pem).join('');
  }

  /** PEM chain of every verifying issuing CA plus the root, for TLS `ca` and EST cacerts. */
  chainPem(): string {
    return [...this.verifyingIssuers, ...this.#byRole('root')].map((c) => c.row.cert_pem).join('');
  }

  /** EST /cacerts: RFC 7030 §4.1.3 certs-only PKCS#7 of the current CA certificates. */
  cacertsPkcs7(): Buffer {
    return pkcs7CertsOnly([...this.verifyingIssuers, ...this.#byRole('root')].map((c) => c.certDer));
  }

  caIssuersDer(issuerId: string): Buffer | undefined {
    return this.#cas.find((c) => c.id === issuerId && c.row.role === 'issuing')?.certDer;
  }

  /**
   * Issues a device certificate inside the caller's transaction and records it. The pipeline
   * (authorize → constraints → template → sign → re-verify) runs in issueDeviceCertificate.
   */
  async issueForDevice(tx: Tx, deviceId: string, spki: Buffer, now: Date, authorize?: () => void): Promise<IssuedCert> {
    const issuer = this.activeIssuing;
    const notBefore = new Date(now.getTime() - 60_000); // RFC 5280 allows; tolerates device clock skew
    const wanted = new Date(now.getTime() + this.#o.certLifetimeDays * 86400_000);
    const issuerNotAfter = new Date(issuer.row.not_after);
    const notAfter = wanted < issuerNotAfter ? wanted : issuerNotAfter;
    const base = this.pkiBaseUrl;
    const cert = issueDeviceCertificate({
      deviceId, trustDomain: this.#o.trustDomain, spki, notBefore, notAfter,
      ocspUrl: `${base}/ocsp`, caIssuersUrl: `${base}/ca/${issuer.id}.der`, crlUrl: `${base}/crl/${issuer.id}.crl`,
    }, issuer, authorize === undefined ? undefined : () => authorize());
    await tx.insertInto('certificates').values({
      serial: cert.serialHex, device_id: deviceId, issuer_id: issuer.id, fingerprint_sha256: cert.fingerprintSha256,
      spki_sha256: cert.spkiSha256, not_before: cert.notBefore.toISOString(), not_after: cert.notAfter.toISOString(),
      cert_pem: cert.pem, revoked_at: null, revocation_reason: null, created_at: now.toISOString(),
    }).execute();
    await emitChange(tx, now, 'cert.issued', deviceId, { serial: cert.serialHex, notAfter: cert.notAfter.toISOString() });
    return cert;
  }

  /**
   * Worker threads issuing from the active issuing CA, for bulk re-issue (IssuancePool: the same
   * pipeline per certificate, authorize on this thread). Records nothing: the caller stores what it
   * keeps. Close it when done.
   */
  openIssuancePool(threads?: number): Promise<IssuancePool> {
    const issuer = this.activeIssuing;
    return IssuancePool.open({ id: issuer.id, certDer: issuer.certDer, keyRef: issuer.row.key_ref, baseDir: this.#o.dataDir }, threads === undefined ? {} : { threads });
  }

  checkReason(reason: string): void {
    parseRevocationReason(reason);
  }

  /** CertificateRevoker for the inventory: revokes, then rebuilds the CRLs in the same transaction. */
  async revokeAllFor(tx: Tx, deviceId: string, reason: string, at: Date): Promise<string[]> {
    const r: RevocationReason = parseRevocationReason(reason);
    const live = await tx.selectFrom('certificates').select(['serial', 'issuer_id']).where('device_id', '=', deviceId).where('revoked_at', 'is', null).execute();
    if (live.length === 0) return [];
    await tx.updateTable('certificates').set({ revoked_at: at.toISOString(), revocation_reason: r })
      .where('device_id', '=', deviceId).where('revoked_at', 'is', null).execute();
    for (const issuerId of new Set(live.map((l) => l.issuer_id))) await this.#rebuildCrl(tx, issuerId, at);
    await emitChange(tx, at, 'cert.revoked', deviceId, { serials: live.map((l) => l.serial), reason: r });
    return live.map((l) => l.serial);
  }

  async #rebuildCrl(tx: Tx, issuerId: string, now: Date): Promise<Buffer> {
    const issuer = this.#cas.find((c) => c.id === issuerId);
    if (issuer === undefined) throw new ZetaError('ZETA_ERR_CA_MISSING', `issuer ${issuerId} is not loaded`);
    const revoked = await tx.selectFrom('certificates').select(['serial', 'revoked_at', 'revocation_reason'])
      .where('issuer_id', '=', issuerId).where('revoked_at', 'is not', null).orderBy('serial').execute();
    const prev = await tx.selectFrom('crl_state').select('number').where('issuer_id', '=', issuerId).executeTakeFirst();
    const number = (prev?.number ?? 0) + 1;
    const nextUpdate = new Date(now.getTime() + this.#o.crlNextUpdateHours * 3600_000);
    const der = buildCrl({
      issuer, number, thisUpdate: now, nextUpdate,
      revoked: revoked.map((c) => ({ serialHex: c.serial, revokedAt: new Date(c.revoked_at ?? now.toISOString()), reason: (c.revocation_reason ?? 'unspecified') as RevocationReason })),
    });
    const values = { issuer_id: issuerId, number, this_update: now.toISOString(), next_update: nextUpdate.toISOString(), crl_der_b64: der.toString('base64') };
    if (prev === undefined) await tx.insertInto('crl_state').values(values).execute();
    else await tx.updateTable('crl_state').set(values).where('issuer_id', '=', issuerId).execute();
    return der;
  }

  /**
   * The current CRL of an issuer. Rebuilt when none exists yet or when less than a quarter of its
   * validity is left, so relying parties never hold one past nextUpdate.
   */
  async crl(issuerId: string): Promise<Buffer | undefined> {
    if (!this.#cas.some((c) => c.id === issuerId && c.row.role === 'issuing')) return undefined;
    const now = this.#clock.now();
    const st = await this.#store.db.selectFrom('crl_state').selectAll().where('issuer_id', '=', issuerId).executeTakeFirst();
    const margin = (this.#o.crlNextUpdateHours * 3600_000) / 4;
    if (st !== undefined && new Date(st.next_update).getTime() - now.getTime() > margin) return Buffer.from(st.crl_der_b64, 'base64');
    return this.#store.writeTx((tx) => this.#rebuildCrl(tx, issuerId, now));
  }

  /** RFC 6960 responder: answers for every issuer it knows; anything else is `unknown`. */
  async ocsp(requestDer: Buffer): Promise<Buffer> {
    let req: ReturnType<typeof parseOcspRequest>;
    try {
      req = parseOcspRequest(requestDer);
    } catch {
      return ocspErrorResponse('malformedRequest');
    }
    const now = this.#clock.now();
    const nextUpdate = new Date(now.getTime() + this.#o.ocspValidityHours * 3600_000);
    const first = req.certIds[0];
    if (first === undefined) return ocspErrorResponse('malformedRequest');
    // One responder per response: the issuer of the first certId answers for all of its ids.
    const issuer = this.verifyingIssuers.find((i) => matchesIssuer(first, i));
    if (issuer === undefined) return ocspErrorResponse('unauthorized');
    const responder = this.#ocspSignerFor(issuer.id) ?? issuer;
    const responses = [];
    for (const certId of req.certIds) {
      if (!matchesIssuer(certId, issuer)) {
        responses.push({ certId, status: 'unknown' as const, thisUpdate: now, nextUpdate });
        continue;
      }
      const row = await this.#store.db.selectFrom('certificates').select(['revoked_at', 'revocation_reason', 'issuer_id'])
        .where('serial', '=', certId.serialHex).executeTakeFirst();
      if (row === undefined || row.issuer_id !== issuer.id) {
        responses.push({ certId, status: 'unknown' as const, thisUpdate: now, nextUpdate });
      } else if (row.revoked_at !== null) {
        responses.push({ certId, status: 'revoked' as const, revokedAt: new Date(row.revoked_at), reason: (row.revocation_reason ?? 'unspecified') as RevocationReason, thisUpdate: now, nextUpdate });
      } else {
        responses.push({ certId, status: 'good' as const, thisUpdate: now, nextUpdate });
      }
    }
    return buildOcspResponse({
      responder, includeCerts: responder === issuer ? [] : [responder.certDer], responses,
      ...(req.nonce === undefined ? {} : { nonce: req.nonce }), producedAt: now,
    });
  }

  /** Status of one certificate, for the reenroll check and the gateway. */
  async certificateStatus(serialHex: string): Promise<{ deviceId: string; revoked: boolean; notAfter: string; fingerprint: string } | undefined> {
    const row = await this.#store.db.selectFrom('certificates').select(['device_id', 'revoked_at', 'not_after', 'fingerprint_sha256']).where('serial', '=', serialHex).executeTakeFirst();
    return row === undefined ? undefined : { deviceId: row.device_id, revoked: row.revoked_at !== null, notAfter: row.not_after, fingerprint: row.fingerprint_sha256 };
  }

  /**
   * Rotates the issuing CA: a new issuing CA (and OCSP signer) under the same root becomes active;
   * the old one turns `retiring` — it issues nothing more but still verifies, answers OCSP and
   * publishes its CRL until its last certificate expires (then `retireExpired` retires it).
   */
  async rotateIssuing(actor: string): Promise<{ newIssuingId: string; retiringId: string }> {
    const now = this.#clock.now();
    const old = this.activeIssuing;
    const root = this.root;
    const next = this.#makeIssuing(root, now);
    await this.#store.writeTx(async (tx) => {
      await tx.updateTable('cas').set({ status: 'retiring' }).where('id', '=', old.id).execute();
      await this.#insertIssuing(tx, next, root.id, now);
      await this.#audit.append(tx, { actor, action: 'ca.rotate', subject: next.id, details: { retiring: old.id, active: next.id, fingerprint: sha256Hex(next.der) } });
      await emitChange(tx, now, 'ca.rotated', next.id, { retiring: old.id });
    });
    await this.load();
    return { newIssuingId: next.id, retiringId: old.id };
  }

  /** Retires issuing CAs in `retiring` whose certificates have all expired. */
  async retireExpired(actor: string): Promise<string[]> {
    const now = this.#clock.now().toISOString();
    const retired: string[] = [];
    for (const ca of this.#byRole('issuing').filter((c) => c.row.status === 'retiring')) {
      const live = await this.#store.db.selectFrom('certificates').select('serial').where('issuer_id', '=', ca.id).where('not_after', '>', now).limit(1).execute();
      if (live.length > 0) continue;
      await this.#store.writeTx(async (tx) => {
        await tx.updateTable('cas').set({ status: 'retired' }).where((eb) => eb.or([eb('id', '=', ca.id), eb('parent_id', '=', ca.id)])).execute();
        await this.#audit.append(tx, { actor, action: 'ca.retire', subject: ca.id, details: {} });
        await emitChange(tx, new Date(now), 'ca.rotated', ca.id, { retired: ca.id });
      });
      retired.push(ca.id);
    }
    if (retired.length > 0) await this.load();
    return retired;
  }

  /**
   * The TLS certificate of this server (API, EST, and later the MQTT gateway), from the active
   * issuing CA, naming the configured host names plus localhost and 127.0.0.1. Kept in
   * <dataDir>/tls and reissued when missing, near expiry, or from a retired issuer.
   */
  serverCertificate(names: string[], ips: string[]): { keyPem: string; certPem: string; chainPem: string } {
    const dir = join(this.#o.dataDir, 'tls');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyPath = join(dir, 'server.key.pem');
    const signer: Signer = existsSync(keyPath) ? FileSigner.load(keyPath) : FileSigner.generate(keyPath, 'p256');
    const der = createServerCert({ issuer: this.activeIssuing, spki: signer.publicKeySpki, dnsNames: names, ipAddresses: ips, now: this.#clock.now(), validityDays: 30 });
    return { keyPem: readFileSync(keyPath, 'utf8'), certPem: toPem(der, 'CERTIFICATE'), chainPem: this.activeIssuing.row.cert_pem };
  }
}

function certTimes(der: Buffer): { notBefore: string; notAfter: string } {
  const x = new X509Certificate(der);
  return { notBefore: new Date(x.validFrom).toISOString(), notAfter: new Date(x.validTo).toISOString() };
}
