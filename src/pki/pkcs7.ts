/** Degenerate certs-only SignedData (RFC 5652 §5, RFC 7030 §4.1.3 /cacerts and enrollment responses). */
import { ZetaError } from '../common/errors.js';
import { encodeExplicit, encodeInteger, encodeSequence, encodeTlv, TAG } from './der.js';
import { OID } from './oids.js';
import { oidDer, parseCertificate } from './x509.js';

/**
 * ContentInfo { signedData, SignedData { version 1, digestAlgorithms {}, encapContentInfo { data },
 * certificates [0] IMPLICIT ..., signerInfos {} } }. Certificates keep the caller's order (as
 * OpenSSL and EST clients expect) rather than DER SET OF sorting; readers treat it as a set.
 */
export function pkcs7CertsOnly(certs: Buffer[]): Buffer {
  if (certs.length === 0) throw new ZetaError('ZETA_ERR_VALIDATION', 'A certs-only PKCS#7 needs at least one certificate.');
  for (const c of certs) {
    try {
      parseCertificate(c);
    } catch (e) {
      throw new ZetaError('ZETA_ERR_VALIDATION', 'Not a certificate.', { cause: e });
    }
  }
  return encodeCertsOnly(certs);
}

/**
 * pkcs7CertsOnly without re-reading the certificates: only for ones the issuance pipeline has just
 * re-verified (the EST enrollment response).
 */
export function encodeCertsOnly(certs: Buffer[]): Buffer {
  if (certs.length === 0) throw new ZetaError('ZETA_ERR_VALIDATION', 'A certs-only PKCS#7 needs at least one certificate.');
  const signedData = encodeSequence(
    encodeInteger(1), // RFC 5652 §5.1: v1 when only X.509 certificates and id-data content
    encodeTlv(TAG.SET),
    encodeSequence(oidDer(OID.data)),
    encodeTlv(0xa0, ...certs),
    encodeTlv(TAG.SET),
  );
  return encodeSequence(oidDer(OID.signedData), encodeExplicit(0, signedData));
}
