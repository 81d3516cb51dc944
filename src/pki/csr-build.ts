/**
 * The device side of PKCS#10 (RFC 2986): builds and signs a certification request with the
 * device's key, for the agent. The server ignores the subject; it is the device id for humans.
 */
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { encodeBitString, encodeInteger, encodeSequence, encodeTlv } from './der.js';
import { KEY_TYPES, keyTypeOfSpki } from './key-types.js';
import { encodeName } from './x509.js';

export function buildCsr(privateKey: KeyObject, commonName: string): Buffer {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const info = KEY_TYPES[keyTypeOfSpki(spki)];
  // attributes [0] IMPLICIT SET OF Attribute: empty (RFC 2986 §4.1).
  const attributes = encodeTlv(0xa0);
  const cri = encodeSequence(encodeInteger(0), encodeName({ commonName }), spki, attributes);
  const signature = sign(info.hash, cri, { key: privateKey, dsaEncoding: 'der' });
  return encodeSequence(cri, info.signatureAlgorithmDer, encodeBitString(signature));
}

