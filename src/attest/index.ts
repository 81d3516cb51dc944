/**
 * TPM 2.0 attestation verification: the public surface of src/attest (see README.md for the trust
 * chain and TOFU semantics). Parsers are bounded and throw ZETA_ERR_TPM_MALFORMED; verifiers
 * return a refusal with a stable `reason` rather than throwing.
 */
export { ByteReader } from './byte-reader.js';
export { ECC_CURVES, HASH_ALGS, TPM_ALG, TPMA_OBJECT, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, hashById, isHashName, type HashAlgInfo, type HashName } from './tpm-alg.js';
export { MAX_TPM_PUBLIC_BYTES, akAttributeProblems, nameOf, parseTpmPublic, type SymDef, type TpmPublic } from './tpm-public.js';
export {
  MAX_ATTEST_BYTES,
  MAX_SIGNATURE_BYTES,
  checkTpmSignature,
  parseQuoteAttest,
  parseTpmSignature,
  type ClockInfo,
  type PcrSelection,
  type QuoteAttest,
  type SignatureScheme,
  type TpmSignature,
} from './tpm-attest.js';
export {
  EVENT_LOG_LIMITS,
  EVENT_TYPES,
  eventTypeName,
  parseEventLog,
  replayEventLog,
  type EventLog,
  type LogEvent,
  type ReplayResult,
  type SpecIdEvent,
} from './event-log.js';
export { extractMeasurements, parseUefiVariable, unboundEventData, type Measurements, type SecureBootState, type UefiVariable } from './measurements.js';
export { REFUSAL_REASONS, type Refusal, type RefusalReason } from './refusal.js';
export { verifyQuote, type PcrValues, type QuoteCheck, type VerifiedQuote, type VerifyQuoteInput } from './verify-quote.js';
export { encodeTpm2ToolsCredential, kdfa, kdfe, makeCredential, type Credential } from './credential.js';
export { verifyEkCertificate, type EkChainCheck, type EkChainInput } from './ek-chain.js';
export {
  ACTIVATION_TTL_MS,
  finishAkActivation,
  startAkActivation,
  type ActivationChallenge,
  type ActivationRequest,
  type ActivationResult,
  type BoundAk,
  type EkTrust,
  type PendingActivation,
} from './ak-binding.js';
export { NONCE_BYTES, NonceRegistry, type NonceUse } from './nonce-registry.js';
export { MemoryReferenceStore, compareMeasurements, referenceFromMeasurements, type ReferenceSource, type ReferenceValueStore, type ReferenceValues } from './reference-values.js';
export {
  DEFAULT_REQUIRED_PCRS,
  verifyAttestation,
  type AttestationInput,
  type AttestationKey,
  type AttestationPolicy,
  type AttestationResult,
  type AttestationStatus,
} from './verify-attestation.js';
export { encodeEventLog, encodeSpecId } from './event-log-encode.js';
export {
  AttestationRecords,
  DbReferenceStore,
  MAX_IMPORTED_REFERENCES,
  parseReferenceValues,
  referenceValuesSchema,
  type AttestKeyRecord,
  type AttestMethod,
  type AttestResultRecord,
  type ReferenceOrigin,
  type StoredReference,
} from './attest-db.js';
