import { createHash } from 'node:crypto';
import { ByteReader } from './byte-reader.js';
import { EV, type EventLog, type LogEvent } from './event-log.js';
import { HASH_ALGS, type HashName } from './tpm-alg.js';

/**
 * Event types whose digest is, by the PFP, the hash of the event data itself (§10.4.1). For these
 * the data can be read as a fact once the digest is checked; for the others (images, firmware
 * blobs) the digest is the measurement and the data only a description. All real logs in
 * go-attestation's testdata keep this rule for exactly these types.
 */
const DATA_BOUND_TYPES: ReadonlySet<number> = new Set(
  ['EV_SEPARATOR', 'EV_EFI_ACTION', 'EV_EFI_VARIABLE_DRIVER_CONFIG', 'EV_EFI_GPT_EVENT', 'EV_S_CRTM_VERSION'].map((n) => EV[n] ?? -1),
);

/**
 * Events whose data does not hash to their digest although the spec says it must: the data was
 * altered after measurement (the classic "edit the description, keep the digest" tamper, which a
 * replay alone cannot see).
 */
export function unboundEventData(log: EventLog, alg: HashName): LogEvent[] {
  const id = HASH_ALGS[alg].id;
  return log.events.filter((ev) => {
    if (!DATA_BOUND_TYPES.has(ev.type)) return false;
    const d = ev.digests.get(id);
    return d === undefined || !createHash(alg).update(ev.data).digest().equals(d);
  });
}

/** EFI_GLOBAL_VARIABLE and EFI_IMAGE_SECURITY_DATABASE_GUID (UEFI 2.9 §3.3, §32.6.1). */
const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';

export interface UefiVariable {
  readonly guid: string;
  readonly name: string;
  readonly data: Buffer;
}

function guidString(b: Buffer): string {
  // EFI_GUID: the first three fields are little-endian.
  const hex = (x: Buffer): string => x.toString('hex');
  const rev = (x: Buffer): string => hex(Buffer.from(x).reverse());
  return `${rev(b.subarray(0, 4))}-${rev(b.subarray(4, 6))}-${rev(b.subarray(6, 8))}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** UEFI_VARIABLE_DATA (PFP §10.4.5.x, Table 'UEFI_VARIABLE_DATA'). */
export function parseUefiVariable(data: Buffer): UefiVariable {
  const r = new ByteReader(data, 'UEFI_VARIABLE_DATA');
  const guid = guidString(r.bytes(16, 'VariableName'));
  const nameLen = r.u64le('UnicodeNameLength');
  const dataLen = r.u64le('VariableDataLength');
  if (nameLen > 256n) r.fail('variable name too long');
  if (dataLen > BigInt(r.remaining)) r.fail('variable data longer than the event');
  const name = r.bytes(Number(nameLen) * 2, 'UnicodeName').toString('utf16le');
  const value = r.bytes(Number(dataLen), 'VariableData');
  r.end();
  return { guid, name, data: value };
}

export interface SecureBootState {
  /** The SecureBoot variable's value; null when the log does not measure it. */
  readonly enabled: boolean | null;
  /** SHA-256 of each variable's data, hex; null when not measured. */
  readonly pk: string | null;
  readonly kek: string | null;
  readonly db: string | null;
  readonly dbx: string | null;
}

export interface Measurements {
  /** The PCR bank the digests below come from. */
  readonly alg: HashName;
  /** Firmware and early code: S-CRTM, POST code, firmware blobs, drivers, option ROMs, microcode. */
  readonly firmware: readonly string[];
  /** EV_EFI_BOOT_SERVICES_APPLICATION: Authenticode digests of boot loaders (shim, grub, bootmgr, UKI). */
  readonly bootApplications: readonly string[];
  /** EV_IPL: what the boot loader measured (kernel, initrd, command line, boot config). */
  readonly ipl: readonly string[];
  readonly secureBoot: SecureBootState;
  /** PCRs the measurements were taken from: only quoted PCRs count. */
  readonly pcrs: readonly number[];
}

const FIRMWARE_TYPES = new Set(
  [
    'EV_S_CRTM_CONTENTS',
    'EV_S_CRTM_VERSION',
    'EV_POST_CODE',
    'EV_CPU_MICROCODE',
    'EV_NONHOST_CODE',
    'EV_EFI_PLATFORM_FIRMWARE_BLOB',
    'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
    'EV_EFI_BOOT_SERVICES_DRIVER',
    'EV_EFI_RUNTIME_SERVICES_DRIVER',
    'EV_EFI_HCRTM_EVENT',
    'EV_EFI_SPDM_FIRMWARE_BLOB',
  ].map((n) => EV[n] ?? -1),
);

function pushUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

/**
 * Reads the measurements that matter for posture out of a log already known to replay to the
 * quoted PCRs. INVARIANT: only events on `quoted` PCRs are used; an event on an unquoted PCR is
 * an unverified claim.
 */
export function extractMeasurements(log: EventLog, alg: HashName, quoted: ReadonlySet<number>): Measurements {
  const id = HASH_ALGS[alg].id;
  const firmware: string[] = [];
  const bootApplications: string[] = [];
  const ipl: string[] = [];
  const sb: { enabled: boolean | null; pk: string | null; kek: string | null; db: string | null; dbx: string | null } = { enabled: null, pk: null, kek: null, db: null, dbx: null };
  for (const ev of log.events) {
    if (!quoted.has(ev.pcr)) continue;
    const digest = ev.digests.get(id)?.toString('hex');
    if (digest === undefined) continue;
    if (FIRMWARE_TYPES.has(ev.type)) pushUnique(firmware, digest);
    else if (ev.type === EV['EV_EFI_BOOT_SERVICES_APPLICATION']) pushUnique(bootApplications, digest);
    else if (ev.type === EV['EV_IPL']) pushUnique(ipl, digest);
    else if (ev.type === EV['EV_EFI_VARIABLE_DRIVER_CONFIG'] && ev.pcr === 7) {
      const v = parseUefiVariable(ev.data);
      const h = createHash('sha256').update(v.data).digest('hex');
      if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'SecureBoot' && sb.enabled === null) sb.enabled = v.data.length === 1 && v.data[0] === 1;
      else if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'PK') sb.pk ??= h;
      else if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'KEK') sb.kek ??= h;
      else if (v.guid === EFI_IMAGE_SECURITY_DATABASE && v.name === 'db') sb.db ??= h;
      else if (v.guid === EFI_IMAGE_SECURITY_DATABASE && v.name === 'dbx') sb.dbx ??= h;
    }
  }
  return { alg, firmware, bootApplications, ipl, secureBoot: sb, pcrs: [...quoted].sort((a, b) => a - b) };
}
