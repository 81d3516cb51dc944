/** Reads the certificates out of a certs-only PKCS#7 (RFC 5652 SignedData, RFC 7030 §4.1.3), bounded. */
import { ZetaError } from '../common/errors.js';
import { decodeDer, readOid, TAG } from './der.js';
import { OID } from './oids.js';

export function readPkcs7Certs(der: Buffer, maxBytes = 256 * 1024): Buffer[] {
  if (der.length > maxBytes) throw new ZetaError('ZETA_ERR_VALIDATION', 'PKCS#7 too large');
  try {
    const ci = decodeDer(der, { maxBytes });
    if (readOid(ci.at(0, 'contentType'), 'contentType') !== OID.signedData) throw new Error('not SignedData');
    const sd = ci.at(1, 'content').at(0, 'SignedData', TAG.SEQUENCE);
    const certs = sd.items('SignedData').find((c) => c.tag === 0xa0);
    if (certs === undefined) return [];
    return certs.items('certificates').map((c) => Buffer.from(c.der()));
  } catch (e) {
    throw new ZetaError('ZETA_ERR_VALIDATION', 'response is not a certs-only PKCS#7', { cause: e });
  }
}
