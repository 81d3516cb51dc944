/** Files `zeta serve` writes for its users: the CA bundle clients trust, and this run's TLS material. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { ControlPlane } from '../api/index.js';

export function serverNames(cp: ControlPlane): { dns: string[]; ips: string[] } {
  const names = new Set(['localhost', cp.config.publicHost, ...cp.config.serverNames.split(',').map((s) => s.trim()).filter((s) => s !== '')]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (cp.config.bindAddress !== '0.0.0.0' && cp.config.bindAddress !== '::') names.add(cp.config.bindAddress);
  const dns: string[] = [];
  for (const n of names) (isIP(n) === 0 ? dns : [...ips].includes(n) ? [] : (ips.add(n), [])).push(n);
  return { dns: dns.filter((n) => isIP(n) === 0), ips: [...ips] };
}

export function writeServeFiles(cp: ControlPlane): { caBundlePath: string; tls: { key: string; cert: string; ca: string } } {
  const { dns, ips } = serverNames(cp);
  const server = cp.authority.serverCertificate(dns, ips);
  const caBundlePath = join(cp.config.dataDir, 'ca.pem');
  writeFileSync(caBundlePath, cp.authority.trustBundlePem());
  return {
    caBundlePath,
    // The chain goes with the leaf so clients that trust only the root can verify; `ca` is what
    // client certificates (simplereenroll) are verified against: every verifying issuer + root.
    tls: { key: server.keyPem, cert: server.certPem + server.chainPem, ca: cp.authority.chainPem() },
  };
}
