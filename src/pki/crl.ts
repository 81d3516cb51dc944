/** v2 CRLs (RFC 5280 §5): AKI and CRL number extensions, reasonCode entry extensions. */
import { ZetaError } from '../common/errors.js';
import { describeCa, type CaCert } from './ca.js';
import { encodeBitString, encodeEnumerated, encodeExplicit, encodeInteger, encodeSequence, encodeTime, encodeUnsignedInteger } from './der.js';
import { verifySignature } from './key-types.js';
import { OID } from './oids.js';
import { checkPublishableReason, type RevocationReason } from './revocation.js';
import { authorityKeyIdentifierExt, encodeExtension, floorToSecond, normalizeSerial } from './x509.js';

export interface RevokedEntry {
  serialHex: string;
  revokedAt: Date;
  reason: RevocationReason;
}

const SERIAL_HEX_RE = /^[0-9a-fA-F]{1,40}$/;

/** Lower-case hex serial (as IssuedCert.serialHex) → magnitude octets, checked per RFC 5280 §4.1.2.2. */
export function serialFromHex(serialHex: string): Buffer {
  if (typeof serialHex !== 'string' || !SERIAL_HEX_RE.test(serialHex)) {
    throw new ZetaError('ZETA_ERR_VALIDATION', 'A serial number must be 1 to 40 hex digits.', { internal: JSON.stringify(serialHex) });
  }
  return normalizeSerial(Buffer.from(serialHex.length % 2 === 1 ? `0${serialHex}` : serialHex, 'hex'));
}

export function buildCrl(o: {
  issuer: CaCert;
  number: bigint | number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedEntry[];
}): Buffer {
  const ca = describeCa(o.issuer);
  if (!ca.isCa) throw new ZetaError('ZETA_ERR_VALIDATION', 'Only a CA can sign a CRL.', { internal: o.issuer.id });
  const number = BigInt(o.number);
  // §5.2.3: a non-negative integer of at most 20 octets.
  if (number < 0n || number >= 1n << 159n) throw new ZetaError('ZETA_ERR_VALIDATION', 'The CRL number is out of range.');
  const thisUpdate = floorToSecond(o.thisUpdate);
  const nextUpdate = floorToSecond(o.nextUpdate);
  if (!(nextUpdate.getTime() > thisUpdate.getTime())) throw new ZetaError('ZETA_ERR_VALIDATION', 'nextUpdate must be after thisUpdate.');

  const entries = o.revoked.map((r) => {
    const code = checkPublishableReason(r.reason);
    const parts = [encodeUnsignedInteger(serialFromHex(r.serialHex)), encodeTime(floorToSecond(r.revokedAt))];
    // §5.3.1: reasonCode unspecified SHOULD be absent.
    if (code !== 0) parts.push(encodeSequence(encodeExtension(OID.reasonCode, false, encodeEnumerated(code))));
    return encodeSequence(...parts);
  });

  const alg = ca.keyInfo.signatureAlgorithmDer;
  const tbs = encodeSequence(
    encodeInteger(1), // v2 (§5.1.2.1): required because extensions are present
    alg,
    ca.subjectDer,
    encodeTime(thisUpdate),
    encodeTime(nextUpdate),
    // §5.1.2.6: absent when empty, never an empty SEQUENCE.
    ...(entries.length === 0 ? [] : [encodeSequence(...entries)]),
    encodeExplicit(0, encodeSequence(authorityKeyIdentifierExt(ca.ski), encodeExtension(OID.cRLNumber, false, encodeInteger(number)))),
  );
  const signature = o.issuer.signer.sign(tbs);
  if (!verifySignature(ca.keyInfo.hash, ca.publicKey, tbs, signature)) {
    throw new ZetaError('ZETA_ERR_INTERNAL', 'The CRL signature does not verify.', { internal: `issuer ${o.issuer.id}` });
  }
  return encodeSequence(tbs, alg, encodeBitString(signature));
}
