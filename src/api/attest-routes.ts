/**
 * The device-facing attestation protocol on the HTTPS API port, authenticated by the device's
 * certificate over mutual TLS (as EST simplereenroll): the TLS layer checks the chain against our
 * CA set (`socket.authorized`), then here: our trust domain, a certificate this CA issued to that
 * device (same fingerprint), not revoked, valid now, and a device state that may attest.
 *
 *   POST /attest/v1/ak/activate   { ekPublic, ekCert?, ekChain?, akPublic }  → { activationId, credential }
 *   POST /attest/v1/ak/finish     { activationId, secret }                   → the AK ↔ EK binding
 *   POST /attest/v1/software-key  { publicKey }                              → a software AK (weaker)
 *   POST /attest/v1/challenge     {}                                         → { nonce, pcrs, due }
 *   POST /attest/v1/quote         { nonce, quote, signature, pcrs, eventLog, akPublic? } → { status, reason, at }
 *
 * A refused attestation answers 403 ZETA_ERR_ATTESTATION_FAILED with the stable `reason`; the
 * operator detail goes to the audit log only.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ZetaError } from '../common/errors.js';
import { deviceIdFromCertificate } from '../pki/index.js';
import type { ControlPlane } from './control-plane.js';
import type { Runtime } from './routes.js';

/** States in which a device may attest: quarantined devices too, so they can prove a clean boot. */
const ATTESTING_STATES = new Set(['active', 'quarantined']);

interface DevicePeer {
  deviceId: string;
  serial: string;
}

async function authenticateDevice(cp: ControlPlane, req: FastifyRequest): Promise<DevicePeer> {
  const sock = req.raw.socket as TLSSocket;
  const peer: X509Certificate | undefined = sock.getPeerX509Certificate?.();
  const refuse = (why: string): ZetaError => new ZetaError('ZETA_ERR_CERT_INVALID', 'attestation requires the current device certificate over mutual TLS', { internal: why });
  if (peer === undefined || !sock.authorized) throw refuse(peer === undefined ? 'no client certificate' : `client certificate chain not trusted: ${String(sock.authorizationError)}`);
  const deviceId = deviceIdFromCertificate(peer, cp.config.trustDomain);
  if (deviceId === undefined) throw refuse('no device SPIFFE id of this trust domain in the certificate');
  const serial = peer.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
  const status = await cp.authority.certificateStatus(serial);
  if (status === undefined || status.deviceId !== deviceId) throw refuse(`certificate ${serial} was not issued to ${deviceId} by this CA`);
  if (status.fingerprint !== peer.fingerprint256.replace(/:/g, '').toLowerCase()) throw refuse('certificate fingerprint differs from the issued one');
  if (status.revoked) throw refuse(`certificate ${serial} is revoked`);
  const now = cp.clock.now();
  if (new Date(status.notAfter) <= now || new Date(peer.validFrom) > now) throw refuse(`certificate ${serial} is not valid now`);
  const device = await cp.inventory.get(deviceId);
  if (!ATTESTING_STATES.has(device.state)) throw new ZetaError('ZETA_ERR_DEVICE_STATE', `device ${deviceId} is ${device.state}; it cannot attest`);
  return { deviceId, serial };
}

export function registerAttestRoutes(app: FastifyInstance, cp: ControlPlane, runtime: Runtime, afterWrite: () => Promise<void>): void {
  const svc = cp.attestation;
  const behavior = (id: string): ReturnType<NonNullable<Runtime['monitor']>['behavior']> | undefined => runtime.monitor?.behavior(id);
  // Refusals are audited by the service; a transport-level refusal (no certificate) is audited here.
  const onError = async (req: FastifyRequest, _reply: unknown, e: Error): Promise<void> => {
    if (e instanceof ZetaError && e.code === 'ZETA_ERR_CERT_INVALID') {
      await cp.audit.record({ actor: 'anonymous', action: 'attest.refused', outcome: 'refused', subject: null, details: { code: e.code, reason: e.internal ?? e.message, path: req.url.split('?')[0] } }).catch(() => undefined);
    }
  };
  const device = async <T>(req: FastifyRequest, fn: (p: DevicePeer) => Promise<T>): Promise<T> => {
    const p = await authenticateDevice(cp, req);
    try {
      return await fn(p);
    } finally {
      await afterWrite();
    }
  };

  app.post('/attest/v1/ak/activate', { onError }, async (req) => device(req, (p) => svc.startActivation(p.deviceId, p.serial, req.body, behavior(p.deviceId))));
  app.post('/attest/v1/ak/finish', { onError }, async (req) => device(req, (p) => svc.finishActivation(p.deviceId, req.body, `device:${p.deviceId}`, behavior(p.deviceId))));
  app.post('/attest/v1/software-key', { onError }, async (req) => device(req, (p) => svc.registerSoftwareKey(p.deviceId, p.serial, req.body, `device:${p.deviceId}`)));
  app.post('/attest/v1/challenge', { onError }, async (req) => device(req, (p) => svc.challenge(p.deviceId)));
  // An event log may be large (real UEFI logs run to hundreds of KiB; the parser's bound is 4 MiB).
  app.post('/attest/v1/quote', { onError, bodyLimit: 6 * 1024 * 1024 }, async (req) => device(req, async (p) => {
    const r = await svc.submit(p.deviceId, req.body, behavior(p.deviceId));
    // The device learns the status and the stable reason (problem+json `reason`), never the detail.
    if (r.status === 'failed') throw new ZetaError('ZETA_ERR_ATTESTATION_FAILED', `attestation failed: ${r.reason ?? 'unknown'}`, { fields: { reason: r.reason, status: r.status, at: r.at, method: r.method } });
    return r;
  }));
}
