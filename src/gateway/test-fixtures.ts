/**
 * Test and benchmark fixtures (not exported from index.ts): a root + issuing CA, device
 * certificates (valid, expired, from a foreign CA), the gateway server certificate, all in a temp
 * directory that `cleanup()` removes.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIssuingCaCert, createRootCaCert, FileSigner, issueDeviceCertificate, type CaCert } from '../pki/index.js';
import { createGatewayServerCert } from './server-cert.js';

export interface DeviceCreds {
  deviceId: string;
  key: string;
  cert: string;
  serialHex: string;
  keyPath: string;
  certPath: string;
}

export interface TestPki {
  dir: string;
  trustDomain: string;
  /** issuing CA + root, PEM (what the gateway trusts and clients use to verify the gateway). */
  caBundle: string;
  caPath: string;
  server: { key: string; cert: string };
  device(deviceId: string, o?: { notBefore?: Date; notAfter?: Date; foreign?: boolean; trustDomain?: string; noFiles?: boolean }): DeviceCreds;
  cleanup(): void;
}

const DAY = 86_400_000;

function pem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

function makeCa(dir: string, name: string, trustDomain: string, now: Date): { root: CaCert; issuing: CaCert; bundle: string } {
  const rootSigner = FileSigner.generate(join(dir, `${name}-root.key`), 'p256');
  const rootDer = createRootCaCert({ signer: rootSigner, trustDomain, now, commonName: `${name} root` });
  const root: CaCert = { id: `${name}-root`, certDer: rootDer, signer: rootSigner };
  const issSigner = FileSigner.generate(join(dir, `${name}-issuing.key`), 'p256');
  const issDer = createIssuingCaCert({ root, signer: issSigner, trustDomain, now, commonName: `${name} issuing` });
  return { root, issuing: { id: `${name}-issuing`, certDer: issDer, signer: issSigner }, bundle: pem(issDer) + pem(rootDer) };
}

export function createTestPki(trustDomain = 'zeta.test'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'zeta-gw-pki-'));
  const now = new Date();
  const ours = makeCa(dir, 'zeta', trustDomain, now);
  let foreign: ReturnType<typeof makeCa> | null = null;
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, ours.bundle);
  const server = createGatewayServerCert({ issuer: ours.issuing, now });
  return {
    dir,
    trustDomain,
    caBundle: ours.bundle,
    caPath,
    server: { key: server.key, cert: server.cert },
    device(deviceId, o = {}) {
      const ca = o.foreign === true ? (foreign ??= makeCa(dir, 'foreign', trustDomain, now)) : ours;
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const issued = issueDeviceCertificate(
        {
          deviceId,
          trustDomain: o.trustDomain ?? trustDomain,
          spki: publicKey.export({ type: 'spki', format: 'der' }),
          notBefore: o.notBefore ?? new Date(now.getTime() - 60_000),
          notAfter: o.notAfter ?? new Date(now.getTime() + DAY),
          ocspUrl: 'http://localhost:8080/ocsp',
          caIssuersUrl: 'http://localhost:8080/ca.cer',
          crlUrl: 'http://localhost:8080/crl',
        },
        ca.issuing,
      );
      const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const tag = `${deviceId}-${issued.serialHex.slice(0, 8)}`;
      const keyPath = join(dir, `${tag}.key`);
      const certPath = join(dir, `${tag}.pem`);
      if (o.noFiles !== true) {
        writeFileSync(keyPath, key, { mode: 0o600 });
        writeFileSync(certPath, issued.pem);
      }
      return { deviceId, key, cert: issued.pem, serialHex: issued.serialHex, keyPath, certPath };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
