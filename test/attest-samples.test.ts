// Real TPM 2.0 samples from google/go-attestation attest/testdata (/work/shared/data/attestation,
// used as-is): a Windows GCP Shielded VM quote with its AK, PCRs and event log, and real UEFI
// event logs. Every tampered copy is made here, in memory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../src/common/clock.js';
import {
  MemoryReferenceStore,
  encodeEventLog,
  extractMeasurements,
  parseEventLog,
  parseQuoteAttest,
  parseTpmPublic,
  parseTpmSignature,
  referenceFromMeasurements,
  replayEventLog,
  unboundEventData,
  verifyAttestation,
  verifyQuote,
  type AttestationInput,
  type BoundAk,
  type EventLog,
  type LogEvent,
  type PcrValues,
} from '../src/attest/index.js';

const DATA = process.env.ZETA_SHARED_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
const TESTDATA = join(DATA, 'attestation', 'attest', 'testdata');

interface Dump {
  AK: { Public: string };
  Quote: { Nonce: string; Quote: string; Signature: string };
  Log: { PCRs: { Index: number; Digest: string; DigestAlg: number }[]; Raw: string };
}

const dump = JSON.parse(readFileSync(join(TESTDATA, 'windows_gcp_shielded_vm.json'), 'utf8')) as Dump;
const b64 = (s: string): Buffer => Buffer.from(s, 'base64');
const akPublic = b64(dump.AK.Public);
const quote = b64(dump.Quote.Quote);
const signature = b64(dump.Quote.Signature);
const nonce = b64(dump.Quote.Nonce);
const rawLog = b64(dump.Log.Raw);
// Go's crypto.SHA1 is 3: every PCR in the sample is from the SHA-1 bank.
assert.ok(dump.Log.PCRs.every((p) => p.DigestAlg === 3));
const sha1Pcrs: Record<number, Buffer> = Object.fromEntries(dump.Log.PCRs.map((p) => [p.Index, b64(p.Digest)]));
const pcrs: PcrValues = { sha1: sha1Pcrs };

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = (c[at] ?? 0) ^ 0x01;
  return c;
}

function withEvents(log: EventLog, f: (events: LogEvent[]) => LogEvent[]): Buffer {
  return encodeEventLog({ ...log, events: f([...log.events]) });
}

describe('real quote (windows_gcp_shielded_vm.json)', () => {
  it('parses the AK (restricted RSA-2048 signing key, RSASSA-SHA1) and the quote over all 24 SHA-1 PCRs', () => {
    const ak = parseTpmPublic(akPublic);
    assert.equal(ak.type, 'rsa');
    assert.equal(ak.rsa?.keyBits, 2048);
    assert.equal(ak.nameAlg.name, 'sha256');
    assert.equal(ak.name.length, 34);
    const q = parseQuoteAttest(quote);
    assert.equal(q.magic, 0xff544347);
    assert.equal(q.type, 0x8018);
    assert.equal(q.extraData.length, 0);
    assert.deepEqual(q.pcrSelect.map((s) => [s.hash.name, s.pcrs.length]), [['sha1', 24]]);
    assert.equal(q.pcrDigest.length, 20);
    const sig = parseTpmSignature(signature);
    assert.deepEqual([sig.scheme, sig.hash.name, sig.sig?.length], ['rsassa', 'sha1', 256]);
  });

  it('verifies the real signature with the AK, the nonce and the PCRs against pcrDigest', () => {
    const r = verifyQuote({ akPublic, quote, signature, nonce, pcrs, allowSha1: true });
    assert.equal(r.ok, true, r.ok ? '' : r.detail);
  });

  it('refuses SHA-1 unless it is explicitly allowed', () => {
    const r = verifyQuote({ akPublic, quote, signature, nonce, pcrs });
    assert.equal(r.ok ? 'ok' : r.reason, 'weak-hash');
  });

  const refusals: [string, Partial<Parameters<typeof verifyQuote>[0]>, string][] = [
    ['another nonce (a replayed or stale quote)', { nonce: Buffer.from('fresh-nonce-0001') }, 'nonce-mismatch'],
    ['a flipped bit in the signature', { signature: flip(signature, 100) }, 'signature-invalid'],
    ['a changed quote body (clock)', { quote: flip(quote, 60) }, 'signature-invalid'],
    ['a changed PCR value', { pcrs: { sha1: { ...sha1Pcrs, 7: flip(sha1Pcrs[7] ?? Buffer.alloc(20), 0) } } }, 'pcr-digest-mismatch'],
    ['a missing PCR value', { pcrs: { sha1: Object.fromEntries(Object.entries(sha1Pcrs).filter(([k]) => k !== '23')) } }, 'pcr-selection-mismatch'],
    ['an extra, unquoted bank', { pcrs: { ...pcrs, sha256: { 0: Buffer.alloc(32) } } }, 'pcr-selection-mismatch'],
    ['a truncated quote', { quote: quote.subarray(0, quote.length - 3) }, 'malformed'],
    ['a quote whose magic is not TPM_GENERATED_VALUE', { quote: flip(quote, 0) }, 'malformed'],
    ['a key without restricted/fixedTPM', { akPublic: flip(akPublic, 5) }, 'ak-not-restricted'],
  ];
  for (const [what, change, reason] of refusals) {
    it(`refuses ${what}: ${reason}`, () => {
      const r = verifyQuote({ akPublic, quote, signature, nonce, pcrs, allowSha1: true, ...change });
      assert.equal(r.ok ? 'ok' : r.reason, reason);
    });
  }
});

describe('real event logs', () => {
  const files = readdirSync(TESTDATA).filter((f) => f.endsWith('_eventlog'));

  it('the Windows log replays to exactly the 24 quoted SHA-1 PCRs', () => {
    const log = parseEventLog(rawLog);
    assert.equal(log.format, 'sha1');
    const replay = replayEventLog(log, 'sha1');
    for (const p of dump.Log.PCRs) assert.equal(replay.pcrs.get(p.Index)?.toString('hex'), b64(p.Digest).toString('hex'), `PCR ${p.Index}`);
    assert.deepEqual([...replay.touched].sort((a, b) => a - b), [0, 4, 5, 7, 11, 12, 13, 14]);
  });

  for (const f of files) {
    it(`${f}: parses, names every event type, re-encodes byte for byte, replays every bank`, () => {
      const raw = readFileSync(join(TESTDATA, f));
      const log = parseEventLog(raw);
      assert.ok(encodeEventLog(log).equals(raw));
      for (const ev of log.events) assert.doesNotMatch(ev.typeName, /UNKNOWN/, `event ${ev.seq}`);
      for (const bank of log.banks) {
        const replay = replayEventLog(log, bank);
        assert.equal(replay.pcrs.size, 24);
        // The untampered real logs keep the PFP rule: data-bound events hash to their digests.
        assert.deepEqual(unboundEventData(log, bank).map((e) => e.seq), []);
      }
    });
  }

  it('reads the formats: crypto-agile with SHA-1/256/384 banks, SHA-256 only, SHA-1 only, StartupLocality', () => {
    const read = (f: string): EventLog => parseEventLog(readFileSync(join(TESTDATA, f)));
    assert.deepEqual(read('ubuntu_2104_shielded_vm_no_secure_boot_eventlog').banks, ['sha1', 'sha256', 'sha384']);
    assert.deepEqual(read('crypto_agile_eventlog').banks, ['sha256']);
    assert.equal(read('ebs_event_missing_eventlog').format, 'sha1');
    assert.equal(read('short_no_action_eventlog').startupLocality, 3);
    // A StartupLocality of 3 leaves PCR 0 = 00..03 before the first extend (PFP §10.4.5.3).
    assert.equal(replayEventLog(read('short_no_action_eventlog'), 'sha1').pcrs.get(0)?.toString('hex'), '00'.repeat(19) + '03');
  });

  it('the three banks of a crypto-agile log agree on which PCRs are used', () => {
    const log = parseEventLog(readFileSync(join(TESTDATA, 'ubuntu_2104_shielded_vm_no_secure_boot_eventlog')));
    const touched = log.banks.map((b) => [...replayEventLog(log, b).touched].sort((x, y) => x - y).join(','));
    assert.equal(new Set(touched).size, 1);
  });

  it('reads Secure Boot state and keys from EV_EFI_VARIABLE_DRIVER_CONFIG', () => {
    const all = new Set(Array.from({ length: 24 }, (_, i) => i));
    const on = extractMeasurements(parseEventLog(readFileSync(join(TESTDATA, 'sb_cert_eventlog'))), 'sha256', all);
    assert.equal(on.secureBoot.enabled, true);
    assert.match(on.secureBoot.pk ?? '', /^[0-9a-f]{64}$/);
    assert.equal(on.bootApplications.length, 3);
    const off = extractMeasurements(parseEventLog(readFileSync(join(TESTDATA, 'ubuntu_2104_shielded_vm_no_secure_boot_eventlog'))), 'sha256', all);
    assert.equal(off.secureBoot.enabled, false);
    assert.ok(off.ipl.length > 0, 'grub measures kernel, initrd and commands as EV_IPL');
  });

  it('refuses bounded-input abuse: a huge event size, an unknown digest algorithm, a bad Spec ID', () => {
    const huge = Buffer.concat([Buffer.from('0100000008000000', 'hex'), Buffer.alloc(20), Buffer.from('ffffff7f', 'hex')]);
    assert.throws(() => parseEventLog(huge), { code: 'ZETA_ERR_TPM_MALFORMED' });
    const agile = readFileSync(join(TESTDATA, 'crypto_agile_eventlog'));
    const badAlg = Buffer.from(agile);
    // First TCG_PCR_EVENT2 follows the 0x41-byte Spec ID record; its hashAlg sits after pcr, type, count.
    badAlg.writeUInt16LE(0x0004, 0x41 + 12);
    assert.throws(() => parseEventLog(badAlg), { code: 'ZETA_ERR_TPM_MALFORMED' });
    const badSpec = Buffer.from(agile);
    badSpec.writeUInt32LE(0xffffffff, 0x20 + 24); // numberOfAlgorithms
    assert.throws(() => parseEventLog(badSpec), { code: 'ZETA_ERR_TPM_MALFORMED' });
    assert.throws(() => parseEventLog(agile.subarray(0, agile.length - 5)), { code: 'ZETA_ERR_TPM_MALFORMED' });
  });
});

describe('verifyAttestation on the real sample', () => {
  const ak = parseTpmPublic(akPublic);
  // The sample has no EK; the binding record is what finishAkActivation would have produced.
  const bound: BoundAk = { akName: ak.name.toString('hex'), akPublic: ak.raw, ekName: '000b' + '00'.repeat(32), ekTrust: { kind: 'pinned-ek' }, boundAt: new Date(0) };
  const log = parseEventLog(rawLog);
  const input: AttestationInput = {
    deviceId: 'dev-win-1',
    model: 'gcp-shielded-vm',
    firmwareVersion: 'sample',
    ak: { kind: 'tpm', akPublic, bound },
    quote,
    signature,
    nonce,
    pcrs,
    eventLog: rawLog,
  };
  const clock = new ManualClock();
  const policy = (references = new MemoryReferenceStore(), tofu = true) => ({ references, tofu, clock, allowSha1: true });

  it('TOFU on: the first attestation is verified and pinned; the next one matches the pin', async () => {
    const references = new MemoryReferenceStore();
    const first = await verifyAttestation(input, policy(references));
    assert.equal(first.status, 'verified', first.detail);
    assert.equal(first.reference, 'tofu-pinned');
    assert.equal(first.tpmResident, true);
    assert.equal(first.weaker, undefined);
    assert.equal(first.measurements?.secureBoot.enabled, true);
    assert.deepEqual(first.at, clock.now());
    const second = await verifyAttestation(input, policy(references));
    assert.equal(second.status, 'verified');
    assert.equal(second.reference, 'device');
  });

  it('TOFU off and no reference values: unknown, never verified', async () => {
    const r = await verifyAttestation(input, policy(new MemoryReferenceStore(), false));
    assert.equal(r.status, 'unknown');
    assert.equal(r.reason, 'no-reference-values');
    assert.ok(r.measurements !== null);
  });

  it('registered reference values for the model: verified; a boot loader not in them: refused', async () => {
    const m = extractMeasurements(log, 'sha1', new Set(Array.from({ length: 24 }, (_, i) => i)));
    const good = new MemoryReferenceStore();
    good.register(referenceFromMeasurements('gcp-shielded-vm', 'sample', m));
    assert.equal((await verifyAttestation(input, policy(good, false))).reference, 'model');
    const other = new MemoryReferenceStore();
    other.register({ ...referenceFromMeasurements('gcp-shielded-vm', 'sample', m), bootApplications: ['ab'.repeat(20)] });
    const r = await verifyAttestation(input, policy(other, false));
    assert.equal(r.status, 'failed');
    assert.equal(r.reason, 'measurement-not-in-reference');
    assert.match(r.detail ?? '', /bootApplications/);
    const sbOff = new MemoryReferenceStore();
    sbOff.register({ ...referenceFromMeasurements('gcp-shielded-vm', 'sample', m), secureBoot: { enabled: false } });
    assert.equal((await verifyAttestation(input, policy(sbOff, false))).reason, 'measurement-not-in-reference');
  });

  it('refuses a tampered event log: SecureBoot variable edited, digest kept', async () => {
    const tampered = withEvents(log, (evs) =>
      evs.map((ev) => {
        if (ev.typeName !== 'EV_EFI_VARIABLE_DRIVER_CONFIG' || !ev.data.includes(Buffer.from('SecureBoot', 'utf16le'))) return ev;
        const data = Buffer.from(ev.data);
        data[data.length - 1] = 0; // SecureBoot = 0, claimed off
        return { ...ev, data };
      }),
    );
    const r = await verifyAttestation({ ...input, eventLog: tampered }, policy());
    assert.equal(r.status, 'failed');
    assert.equal(r.reason, 'event-log-tampered');
  });

  it('refuses PCRs that do not match the log: a boot loader digest swapped, or an event dropped', async () => {
    const swapped = withEvents(log, (evs) =>
      evs.map((ev) => (ev.typeName === 'EV_EFI_BOOT_SERVICES_APPLICATION' ? { ...ev, digests: new Map([[0x0004, Buffer.alloc(20, 0x42)]]) } : ev)),
    );
    assert.equal((await verifyAttestation({ ...input, eventLog: swapped }, policy())).reason, 'event-log-pcr-mismatch');
    const dropped = withEvents(log, (evs) => evs.slice(0, -1));
    assert.equal((await verifyAttestation({ ...input, eventLog: dropped }, policy())).reason, 'event-log-pcr-mismatch');
    const garbage = Buffer.concat([rawLog, Buffer.from([1, 2, 3])]);
    assert.equal((await verifyAttestation({ ...input, eventLog: garbage }, policy())).reason, 'event-log-tampered');
  });

  it('refuses an AK that was never bound to an EK, or another AK than the bound one', async () => {
    const never = await verifyAttestation({ ...input, ak: { kind: 'tpm', akPublic, bound: null } }, policy());
    assert.equal(never.reason, 'ak-not-bound');
    const other = await verifyAttestation({ ...input, ak: { kind: 'tpm', akPublic, bound: { ...bound, akName: '000b' + '11'.repeat(32) } } }, policy());
    assert.equal(other.reason, 'ak-not-bound');
  });

  it('a software attestation key verifies the quote but is marked weaker and not TPM-resident', async () => {
    const r = await verifyAttestation({ ...input, ak: { kind: 'software', publicKey: ak.key } }, policy());
    assert.equal(r.status, 'verified', r.detail);
    assert.equal(r.tpmResident, false);
    assert.equal(r.weaker, 'software-key');
  });

  it('requires the boot PCRs in the quote (fail closed on a quote over PCR 23 alone)', async () => {
    const r = await verifyAttestation(input, { ...policy(), requiredPcrs: [0, 2, 4, 7, 24] });
    assert.equal(r.reason, 'pcr-selection-mismatch');
  });

  it('reference values survive a JSON round trip, and a bad file is refused', () => {
    const s = new MemoryReferenceStore();
    s.register(referenceFromMeasurements('m', 'fw', extractMeasurements(log, 'sha1', new Set([0, 4, 7]))));
    const again = MemoryReferenceStore.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    assert.deepEqual(again.toJSON(), s.toJSON());
    assert.throws(() => MemoryReferenceStore.fromJSON({ version: 1, references: [{ model: 'm' }] }), { code: 'ZETA_ERR_VALIDATION' });
  });
});
