/** Asks an OCSP responder about one certificate and checks the answer (signature, responder, nonce). */
import { X509Certificate, randomBytes } from 'node:crypto';
import { ZetaError } from '../common/errors.js';
import { buildOcspRequest, readOcspResponse, splitPemCerts } from '../pki/index.js';

export async function checkOcsp(o: { ocspUrl: string; certPem: string; issuerPem: string }): Promise<{ status: 'good' | 'revoked' | 'unknown'; revokedAt?: string; reason?: string; responder: string }> {
  const certDer = splitPemCerts(o.certPem)[0];
  const issuerDer = splitPemCerts(o.issuerPem)[0];
  if (certDer === undefined || issuerDer === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'certificate or issuer PEM is empty');
  const nonce = randomBytes(16);
  const res = await fetch(o.ocspUrl, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: buildOcspRequest(certDer, issuerDer, nonce) });
  if (!res.ok) throw new ZetaError('ZETA_ERR_SERVER', `OCSP responder answered HTTP ${res.status}`);
  const info = readOcspResponse(Buffer.from(await res.arrayBuffer()), new X509Certificate(issuerDer), nonce);
  if (info.responseStatus !== 0) throw new ZetaError('ZETA_ERR_SERVER', `OCSP responder refused: status ${info.responseStatus}`);
  const serial = new X509Certificate(certDer).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
  const r = info.responses.find((x) => x.serialHex === serial);
  if (r === undefined) throw new ZetaError('ZETA_ERR_SERVER', 'OCSP response does not cover this certificate');
  return { status: r.status, ...(r.revokedAt === undefined ? {} : { revokedAt: r.revokedAt.toISOString() }), ...(r.reason === undefined ? {} : { reason: r.reason }), responder: info.responder };
}
