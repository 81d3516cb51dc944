/**
 * The public surface of Zeta's PKI: the only module other components import
 * (eslint boundaries/entry-point). Everything here takes time as an argument; nothing reads the clock.
 */
export { KEY_TYPE_NAMES, KEY_TYPES, isKeyType, keyTypeOfSpki, type KeyType, type KeyTypeInfo } from './key-types.js';
export { FileSigner, openSigner, type Signer } from './signer.js';
export { describeCa, type CaCert, type CaInfo } from './ca.js';
export {
  createIssuingCaCert,
  createOcspSignerCert,
  createRootCaCert,
  createServerCert,
  issueDeviceCertificate,
  type DeviceCertRequest,
  type IssuedCert,
} from './certs.js';
export type { IssuanceStage } from './issue-device.js';
export { IssuancePool, type PoolIssuer } from './issue-pool.js';
export { decodeBase64Body, parseCsr, type ParsedCsr } from './csr.js';
export { buildCsr } from './csr-build.js';
export { pkcs7CertsOnly } from './pkcs7.js';
export { readPkcs7Certs } from './pkcs7-read.js';
export { buildCrl, type RevokedEntry } from './crl.js';
export { parseRevocationReason, REVOCATION_REASON_NAMES, REVOCATION_REASONS, type RevocationReason } from './revocation.js';
export {
  buildOcspRequest,
  buildOcspResponse,
  matchesIssuer,
  MAX_OCSP_CERT_IDS,
  OCSP_ERROR_STATUS,
  ocspErrorResponse,
  parseOcspRequest,
  type OcspCertId,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspHash,
  type OcspRequest,
  type OcspSingleResponse,
} from './ocsp.js';
export { fromPem, sha256Hex, splitPemCerts, toPem } from './pem.js';
export { readOcspResponse, type OcspResponseInfo, type OcspSingleStatus } from './ocsp-read.js';
export { Authority, type AuthorityOptions } from './authority.js';
export { Enrollment, auditedRefusals, deviceIdFromCertificate, type DeviceDirectory, type EnrollResult } from './enrollment.js';
