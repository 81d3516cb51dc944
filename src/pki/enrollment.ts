/**
 * EST enrollment (RFC 7030) as a service, independent of HTTP: simpleenroll with a one-time token,
 * simplereenroll with the current certificate. Untrusted input is bounded and checked before any
 * state is touched (size → structure → key type → proof of possession → token/cert → state), the
 * identity always comes from the device record (never from the CSR), and every refusal is audited.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { Store, Tx } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import { ZetaError, isZetaError } from '../common/errors.js';
import { parseCsr } from './csr.js';
import type { Authority } from './authority.js';
import type { IssuedCert } from './certs.js';
import { encodeCertsOnly } from './pkcs7.js';

function spkiSha256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** What enrollment needs from the inventory (implemented there; injected to avoid a cycle). */
export interface DeviceDirectory {
  redeemEnrollmentToken(tx: Tx, deviceId: string | null, token: string, now: Date): Promise<{ id: string; state: string; segment?: string | null }>;
  getInTx(tx: Tx, deviceId: string): Promise<{ id: string; state: string } | undefined>;
  /** `current`: the device as read earlier in the same transaction (saves reading it again). */
  attachCertificate(tx: Tx, deviceId: string, cert: { serial: string; fingerprintSha256: string; notAfter: string }, now: Date,
    current?: { id: string; state: string; segment?: string | null }): Promise<void>;
}

/** Errors whose refusal is already in the audit log (so the HTTP layer does not record it twice). */
export const auditedRefusals = new WeakSet<object>();

export interface EnrollResult {
  deviceId: string;
  cert: IssuedCert;
  /** RFC 7030 §4.2.3 response body: certs-only PKCS#7 holding the issued certificate. */
  pkcs7: Buffer;
}

const SPIFFE_DEVICE = /^spiffe:\/\/([^/]+)\/device\/([a-z0-9][a-z0-9._-]{0,62})$/;

/** The device id in a certificate's SPIFFE URI SAN, if it belongs to this trust domain. */
export function deviceIdFromCertificate(cert: X509Certificate, trustDomain: string): string | undefined {
  const san = cert.subjectAltName ?? '';
  const uris = san.split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  if (uris.length !== 1) return undefined;
  const m = SPIFFE_DEVICE.exec(uris[0]!);
  if (m === null || m[1] !== trustDomain) return undefined;
  return m[2];
}

export class Enrollment {
  readonly #store: Store;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #ca: Authority;
  readonly #dir: DeviceDirectory;
  readonly #trustDomain: string;
  readonly #maxCsrBytes: number;

  constructor(o: { store: Store; audit: AuditLog; clock: Clock; authority: Authority; directory: DeviceDirectory; trustDomain: string; maxCsrBytes: number }) {
    this.#store = o.store;
    this.#audit = o.audit;
    this.#clock = o.clock;
    this.#ca = o.authority;
    this.#dir = o.directory;
    this.#trustDomain = o.trustDomain;
    this.#maxCsrBytes = o.maxCsrBytes;
  }

  async #refused(action: string, subject: string | null, e: unknown, client: string | undefined): Promise<never> {
    const err = isZetaError(e) ? e : new ZetaError('ZETA_ERR_INTERNAL', 'enrollment failed', { cause: e });
    try {
      await this.#audit.record({
        actor: subject === null ? 'anonymous' : `device:${subject}`, action, outcome: err.code === 'ZETA_ERR_INTERNAL' ? 'error' : 'refused', subject,
        details: { code: err.code, message: err.message, ...(err.internal === undefined ? {} : { reason: err.internal }), ...(client === undefined ? {} : { client }) },
      });
      auditedRefusals.add(err);
    } catch {
      // The refusal stands even if it cannot be audited; the caller still gets the error.
    }
    throw err;
  }

  /**
   * simpleenroll: the device proves itself with its one-time token. `deviceId` is null when the
   * token came as a Bearer token: the token itself is bound to exactly one device record.
   */
  async enroll(claimedId: string | null, token: string, csrDer: Buffer, client?: string): Promise<EnrollResult> {
    try {
      const csr = parseCsr(csrDer, this.#maxCsrBytes);
      const now = this.#clock.now();
      return await this.#store.writeTx(async (tx) => {
        const device = await this.#dir.redeemEnrollmentToken(tx, claimedId, token, now);
        const deviceId = device.id;
        const cert = await this.#ca.issueForDevice(tx, deviceId, csr.spki, now);
        await this.#dir.attachCertificate(tx, deviceId, { serial: cert.serialHex, fingerprintSha256: cert.fingerprintSha256, notAfter: cert.notAfter.toISOString() }, now, device);
        await this.#audit.append(tx, { actor: `device:${deviceId}`, action: 'est.enroll', subject: deviceId, details: { serial: cert.serialHex, keyType: csr.keyType, notAfter: cert.notAfter.toISOString(), ...(client === undefined ? {} : { client }) } });
        return { deviceId, cert, pkcs7: encodeCertsOnly([cert.der]) };
      });
    } catch (e) {
      return this.#refused('est.enroll', claimedId, e, client);
    }
  }

  /**
   * simplereenroll: the device proves itself with its current certificate over mTLS. The TLS layer
   * has checked the chain; here: our trust domain, a certificate we issued (same fingerprint), not
   * revoked, not expired by our clock, and a device state that may renew. Same key or a new key.
   */
  async reenroll(peerCertDer: Buffer, csrDer: Buffer, client?: string): Promise<EnrollResult> {
    let deviceId: string | null = null;
    try {
      const refuse = (why: string): ZetaError => new ZetaError('ZETA_ERR_CERT_INVALID', 'client certificate not accepted for re-enrollment', { internal: why });
      let peer: X509Certificate;
      try {
        peer = new X509Certificate(peerCertDer);
      } catch {
        throw refuse('peer certificate does not parse');
      }
      deviceId = deviceIdFromCertificate(peer, this.#trustDomain) ?? null;
      if (deviceId === null) throw refuse('no device SPIFFE id of this trust domain in the certificate');
      const csr = parseCsr(csrDer, this.#maxCsrBytes);
      const now = this.#clock.now();
      const serial = peer.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
      const status = await this.#ca.certificateStatus(serial);
      if (status === undefined || status.deviceId !== deviceId) throw refuse(`certificate ${serial} was not issued to ${deviceId} by this CA`);
      if (status.fingerprint !== peer.fingerprint256.replace(/:/g, '').toLowerCase()) throw refuse('certificate fingerprint differs from the issued one');
      if (status.revoked) throw refuse(`certificate ${serial} is revoked`);
      if (new Date(status.notAfter) <= now || new Date(peer.validFrom) > now) throw refuse(`certificate ${serial} is not valid now (notAfter ${status.notAfter})`);
      const id = deviceId;
      return await this.#store.writeTx(async (tx) => {
        const dev = await this.#dir.getInTx(tx, id);
        if (dev === undefined) throw refuse('device record missing');
        if (dev.state !== 'active' && dev.state !== 'quarantined') {
          throw new ZetaError('ZETA_ERR_DEVICE_STATE', `device ${id} is ${dev.state}; it cannot renew`, { internal: `state ${dev.state}` });
        }
        const cert = await this.#ca.issueForDevice(tx, id, csr.spki, now);
        await this.#dir.attachCertificate(tx, id, { serial: cert.serialHex, fingerprintSha256: cert.fingerprintSha256, notAfter: cert.notAfter.toISOString() }, now);
        await this.#audit.append(tx, { actor: `device:${id}`, action: 'est.reenroll', subject: id, details: { serial: cert.serialHex, previous: serial, keyType: csr.keyType, sameKey: cert.spkiSha256 === spkiSha256(peer), ...(client === undefined ? {} : { client }) } });
        return { deviceId: id, cert, pkcs7: encodeCertsOnly([cert.der]) };
      });
    } catch (e) {
      return this.#refused('est.reenroll', deviceId, e, client);
    }
  }
}
