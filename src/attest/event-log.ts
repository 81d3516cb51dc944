import { createHash } from 'node:crypto';
import { ByteReader } from './byte-reader.js';
import { hashById, HASH_ALGS, type HashName } from './tpm-alg.js';
import { ZetaError } from '../common/errors.js';

/** TCG PC Client Platform Firmware Profile (PFP) §10.4.1 event types. */
export const EVENT_TYPES: Readonly<Record<number, string>> = Object.freeze({
  0x00000000: 'EV_PREBOOT_CERT',
  0x00000001: 'EV_POST_CODE',
  0x00000002: 'EV_UNUSED',
  0x00000003: 'EV_NO_ACTION',
  0x00000004: 'EV_SEPARATOR',
  0x00000005: 'EV_ACTION',
  0x00000006: 'EV_EVENT_TAG',
  0x00000007: 'EV_S_CRTM_CONTENTS',
  0x00000008: 'EV_S_CRTM_VERSION',
  0x00000009: 'EV_CPU_MICROCODE',
  0x0000000a: 'EV_PLATFORM_CONFIG_FLAGS',
  0x0000000b: 'EV_TABLE_OF_DEVICES',
  0x0000000c: 'EV_COMPACT_HASH',
  0x0000000d: 'EV_IPL',
  0x0000000e: 'EV_IPL_PARTITION_DATA',
  0x0000000f: 'EV_NONHOST_CODE',
  0x00000010: 'EV_NONHOST_CONFIG',
  0x00000011: 'EV_NONHOST_INFO',
  0x00000012: 'EV_OMIT_BOOT_DEVICE_EVENTS',
  0x80000000: 'EV_EFI_EVENT_BASE',
  0x80000001: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
  0x80000002: 'EV_EFI_VARIABLE_BOOT',
  0x80000003: 'EV_EFI_BOOT_SERVICES_APPLICATION',
  0x80000004: 'EV_EFI_BOOT_SERVICES_DRIVER',
  0x80000005: 'EV_EFI_RUNTIME_SERVICES_DRIVER',
  0x80000006: 'EV_EFI_GPT_EVENT',
  0x80000007: 'EV_EFI_ACTION',
  0x80000008: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
  0x80000009: 'EV_EFI_HANDOFF_TABLES',
  0x8000000a: 'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
  0x8000000b: 'EV_EFI_HANDOFF_TABLES2',
  0x8000000c: 'EV_EFI_VARIABLE_BOOT2',
  0x8000000d: 'EV_EFI_GPT_EVENT2',
  0x80000010: 'EV_EFI_HCRTM_EVENT',
  0x800000e0: 'EV_EFI_VARIABLE_AUTHORITY',
  0x800000e1: 'EV_EFI_SPDM_FIRMWARE_BLOB',
  0x800000e2: 'EV_EFI_SPDM_FIRMWARE_CONFIG',
});

export const EV = Object.freeze(Object.fromEntries(Object.entries(EVENT_TYPES).map(([k, v]) => [v, Number(k)]))) as Readonly<Record<string, number>>;
export const EV_NO_ACTION = 0x3;

export function eventTypeName(type: number): string {
  return EVENT_TYPES[type] ?? `EV_UNKNOWN_0x${type.toString(16).padStart(8, '0')}`;
}

export const EVENT_LOG_LIMITS = Object.freeze({
  /** Real UEFI logs are tens of KiB (option-ROM heavy ones ~100 KiB); 4 MiB is generous. */
  maxBytes: 4 * 1024 * 1024,
  maxEvents: 20000,
  maxEventDataBytes: 1024 * 1024,
  /** PC Client TPMs have PCR 0-23 (PFP §3.3.4). */
  pcrCount: 24,
  maxSpecAlgorithms: 8,
});

export interface LogEvent {
  /** Position in the log, from 0 (the Spec ID header, if any, is not counted). */
  readonly seq: number;
  readonly pcr: number;
  readonly type: number;
  readonly typeName: string;
  /** Digest per TPM hash algorithm id (crypto-agile logs carry one per bank). */
  readonly digests: ReadonlyMap<number, Buffer>;
  readonly data: Buffer;
}

export interface SpecIdEvent {
  readonly platformClass: number;
  readonly specVersion: string;
  readonly uintnSize: number;
  readonly algorithms: readonly { readonly algId: number; readonly digestSize: number }[];
}

export interface EventLog {
  /** 'sha1': TCG_PCClientPCREvent records only; 'crypto-agile': TCG_PCR_EVENT2 after a Spec ID header. */
  readonly format: 'sha1' | 'crypto-agile';
  readonly specId: SpecIdEvent | null;
  readonly events: readonly LogEvent[];
  /** Banks the log has digests for, by name (unknown banks are carried but not replayable). */
  readonly banks: readonly HashName[];
  /** PFP §10.4.5.3 StartupLocality, when the log carries one. */
  readonly startupLocality: number | null;
}

const SPEC_ID_03 = Buffer.from('Spec ID Event03\0', 'latin1');
const STARTUP_LOCALITY = Buffer.from('StartupLocality\0', 'latin1');

function parseSpecId(data: Buffer): SpecIdEvent {
  const r = new ByteReader(data, 'TCG_EfiSpecIDEvent');
  r.bytes(16, 'signature');
  const platformClass = r.u32le('platformClass');
  const minor = r.u8('specVersionMinor');
  const major = r.u8('specVersionMajor');
  const errata = r.u8('specErrata');
  if (major !== 2 || minor !== 0) r.fail(`spec version ${major}.${minor} is not 2.0`);
  const uintnSize = r.u8('uintnSize');
  const n = r.u32le('numberOfAlgorithms');
  if (n === 0 || n > EVENT_LOG_LIMITS.maxSpecAlgorithms) r.fail(`${n} algorithms, expected 1..${EVENT_LOG_LIMITS.maxSpecAlgorithms}`);
  const algorithms: { algId: number; digestSize: number }[] = [];
  for (let i = 0; i < n; i++) {
    const algId = r.u16le('algorithmId');
    const digestSize = r.u16le('digestSize');
    const known = hashById(algId);
    if (known !== undefined && known.size !== digestSize) r.fail(`digest size ${digestSize} for ${known.name} is wrong`);
    if (digestSize === 0 || digestSize > 64) r.fail(`digest size ${digestSize} out of range`);
    if (algorithms.some((a) => a.algId === algId)) r.fail(`algorithm 0x${algId.toString(16)} listed twice`);
    algorithms.push({ algId, digestSize });
  }
  const vendorSize = r.u8('vendorInfoSize');
  r.bytes(vendorSize, 'vendorInfo');
  r.end();
  return { platformClass, specVersion: `${major}.${minor}.${errata}`, uintnSize, algorithms };
}

function isStartupLocality(type: number, pcr: number, data: Buffer): boolean {
  return type === EV_NO_ACTION && pcr === 0 && data.length === 17 && data.subarray(0, 16).equals(STARTUP_LOCALITY);
}

function readEventData(r: ByteReader): Buffer {
  const size = r.u32le('eventSize');
  if (size > EVENT_LOG_LIMITS.maxEventDataBytes) r.fail(`event data of ${size} bytes over the limit`);
  return r.bytes(size, 'event');
}

function checkPcr(r: ByteReader, pcr: number, type: number): void {
  // EV_NO_ACTION is never extended, and some firmware logs it against PCR 0xFFFFFFFF.
  if (pcr >= EVENT_LOG_LIMITS.pcrCount && type !== EV_NO_ACTION) r.fail(`PCR index ${pcr} out of range`);
}

/**
 * Parses a TCG PC Client event log (PFP §10.2): either SHA-1 TCG_PCClientPCREvent records, or a
 * Spec ID Event03 header followed by crypto-agile TCG_PCR_EVENT2 records. Bounded: size, event
 * count and per-event data are all capped before anything is allocated.
 */
export function parseEventLog(buf: Buffer): EventLog {
  if (buf.length > EVENT_LOG_LIMITS.maxBytes) throw new ZetaError('ZETA_ERR_TPM_MALFORMED', `Malformed event log: ${buf.length} bytes over the limit.`);
  const r = new ByteReader(buf, 'event log');
  const events: LogEvent[] = [];
  let specId: SpecIdEvent | null = null;
  let startupLocality: number | null = null;
  // First record is always in the SHA-1 format (PFP §10.2.1).
  const first: { pcr: number; type: number; digest: Buffer; data: Buffer } = { pcr: r.u32le('pcrIndex'), type: r.u32le('eventType'), digest: r.bytes(20, 'digest'), data: Buffer.alloc(0) };
  first.data = readEventData(r);
  if (first.type === EV_NO_ACTION && first.pcr === 0 && first.data.subarray(0, 16).equals(SPEC_ID_03)) {
    specId = parseSpecId(first.data);
  } else {
    checkPcr(r, first.pcr, first.type);
    events.push({ seq: 0, pcr: first.pcr, type: first.type, typeName: eventTypeName(first.type), digests: new Map([[HASH_ALGS.sha1.id, first.digest]]), data: first.data });
    if (isStartupLocality(first.type, first.pcr, first.data)) startupLocality = first.data[16] ?? 0;
  }
  while (r.remaining > 0) {
    if (events.length >= EVENT_LOG_LIMITS.maxEvents) r.fail(`more than ${EVENT_LOG_LIMITS.maxEvents} events`);
    const pcr = r.u32le('pcrIndex');
    const type = r.u32le('eventType');
    checkPcr(r, pcr, type);
    const digests = new Map<number, Buffer>();
    if (specId === null) {
      digests.set(HASH_ALGS.sha1.id, r.bytes(20, 'digest'));
    } else {
      const count = r.u32le('digests.count');
      if (count > specId.algorithms.length) r.fail(`${count} digests, the Spec ID event lists ${specId.algorithms.length} algorithms`);
      for (let i = 0; i < count; i++) {
        const algId = r.u16le('digests.hashAlg');
        const spec = specId.algorithms.find((a) => a.algId === algId) ?? r.fail(`digest algorithm 0x${algId.toString(16)} not in the Spec ID event`);
        if (digests.has(algId)) r.fail(`digest algorithm 0x${algId.toString(16)} twice in one event`);
        digests.set(algId, r.bytes(spec.digestSize, 'digest'));
      }
    }
    const data = readEventData(r);
    if (isStartupLocality(type, pcr, data)) {
      if (startupLocality !== null) r.fail('two StartupLocality events');
      startupLocality = data[16] ?? 0;
    }
    events.push({ seq: events.length, pcr, type, typeName: eventTypeName(type), digests, data });
  }
  const banks = specId === null ? (['sha1'] as HashName[]) : specId.algorithms.map((a) => hashById(a.algId)?.name).filter((n): n is HashName => n !== undefined);
  return { format: specId === null ? 'sha1' : 'crypto-agile', specId, events, banks, startupLocality };
}

/** PFP §3.3.4: PCR 17-22 (dynamic launch) start as all ones, the others as zeros. */
function initialPcr(pcr: number, size: number, locality: number | null): Buffer {
  if (pcr >= 17 && pcr <= 22) return Buffer.alloc(size, 0xff);
  const v = Buffer.alloc(size);
  // PFP §10.4.5.3: an H-CRTM/locality-3 start leaves the locality in PCR 0's last octet.
  if (pcr === 0 && locality !== null) v[size - 1] = locality;
  return v;
}

export interface ReplayResult {
  /** Every PCR 0-23: its initial value extended by each of its events, in log order. */
  readonly pcrs: ReadonlyMap<number, Buffer>;
  /** PCRs at least one event extended. */
  readonly touched: ReadonlySet<number>;
}

/**
 * Replays the log into one bank: PCR_new = H(PCR_old || digest) for every event but EV_NO_ACTION
 * (PFP §10.4.5: not extended). An event without a digest for the bank makes the bank unusable.
 */
export function replayEventLog(log: EventLog, alg: HashName): ReplayResult {
  const info = HASH_ALGS[alg];
  if (!log.banks.includes(alg)) throw new ZetaError('ZETA_ERR_TPM_MALFORMED', `The event log has no ${alg} digests.`);
  const pcrs = new Map<number, Buffer>();
  for (let i = 0; i < EVENT_LOG_LIMITS.pcrCount; i++) pcrs.set(i, initialPcr(i, info.size, log.startupLocality));
  const touched = new Set<number>();
  for (const ev of log.events) {
    if (ev.type === EV_NO_ACTION) continue;
    const d = ev.digests.get(info.id);
    if (d === undefined) throw new ZetaError('ZETA_ERR_TPM_MALFORMED', `Malformed event log: event ${ev.seq} has no ${alg} digest.`);
    const prev = pcrs.get(ev.pcr) ?? initialPcr(ev.pcr, info.size, log.startupLocality);
    pcrs.set(ev.pcr, createHash(alg).update(prev).update(d).digest());
    touched.add(ev.pcr);
  }
  return { pcrs, touched };
}
