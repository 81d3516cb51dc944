export { enroll, renew, type EnrollOptions, type RenewOptions, type EnrolledFiles } from './enroll.js';
export { tokenPin, bootstrapTrust } from './est-client.js';
export { checkOcsp } from './ocsp-check.js';
export { connectDevice, publishOnce, subscribe, deviceIdOf, type MqttDeviceOptions } from './mqtt.js';
export { attestLoop, attestOnce, enrollSoftwareAk, enrollTpmAk, deviceCall, fetchChallenge, parseDuration, EK_CERT_NV_INDEX, SYSTEM_EVENT_LOG, type AttestAgentOptions, type AttestRoundResult, type TpmEnrollOptions } from './attest.js';
export { EV, MeasuredPlatform, demoTamperedFirmware, startSwtpm, type SwtpmHandle } from './measured-platform.js';
