/**
 * The one place IAM encrypts secrets at rest (TOTP seeds): AES-256-GCM under a 256-bit key kept in
 * the data directory (`keys/iam-secrets.key`, mode 0600), never in the database. A database dump
 * alone therefore does not yield second factors. The additional data binds each ciphertext to its
 * row and purpose, so a sealed value copied to another operator does not open.
 * With PostgreSQL and several servers, every server needs the same key file (like the CA keys).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZetaError } from '../common/errors.js';

export const IAM_KEY_FILE = join('keys', 'iam-secrets.key');
const VERSION = 'v1';

export class SecretBox {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** Loads the key, creating it on first use (exclusive create: two processes cannot both win). */
  static open(dataDir: string): SecretBox {
    const path = join(dataDir, IAM_KEY_FILE);
    if (!existsSync(path)) {
      mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
      try {
        writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new ZetaError('ZETA_ERR_CONFIG', `${path} does not hold a 256-bit key`);
    return new SecretBox(key);
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return [VERSION, iv.toString('base64url'), body.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
  }

  /** Throws (fail closed) when the value was altered, moved to another context or sealed with another key. */
  open(sealed: string, context: string): string {
    const [v, iv, body, tag] = sealed.split('.');
    if (v !== VERSION || iv === undefined || body === undefined || tag === undefined) throw new ZetaError('ZETA_ERR_INTERNAL', 'sealed secret has an unknown format');
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    } catch (e) {
      throw new ZetaError('ZETA_ERR_INTERNAL', 'a sealed IAM secret does not open with this data directory\'s key', { cause: e, internal: `context ${context}` });
    }
  }
}
