import type { KeyObject } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { isZetaError } from '../common/errors.js';
import type { BoundAk } from './ak-binding.js';
import { parseEventLog, replayEventLog, type EventLog } from './event-log.js';
import { extractMeasurements, unboundEventData, type Measurements } from './measurements.js';
import type { NonceRegistry } from './nonce-registry.js';
import { compareMeasurements, referenceFromMeasurements, type ReferenceValueStore } from './reference-values.js';
import type { RefusalReason } from './refusal.js';
import type { HashName } from './tpm-alg.js';
import { parseTpmPublic } from './tpm-public.js';
import { verifyQuote, type PcrValues } from './verify-quote.js';

/** Firmware (0), option ROMs (2), boot manager/loaders (4), Secure Boot policy (7): PFP §3.3.4. */
export const DEFAULT_REQUIRED_PCRS: readonly number[] = Object.freeze([0, 2, 4, 7]);

export type AttestationKey =
  /** A TPM AK. `bound` is the record from finishAkActivation, null if the device never proved it. */
  | { readonly kind: 'tpm'; readonly akPublic: Buffer; readonly bound: BoundAk | null }
  /** A software key (no TPM): the signature proves the agent, not the platform. */
  | { readonly kind: 'software'; readonly publicKey: KeyObject };

export interface AttestationInput {
  readonly deviceId: string;
  /** From the inventory record, never from the device: they select the reference values. */
  readonly model: string;
  readonly firmwareVersion: string;
  readonly ak: AttestationKey;
  readonly quote: Buffer;
  readonly signature: Buffer;
  readonly nonce: Buffer;
  readonly pcrs: PcrValues;
  readonly eventLog: Buffer;
}

export interface AttestationPolicy {
  readonly references: ReferenceValueStore;
  /** Trust on first use: with no registered reference, pin this attestation as the device's. */
  readonly tofu: boolean;
  readonly clock: Clock;
  /** When set, the nonce must be one it issued to this device and is consumed (replay → refused). */
  readonly nonces?: NonceRegistry;
  readonly requiredPcrs?: readonly number[];
  readonly allowSha1?: boolean;
}

export type AttestationStatus = 'verified' | 'failed' | 'unknown';

export interface AttestationResult {
  readonly status: AttestationStatus;
  readonly reason?: RefusalReason | 'no-reference-values';
  /** Operator-facing detail; not for the device. */
  readonly detail?: string;
  readonly at: Date;
  readonly measurements: Measurements | null;
  /** The quote was made by an AK proven (credential activation) to be in a trusted TPM. */
  readonly tpmResident: boolean;
  readonly weaker?: 'software-key';
  /** Which reference the measurements matched: registered for the model, or pinned for the device. */
  readonly reference?: 'model' | 'device' | 'tofu-pinned';
}

/** Bank preference for measurements: strongest bank both the quote and the log carry. */
const BANK_ORDER: readonly HashName[] = ['sha384', 'sha256', 'sha512', 'sha1'];

/**
 * The whole check, in STYLE order (size → structure → crypto → state): the quote with the AK,
 * the nonce, the PCRs against pcrDigest, the log against the quoted PCRs, the event data against
 * its digests, then the measurements against the reference values for this model + firmware.
 * Fails closed: any check that cannot be made is a 'failed' (or, for missing references, 'unknown').
 */
export async function verifyAttestation(input: AttestationInput, policy: AttestationPolicy): Promise<AttestationResult> {
  const at = policy.clock.now();
  const software = input.ak.kind === 'software';
  const base = { at, tpmResident: false, ...(software ? { weaker: 'software-key' as const } : {}) };
  const fail = (reason: RefusalReason, detail: string, measurements: Measurements | null = null): AttestationResult => ({ ...base, status: 'failed', reason, detail, measurements });

  let akKey: Buffer | KeyObject;
  if (input.ak.kind === 'tpm') {
    const bound = input.ak.bound;
    if (bound === null) return fail('ak-not-bound', 'This AK was never bound to a trusted EK by credential activation.');
    let name: string;
    try {
      name = parseTpmPublic(input.ak.akPublic).name.toString('hex');
    } catch (e) {
      if (isZetaError(e)) return fail('malformed', e.message);
      throw e;
    }
    if (name !== bound.akName) return fail('ak-not-bound', 'The quote is from an AK other than the one bound to this device\'s EK.');
    akKey = bound.akPublic;
  } else {
    akKey = input.ak.publicKey;
  }

  const q = verifyQuote({
    akPublic: akKey,
    quote: input.quote,
    signature: input.signature,
    nonce: input.nonce,
    pcrs: input.pcrs,
    requiredPcrs: policy.requiredPcrs ?? DEFAULT_REQUIRED_PCRS,
    allowSha1: policy.allowSha1 === true,
  });
  if (!q.ok) return fail(q.reason, q.detail);
  if (policy.nonces !== undefined) {
    const use = policy.nonces.consume(input.deviceId, input.nonce);
    if (use === 'replayed') return fail('nonce-replayed', 'This nonce was already used by an earlier attestation.');
    if (use !== 'ok') return fail('nonce-mismatch', use === 'expired' ? 'The nonce expired before the quote arrived.' : 'The nonce was not issued to this device.');
  }

  let log: EventLog;
  try {
    log = parseEventLog(input.eventLog);
  } catch (e) {
    if (isZetaError(e)) return fail('event-log-tampered', e.message);
    throw e;
  }
  const banks = BANK_ORDER.filter((b) => q.quoted.has(b) && log.banks.includes(b) && (b !== 'sha1' || policy.allowSha1 === true));
  const primary = banks[0];
  if (primary === undefined) return fail('event-log-pcr-mismatch', 'The event log has no digests for any PCR bank the quote covers.');
  for (const bank of banks) {
    let replay;
    try {
      replay = replayEventLog(log, bank);
    } catch (e) {
      if (isZetaError(e)) return fail('event-log-tampered', e.message);
      throw e;
    }
    // INVARIANT: every quoted PCR equals the replay, including PCRs the log never touches (they
    // must still hold their reset value); a gap either way is a log that is not this boot's.
    for (const [idx, value] of q.quoted.get(bank) ?? []) {
      const replayed = replay.pcrs.get(idx);
      if (replayed === undefined || !replayed.equals(value)) {
        return fail('event-log-pcr-mismatch', `Replaying the event log does not give the quoted ${bank} PCR ${idx}.`);
      }
    }
    const unbound = unboundEventData(log, bank).filter((ev) => q.quoted.get(bank)?.has(ev.pcr) === true);
    const firstUnbound = unbound[0];
    if (firstUnbound !== undefined) return fail('event-log-tampered', `Event ${firstUnbound.seq} (${firstUnbound.typeName}, PCR ${firstUnbound.pcr}) data does not match its ${bank} digest.`);
  }
  const quotedPcrs = new Set(q.quoted.get(primary)?.keys() ?? []);
  let measurements: Measurements;
  try {
    measurements = extractMeasurements(log, primary, quotedPcrs);
  } catch (e) {
    if (isZetaError(e)) return fail('event-log-tampered', e.message);
    throw e;
  }

  const tpmResident = input.ak.kind === 'tpm';
  const ok = { ...base, tpmResident, at, measurements };
  const modelRef = await policy.references.forModel(input.model, input.firmwareVersion);
  const deviceRef = modelRef === undefined ? await policy.references.forDevice(input.deviceId, input.model, input.firmwareVersion) : undefined;
  const ref = modelRef ?? deviceRef;
  if (ref !== undefined) {
    const mismatch = compareMeasurements(measurements, ref);
    if (mismatch !== null) return { ...ok, status: 'failed', reason: 'measurement-not-in-reference', detail: mismatch };
    return { ...ok, status: 'verified', reference: modelRef !== undefined ? 'model' : 'device' };
  }
  if (!policy.tofu) {
    // Without a reference, a valid quote proves only *what* booted, not that it is good.
    return { ...ok, status: 'unknown', reason: 'no-reference-values', detail: `No reference values for ${input.model} firmware ${input.firmwareVersion}, and TOFU is off.` };
  }
  await policy.references.pinDevice(input.deviceId, referenceFromMeasurements(input.model, input.firmwareVersion, measurements));
  return { ...ok, status: 'verified', reference: 'tofu-pinned' };
}
