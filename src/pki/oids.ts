/** Object identifiers Zeta's PKI reads or writes, dotted, with the clause that defines each. */
export const OID = {
  // RFC 5480 §2.1.1, SEC 2
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  // RFC 5758 §3.2
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  // RFC 8410 §3
  ed25519: '1.3.101.112',
  // RFC 8017 Appendix A.1 (only to name refused keys)
  rsaEncryption: '1.2.840.113549.1.1.1',
  // RFC 5280 §4.1.2.4 attribute types
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  // RFC 5280 §4.2.1
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  cRLDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  // RFC 5280 §4.2.1.12
  kpServerAuth: '1.3.6.1.5.5.7.3.1',
  kpClientAuth: '1.3.6.1.5.5.7.3.2',
  kpOcspSigning: '1.3.6.1.5.5.7.3.9',
  // RFC 5280 §4.2.2.1, RFC 6960 §4.4
  adOcsp: '1.3.6.1.5.5.7.48.1',
  adCaIssuers: '1.3.6.1.5.5.7.48.2',
  ocspBasic: '1.3.6.1.5.5.7.48.1.1',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  // RFC 2986 §4.1, RFC 2985 §5.4.2
  extensionRequest: '1.2.840.113549.1.9.14',
  // RFC 5652 §5.1, §4
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  // NIST hash algorithms (RFC 5754 §2), SHA-1 (RFC 3279 §2.2.1) for OCSP CertID only
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;
