/**
 * The gateway's TLS server certificate, minted by Zeta's CA (src/pki createServerCert): serverAuth,
 * the configured host names plus `localhost` and `127.0.0.1`, ECDSA P-256.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createServerCert, type CaCert } from '../pki/index.js';

export interface GatewayServerCertOptions {
  issuer: CaCert;
  /** DNS names and/or IP addresses devices use to reach the gateway. */
  hostNames?: string[];
  now: Date;
  validityDays?: number;
  /** Add `localhost` and `127.0.0.1` (default true). */
  includeLoopback?: boolean;
}

export function createGatewayServerCert(o: GatewayServerCertOptions): { key: string; cert: string; notAfter: Date } {
  const names = [...(o.includeLoopback === false ? [] : ['localhost', '127.0.0.1']), ...(o.hostNames ?? [])].map((n) => n.trim()).filter((n) => n !== '');
  const dnsNames = [...new Set(names.filter((n) => isIP(n) === 0).map((n) => n.toLowerCase()))];
  const ipAddresses = [...new Set(names.filter((n) => isIP(n) !== 0))];
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = createServerCert({
    issuer: o.issuer,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    dnsNames,
    ipAddresses,
    now: o.now,
    ...(o.validityDays === undefined ? {} : { validityDays: o.validityDays }),
  });
  const x = new X509Certificate(der);
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: x.toString(), notAfter: new Date(x.validTo) };
}
