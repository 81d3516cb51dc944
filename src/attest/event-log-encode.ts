import { ZetaError } from '../common/errors.js';
import { HASH_ALGS } from './tpm-alg.js';
import type { EventLog, LogEvent, SpecIdEvent } from './event-log.js';

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u16le(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

/** TCG_EfiSpecIDEvent body (PFP §10.4.5.1). */
export function encodeSpecId(spec: Pick<SpecIdEvent, 'algorithms'> & Partial<SpecIdEvent>): Buffer {
  const parts = [Buffer.from('Spec ID Event03\0', 'latin1'), u32le(spec.platformClass ?? 0), Buffer.from([0, 2, 0, spec.uintnSize ?? 2]), u32le(spec.algorithms.length)];
  for (const a of spec.algorithms) parts.push(u16le(a.algId), u16le(a.digestSize));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function sha1Record(ev: Pick<LogEvent, 'pcr' | 'type' | 'data'>, digest: Buffer): Buffer {
  return Buffer.concat([u32le(ev.pcr), u32le(ev.type), digest, u32le(ev.data.length), ev.data]);
}

/**
 * Writes an event log in the format it was read in (the inverse of parseEventLog). Used by the
 * agent to ship a log it builds itself (software measurements into PCR 16/23) and by tests.
 */
export function encodeEventLog(log: Pick<EventLog, 'format' | 'specId' | 'events'>): Buffer {
  const out: Buffer[] = [];
  if (log.format === 'sha1') {
    for (const ev of log.events) {
      const d = ev.digests.get(HASH_ALGS.sha1.id) ?? Buffer.alloc(20);
      out.push(sha1Record(ev, d));
    }
    return Buffer.concat(out);
  }
  const spec = log.specId;
  if (spec === null) throw new ZetaError('ZETA_ERR_VALIDATION', 'A crypto-agile log needs a Spec ID event.');
  out.push(sha1Record({ pcr: 0, type: 3, data: encodeSpecId(spec) }, Buffer.alloc(20)));
  for (const ev of log.events) {
    const parts = [u32le(ev.pcr), u32le(ev.type), u32le(ev.digests.size)];
    for (const [alg, d] of ev.digests) parts.push(u16le(alg), d);
    parts.push(u32le(ev.data.length), ev.data);
    out.push(Buffer.concat(parts));
  }
  return Buffer.concat(out);
}
