/**
 * The session's identity comes from the verified client certificate only: exactly one URI SAN
 * `spiffe://<trust-domain>/device/<id>` (SPIFFE X509-SVID §2: one URI SAN), in our trust domain.
 * The MQTT client id, username and password never contribute.
 */
import type { X509Certificate } from 'node:crypto';
import { ID_PATTERN } from '../common/ids.js';

export interface DeviceIdentity {
  deviceId: string;
  spiffeId: string;
  trustDomain: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

const SPIFFE_DEVICE = /^spiffe:\/\/([a-z0-9._-]{1,255})\/device\/([^/]+)$/;

/** Lower-case hex without leading zero octets (src/pki's serialHex form). */
export function normalizeSerialHex(hex: string): string {
  let h = hex.toLowerCase();
  if (h.length % 2 === 1) h = '0' + h;
  while (h.length > 2 && h.startsWith('00')) h = h.slice(2);
  return h;
}

export function deviceIdentityOf(cert: X509Certificate | undefined, trustDomain: string): DeviceIdentity | { error: string } {
  if (cert === undefined) return { error: 'no client certificate' };
  const san = cert.subjectAltName ?? '';
  const uris = san
    .split(/,\s*/)
    .filter((e) => e.startsWith('URI:') || e.startsWith('"URI:'))
    .map((e) => e.replace(/^"?URI:/, '').replace(/"$/, ''));
  if (uris.length !== 1) return { error: `expected exactly one URI SAN, found ${uris.length}` };
  const m = SPIFFE_DEVICE.exec(uris[0]!);
  if (m === null) return { error: 'URI SAN is not a SPIFFE device id' };
  const [, td, id] = m as unknown as [string, string, string];
  if (td !== trustDomain) return { error: `trust domain ${td} is not ${trustDomain}` };
  if (!ID_PATTERN.test(id)) return { error: 'device id is not valid' };
  return {
    deviceId: id,
    spiffeId: uris[0]!,
    trustDomain: td,
    serialHex: normalizeSerialHex(cert.serialNumber),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}
