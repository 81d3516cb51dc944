export { enroll, renew, type EnrollOptions, type RenewOptions, type EnrolledFiles } from './enroll.js';
export { tokenPin, bootstrapTrust } from './est-client.js';
export { checkOcsp } from './ocsp-check.js';
export { connectDevice, publishOnce, subscribe, deviceIdOf, type MqttDeviceOptions } from './mqtt.js';
