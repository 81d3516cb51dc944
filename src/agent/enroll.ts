/**
 * `zeta agent enroll` and `zeta agent renew`: the device side of EST. Makes the key on the device
 * (it never leaves), sends a CSR, checks what comes back (our key, our identity, a chain to the
 * trust anchor) and only then writes key.pem, cert.pem (leaf + issuing CA) and ca.pem, atomically.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZetaError } from '../common/errors.js';
import { buildCsr, KEY_TYPES, splitPemCerts, toPem, type KeyType } from '../pki/index.js';
import { bootstrapTrust, decodeEstCerts, estError, httpsRequest, tokenPin } from './est-client.js';

export interface EnrollOptions {
  server: string;
  deviceId: string;
  token: string;
  outDir: string;
  keyType?: KeyType;
  /** Trust anchor file; without it the pin in the token is used. */
  caFile?: string;
  trustDomain?: string;
}

export interface EnrolledFiles {
  deviceId: string;
  dir: string;
  keyPath: string;
  certPath: string;
  caPath: string;
  serial: string;
  notAfter: string;
  spiffeId: string;
}

function newKey(keyType: KeyType): KeyObject {
  const info = KEY_TYPES[keyType];
  return info.nodeKeyType === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: info.nodeCurve ?? 'P-256' }).privateKey
    : generateKeyPairSync('ed25519').privateKey;
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** Checks the issued certificate is for our key and our device, and chains to the anchor. */
function checkIssued(certs: Buffer[], key: KeyObject, deviceId: string, rootPem: string, chainPem: string): X509Certificate {
  const leafDer = certs[0];
  if (leafDer === undefined) throw new ZetaError('ZETA_ERR_SERVER', 'EST response holds no certificate');
  const leaf = new X509Certificate(leafDer);
  if (!leaf.checkPrivateKey(key)) throw new ZetaError('ZETA_ERR_SERVER', 'the issued certificate is not for this device key');
  const uri = (leaf.subjectAltName ?? '').split(', ').find((s) => s.startsWith('URI:spiffe://'));
  if (uri === undefined || !uri.endsWith(`/device/${deviceId}`)) throw new ZetaError('ZETA_ERR_SERVER', `the issued certificate does not name device ${deviceId}`);
  const issuers = [...splitPemCerts(chainPem), ...splitPemCerts(rootPem)].map((d) => new X509Certificate(d));
  const issuer = issuers.find((i) => leaf.checkIssued(i) && leaf.verify(i.publicKey));
  if (issuer === undefined) throw new ZetaError('ZETA_ERR_SERVER', 'the issued certificate does not chain to the trusted CA');
  return leaf;
}

async function trustFor(server: URL, token: string | undefined, caFile: string | undefined): Promise<{ rootPem: string; chainPem: string }> {
  if (caFile !== undefined) {
    const rootPem = readFileSync(caFile, 'utf8');
    // With an explicit anchor, /cacerts is fetched over verified TLS.
    const r = await httpsRequest(new URL('/.well-known/est/cacerts', server), { method: 'GET', ca: rootPem });
    if (r.status !== 200) throw estError(r, 'cacerts');
    const chain = decodeEstCerts(r.body).map((d) => new X509Certificate(d)).filter((c) => c.ca && !c.checkIssued(c));
    return { rootPem, chainPem: chain.map((c) => toPem(c.raw, 'CERTIFICATE')).join('') };
  }
  const pin = token === undefined ? undefined : tokenPin(token);
  if (pin === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'no trust anchor: pass --ca-file with the Zeta root CA, or use an enrollment token that carries the CA pin (from `zeta device add`)');
  return bootstrapTrust(server, pin);
}

export async function enroll(o: EnrollOptions): Promise<EnrolledFiles> {
  const server = new URL(o.server);
  const trust = await trustFor(server, o.token, o.caFile);
  const key = newKey(o.keyType ?? 'p256');
  const csr = buildCsr(key, o.deviceId);
  const r = await httpsRequest(new URL('/.well-known/est/simpleenroll', server), {
    method: 'POST',
    ca: trust.rootPem,
    headers: {
      'content-type': 'application/pkcs10',
      authorization: `Basic ${Buffer.from(`${o.deviceId}:${o.token}`).toString('base64')}`,
    },
  }, csr.toString('base64'));
  if (r.status !== 200) throw estError(r, 'simpleenroll');
  const leaf = checkIssued(decodeEstCerts(r.body), key, o.deviceId, trust.rootPem, trust.chainPem);
  return writeEnrollment(o.outDir, o.deviceId, key, leaf, trust);
}

function writeEnrollment(dir: string, deviceId: string, key: KeyObject, leaf: X509Certificate, trust: { rootPem: string; chainPem: string }): EnrolledFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const caPath = join(dir, 'ca.pem');
  const issuer = splitPemCerts(trust.chainPem).map((d) => new X509Certificate(d)).find((i) => leaf.checkIssued(i));
  writeAtomic(keyPath, key.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  writeAtomic(certPath, toPem(leaf.raw, 'CERTIFICATE') + (issuer === undefined ? '' : toPem(issuer.raw, 'CERTIFICATE')), 0o644);
  writeAtomic(caPath, trust.rootPem, 0o644);
  writeAtomic(join(dir, 'chain.pem'), trust.chainPem, 0o644);
  const uri = (leaf.subjectAltName ?? '').split(', ').find((s) => s.startsWith('URI:'))?.slice(4) ?? '';
  return { deviceId, dir, keyPath, certPath, caPath, serial: leaf.serialNumber.toLowerCase(), notAfter: new Date(leaf.validTo).toISOString(), spiffeId: uri };
}

export interface RenewOptions {
  server: string;
  dir: string;
  /** Renew even when the certificate is not yet due. */
  force?: boolean;
  /** Days before notAfter when renewal is due (default: a third of the lifetime). */
  renewBeforeDays?: number;
  /** Keep the current key instead of making a new one. */
  sameKey?: boolean;
  now?: Date;
}

export async function renew(o: RenewOptions): Promise<EnrolledFiles & { renewed: boolean; reason: string }> {
  const keyPath = join(o.dir, 'key.pem');
  const certPath = join(o.dir, 'cert.pem');
  const caPath = join(o.dir, 'ca.pem');
  for (const p of [keyPath, certPath, caPath]) {
    if (!existsSync(p)) throw new ZetaError('ZETA_ERR_VALIDATION', `${p} is missing; enroll first with \`zeta agent enroll\``);
  }
  const keyPem = readFileSync(keyPath, 'utf8');
  const certPem = readFileSync(certPath, 'utf8');
  const rootPem = readFileSync(caPath, 'utf8');
  const chainPem = existsSync(join(o.dir, 'chain.pem')) ? readFileSync(join(o.dir, 'chain.pem'), 'utf8') : '';
  const current = new X509Certificate(splitPemCerts(certPem)[0] ?? Buffer.alloc(0));
  const deviceId = (current.subjectAltName ?? '').match(/\/device\/([a-z0-9._-]+)/)?.[1];
  if (deviceId === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', `${certPath} is not a Zeta device certificate`);
  const now = o.now ?? new Date();
  const notBefore = new Date(current.validFrom).getTime();
  const notAfter = new Date(current.validTo).getTime();
  const before = o.renewBeforeDays === undefined ? (notAfter - notBefore) / 3 : o.renewBeforeDays * 86400_000;
  const due = notAfter - now.getTime() <= before;
  if (!due && o.force !== true) {
    const files = { deviceId, dir: o.dir, keyPath, certPath, caPath, serial: current.serialNumber.toLowerCase(), notAfter: new Date(notAfter).toISOString(), spiffeId: '' };
    return { ...files, renewed: false, reason: `not due: expires ${files.notAfter}, renews within ${Math.round(before / 86400_000)} days of expiry` };
  }
  const oldKey = createPrivateKey(keyPem);
  const key = o.sameKey === true ? oldKey : newKey(keyTypeOf(current));
  const csr = buildCsr(key, deviceId);
  const r = await httpsRequest(new URL('/.well-known/est/simplereenroll', new URL(o.server)), {
    method: 'POST', ca: rootPem, key: keyPem, cert: certPem,
    headers: { 'content-type': 'application/pkcs10' },
  }, csr.toString('base64'));
  if (r.status !== 200) throw estError(r, 'simplereenroll');
  // The issuing CA may have rotated since enrollment: refresh the chain from /cacerts, over TLS
  // verified against the root we already trust.
  const fresh = await trustFor(new URL(o.server), undefined, caPath).catch(() => ({ rootPem, chainPem }));
  const leaf = checkIssued(decodeEstCerts(r.body), key, deviceId, rootPem, fresh.chainPem || chainPem);
  const files = writeEnrollment(o.dir, deviceId, key, leaf, { rootPem, chainPem: fresh.chainPem || chainPem });
  return { ...files, renewed: true, reason: o.force === true && !due ? 'forced' : 'due' };
}

function keyTypeOf(cert: X509Certificate): KeyType {
  const k = cert.publicKey;
  if (k.asymmetricKeyType === 'ed25519') return 'ed25519';
  return k.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'p384' : 'p256';
}
