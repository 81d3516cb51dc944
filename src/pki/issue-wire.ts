/** What IssuancePool and its workers send each other (structured-clone friendly: no Dates, no Buffers). */
import type { ErrorCode } from '../common/errors.js';
import type { DeviceCertRequest, IssuedCert } from './issue-device.js';
import type { KeyType } from './key-types.js';

/** The issuer a pool signs for: its certificate and a key reference each worker opens itself. */
export interface PoolIssuer {
  id: string;
  certDer: Uint8Array;
  /** `file:<path>` (relative to baseDir), as in the cas table. */
  keyRef: string;
  baseDir: string;
}

export interface WireRequest {
  deviceId: string;
  trustDomain: string;
  spki: Uint8Array;
  notBefore: number;
  notAfter: number;
  ocspUrl: string;
  caIssuersUrl: string;
  crlUrl: string;
  serial?: Uint8Array;
}

export interface WireCert {
  der: Uint8Array;
  pem: string;
  serialHex: string;
  fingerprintSha256: string;
  spkiSha256: string;
  notBefore: number;
  notAfter: number;
  spiffeId: string;
  keyType: KeyType;
}

export type WireResult = { ok: true; cert: WireCert } | { ok: false; code: ErrorCode; message: string; internal: string; stage: string };

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export function toWireRequest(r: DeviceCertRequest): WireRequest {
  return {
    deviceId: r.deviceId, trustDomain: r.trustDomain, spki: r.spki, notBefore: r.notBefore.getTime(), notAfter: r.notAfter.getTime(),
    ocspUrl: r.ocspUrl, caIssuersUrl: r.caIssuersUrl, crlUrl: r.crlUrl, ...(r.serial === undefined ? {} : { serial: r.serial }),
  };
}

export function fromWireRequest(w: WireRequest): DeviceCertRequest {
  return {
    deviceId: w.deviceId, trustDomain: w.trustDomain, spki: asBuffer(w.spki), notBefore: new Date(w.notBefore), notAfter: new Date(w.notAfter),
    ocspUrl: w.ocspUrl, caIssuersUrl: w.caIssuersUrl, crlUrl: w.crlUrl, ...(w.serial === undefined ? {} : { serial: asBuffer(w.serial) }),
  };
}

export function toWireCert(c: IssuedCert): WireCert {
  return { ...c, notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime() };
}

export function fromWireCert(w: WireCert): IssuedCert {
  return { ...w, der: asBuffer(w.der), notBefore: new Date(w.notBefore), notAfter: new Date(w.notAfter) };
}
