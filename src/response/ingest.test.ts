import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Monitor, MAX_LINE_CHARS } from '../monitor/index.js';
import { isZetaError } from '../common/errors.js';
import { ingestStream } from './ingest.js';

const tel = (i: number): string => JSON.stringify({ ts: 1_764_435_600 + i, device: `s-${i % 3}`, metric: 'temp', value: 20 + (i % 5) });

/** Splits a text into chunks of n bytes, cutting through multi-byte characters and CRLFs. */
function chunks(text: string, n: number): Readable {
  const b = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return Readable.from(out);
}

it('reads lines across chunk boundaries (CRLF, UTF-8 split), waits for drain instead of dropping', async () => {
  const monitor = new Monitor({ highWaterMark: 2, queueLimit: 4, batchSize: 1 });
  const lines = Array.from({ length: 200 }, (_, i) => tel(i));
  // Every 50th line a bad one with multi-byte characters the 7-byte chunks cut through.
  for (let i = 50; i < lines.length; i += 51) lines.splice(i, 0, 'température ° élevée');
  const r = await ingestStream(chunks(lines.join('\r\n') + '\r\n', 7), 'telemetry', monitor, { maxBodyBytes: 1 << 20 });
  assert.equal(r.accepted, 200);
  assert.deepEqual(r.rejected.map((x) => x.line), [51, 102, 153]);
  assert.equal(monitor.stats().dropped, 0, 'back-pressure, not loss');
  await monitor.idle();
  assert.equal(monitor.stats().processed, 200);
});

it('skips an over-long line without buffering it, reports bad lines by number, takes a last line without newline', async () => {
  const monitor = new Monitor();
  const text = [tel(1), 'x'.repeat(MAX_LINE_CHARS * 3), '{"ts":"nope"}', tel(2)].join('\n');
  const r = await ingestStream(chunks(text, 1000), 'telemetry', monitor, { maxBodyBytes: 1 << 20 });
  assert.equal(r.accepted, 2);
  assert.deepEqual(r.rejected.map((x) => x.line), [2, 3]);
  assert.match(r.rejected[0]!.error, /longer than 16384/);
  assert.equal(r.bytes, Buffer.byteLength(text));
});

it('lists the first 100 rejected lines and counts the rest; refuses a body past the limit', async () => {
  const monitor = new Monitor();
  const r = await ingestStream(Readable.from([Array.from({ length: 150 }, () => 'garbage').join('\n')]), 'zeek-conn', monitor, { maxBodyBytes: 1 << 20 });
  assert.equal(r.rejected.length, 100);
  assert.equal(r.rejectedTotal, 150);
  await assert.rejects(ingestStream(chunks(Array.from({ length: 100 }, (_, i) => tel(i)).join('\n'), 64), 'telemetry', monitor, { maxBodyBytes: 1024 }),
    (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_PAYLOAD_TOO_LARGE');
});
