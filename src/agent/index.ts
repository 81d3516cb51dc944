export { enroll, renew, type EnrollOptions, type RenewOptions, type EnrolledFiles } from './enroll.js';
export { tokenPin, bootstrapTrust } from './est-client.js';
export { checkOcsp } from './ocsp-check.js';
