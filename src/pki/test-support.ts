/**
 * Test support for src/pki/*.test.ts: temp dirs that are always removed, an `openssl` runner, and
 * a root → issuing → OCSP-responder hierarchy. Not exported from index.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaCert } from './ca.js';
import { createIssuingCaCert, createOcspSignerCert, createRootCaCert } from './certs.js';
import { toPem } from './pem.js';
import { FileSigner } from './signer.js';
import type { KeyType } from './key-types.js';
import type { DeviceCertRequest } from './issue-device.js';

export interface TempDir {
  readonly path: string;
  file(name: string, content?: string | Buffer): string;
  remove(): void;
}

export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'zeta-pki-test-'));
  return {
    path,
    file(name, content) {
      const p = join(path, name);
      if (content !== undefined) writeFileSync(p, content);
      return p;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

export interface OpensslResult {
  status: number;
  stdout: string;
  stderr: string;
  out: Buffer;
}

export function openssl(args: string[], input?: Buffer | string): OpensslResult {
  const r = spawnSync('openssl', args, { input, maxBuffer: 16 * 1024 * 1024, timeout: 20_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), out: r.stdout };
}

/** Runs openssl and fails loudly with its stderr if it does not exit 0. */
export function opensslOk(args: string[], input?: Buffer | string): OpensslResult {
  const r = openssl(args, input);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r;
}

export interface Hierarchy {
  root: CaCert;
  issuing: CaCert;
  ocsp: CaCert;
  rootPem: string;
  issuingPem: string;
  ocspPem: string;
  rootPath: string;
  issuingPath: string;
  ocspPath: string;
}

export function makeHierarchy(dir: TempDir, now: Date, trustDomain = 'test.zeta', keyType: KeyType = 'p256'): Hierarchy {
  const rootSigner = FileSigner.generate(dir.file('root.key.pem'), keyType);
  const root: CaCert = { id: 'root', certDer: createRootCaCert({ signer: rootSigner, trustDomain, now }), signer: rootSigner };
  const issuingSigner = FileSigner.generate(dir.file('issuing.key.pem'), keyType);
  const issuing: CaCert = { id: 'issuing', certDer: createIssuingCaCert({ root, signer: issuingSigner, trustDomain, now }), signer: issuingSigner };
  const ocspSigner = FileSigner.generate(dir.file('ocsp.key.pem'), keyType);
  const ocsp: CaCert = { id: 'ocsp', certDer: createOcspSignerCert({ issuer: issuing, signer: ocspSigner, now }), signer: ocspSigner };
  const rootPem = toPem(root.certDer, 'CERTIFICATE');
  const issuingPem = toPem(issuing.certDer, 'CERTIFICATE');
  const ocspPem = toPem(ocsp.certDer, 'CERTIFICATE');
  return {
    root,
    issuing,
    ocsp,
    rootPem,
    issuingPem,
    ocspPem,
    rootPath: dir.file('root.pem', rootPem),
    issuingPath: dir.file('issuing.pem', issuingPem),
    ocspPath: dir.file('ocsp.pem', ocspPem),
  };
}

/** A device request with sensible defaults. */
export function deviceRequest(spki: Buffer, now: Date, over: Partial<DeviceCertRequest> = {}): DeviceCertRequest {
  return {
    deviceId: 'sensor-01',
    trustDomain: 'test.zeta',
    spki,
    notBefore: now,
    notAfter: new Date(now.getTime() + 30 * 86_400_000),
    ocspUrl: 'http://pki.test.zeta:8080/ocsp',
    caIssuersUrl: 'http://pki.test.zeta:8080/ca/issuing.der',
    crlUrl: 'http://pki.test.zeta:8080/crl/issuing.crl',
    ...over,
  };
}
