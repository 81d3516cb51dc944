/**
 * The Ed25519 key that signs audit checkpoints: <dataDir>/keys/audit-ed25519.key.pem (PKCS#8).
 * The hash chain alone proves order and integrity only relative to its own head; the signature is
 * what an attacker with database access but without this file cannot forge.
 */
import {
  createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ZetaError } from '../common/errors.js';
import { canonicalJson } from './canonical-json.js';

export const AUDIT_KEY_FILE = 'audit-ed25519.key.pem';

export interface AuditKey {
  keyId: string;
  publicKeyPem: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
}

/** Creates the audit key if it is missing; returns its id and public key. */
export function ensureAuditKey(dataDir: string): { keyId: string; publicKeyPem: string } {
  const { keyId, publicKeyPem } = loadAuditKey(dataDir);
  return { keyId, publicKeyPem };
}

export function loadAuditKey(dataDir: string): AuditKey {
  const dir = join(dataDir, 'keys');
  const file = join(dir, AUDIT_KEY_FILE);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw keyError(`cannot read the audit key ${file}`, e);
    pem = createKeyFile(dir, file);
  }
  // Fail closed on a key others can read: whoever reads it can forge checkpoints.
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw keyError(`the audit key ${file} is readable by other users; run chmod 600 on it`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw keyError(`the audit key ${file} is not a PKCS#8 PEM private key`, e);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw keyError(`the audit key ${file} is ${privateKey.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: auditKeyId(publicKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKey,
    privateKey,
  };
}

/** First 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER. */
export function auditKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Writes a fresh key to a private temp file, then link()s it into place: link never overwrites,
 * so when two processes race, exactly one key wins and both end up reading it.
 */
function createKeyFile(dir: string, file: string): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const tmp = join(dir, `.${AUDIT_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return pem;
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'EEXIST') throw keyError(`cannot create the audit key ${file}`, e);
    return readFileSync(file, 'utf8');
  } finally {
    unlinkSync(tmp);
  }
}

function keyError(message: string, cause?: unknown): ZetaError {
  return new ZetaError('ZETA_ERR_CONFIG', message, cause === undefined ? {} : { cause });
}

export interface CheckpointClaim {
  seq: number;
  hash: string;
  ts: string;
  keyId: string;
}

/** The signed bytes. The type tag keeps this signature from being valid for any other message. */
export function checkpointMessage(c: CheckpointClaim): Buffer {
  return Buffer.from(canonicalJson({ hash: c.hash, keyId: c.keyId, seq: c.seq, ts: c.ts, type: 'zeta.audit.checkpoint.v1' }), 'utf8');
}

export function signCheckpoint(key: AuditKey, c: CheckpointClaim): string {
  return sign(null, checkpointMessage(c), key.privateKey).toString('base64');
}

export function verifyCheckpointSignature(publicKey: KeyObject, c: CheckpointClaim, signature: string): boolean {
  try {
    return verify(null, checkpointMessage(c), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
