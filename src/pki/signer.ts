/**
 * Signer backends. Issuance code only sees `Signer`, so a PKCS#11/HSM backend can be added here
 * without touching it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ZetaError } from '../common/errors.js';
import { KEY_TYPES, keyTypeOfSpki, type KeyType } from './key-types.js';

export interface Signer {
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo of the signing key. */
  readonly publicKeySpki: Buffer;
  /** X.509 signature value: DER ECDSA-Sig-Value (RFC 3279 §2.2.3) or raw Ed25519 (RFC 8410 §6). */
  sign(data: Buffer): Buffer;
}

function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** A private key in a PKCS#8 PEM file on local disk. */
export class FileSigner implements Signer {
  readonly keyType: KeyType;
  readonly publicKeySpki: Buffer;
  readonly #key: KeyObject;
  readonly #hash: string | null;

  private constructor(key: KeyObject) {
    this.publicKeySpki = spkiOf(key);
    // The registry refuses RSA and other curves here too: a CA key is held to the same rule.
    this.keyType = keyTypeOfSpki(this.publicKeySpki);
    this.#key = key;
    this.#hash = KEY_TYPES[this.keyType].hash;
  }

  /** Makes a new key and writes it (mode 0600); never overwrites an existing file. */
  static generate(path: string, keyType: KeyType): FileSigner {
    const info = KEY_TYPES[keyType];
    if (info === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', `Unknown key type ${String(keyType)}.`);
    const { privateKey } =
      info.nodeKeyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: info.nodeCurve ?? 'P-256' }) : generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    try {
      writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ZetaError('ZETA_ERR_CONFLICT', 'A key file already exists at this path; it was not overwritten.', { internal: path });
      }
      throw new ZetaError('ZETA_ERR_CONFIG', 'Cannot write the key file.', { internal: `${path}: ${String(e)}`, cause: e });
    }
    return new FileSigner(privateKey);
  }

  static load(path: string): FileSigner {
    let pem: string;
    try {
      // A private key others can read is already compromised (cf. OpenSSH's StrictModes).
      if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
        throw new ZetaError('ZETA_ERR_CONFIG', 'The key file is accessible by other users; chmod 600 it.', { internal: path });
      }
      pem = readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof ZetaError) throw e;
      throw new ZetaError('ZETA_ERR_CONFIG', 'Cannot read the key file.', { internal: `${path}: ${String(e)}`, cause: e });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch (e) {
      throw new ZetaError('ZETA_ERR_CONFIG', 'The key file does not hold a usable private key.', { internal: path, cause: e });
    }
    return new FileSigner(key);
  }

  sign(data: Buffer): Buffer {
    return this.#hash === null ? sign(null, data, this.#key) : sign(this.#hash, data, { key: this.#key, dsaEncoding: 'der' });
  }
}

/** Resolves a key reference from configuration: `file:<path>` (relative to baseDir) or `pkcs11:<uri>`. */
export function openSigner(keyRef: string, baseDir: string): Signer {
  if (keyRef.startsWith('file:')) {
    const p = keyRef.slice('file:'.length);
    if (p === '') throw new ZetaError('ZETA_ERR_CONFIG', 'The key reference names no file.');
    return FileSigner.load(isAbsolute(p) ? p : resolve(baseDir, p));
  }
  if (keyRef.startsWith('pkcs11:')) {
    // RFC 7512 URIs land here once an HSM backend exists.
    throw new ZetaError('ZETA_ERR_CONFIG', 'PKCS#11 signers are not built yet.', { internal: keyRef });
  }
  throw new ZetaError('ZETA_ERR_CONFIG', 'Unknown key reference scheme; use file: or pkcs11:.', { internal: keyRef });
}
