/**
 * Streamed ingest of external sensor lines (Zeek conn.log, telemetry, gateway events) into the
 * live Monitor. Bounded before parsed (STYLE.md: size → structure → values): the body is counted
 * as it arrives and refused past its limit, a line is never buffered beyond MAX_LINE_CHARS (an
 * over-long line is skipped to its newline and reported), and reading waits for the monitor's
 * 'drain' when its queue is at the high-water mark, so TCP back-pressure reaches the sender instead
 * of memory growing here.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { ZetaError } from '../common/errors.js';
import { MAX_LINE_CHARS, createParser, type Monitor, type SignalFormat } from '../monitor/index.js';

export const INGEST_FORMATS = ['zeek-conn', 'telemetry', 'gateway'] as const satisfies readonly SignalFormat[];
/** Rejected lines listed in the answer; the rest are only counted. */
export const MAX_REJECTED_LISTED = 100;

export interface IngestResult {
  format: SignalFormat;
  accepted: number;
  rejected: { line: number; error: string }[];
  rejectedTotal: number;
  bytes: number;
}

export interface IngestOptions {
  maxBodyBytes: number;
  /** How long to wait for the monitor to drain before giving up with 503. */
  drainTimeoutMs?: number;
}

export async function ingestStream(body: Readable | AsyncIterable<Buffer | string>, format: SignalFormat, monitor: Monitor, o: IngestOptions): Promise<IngestResult> {
  try {
    return await readLines(body, format, monitor, o);
  } catch (e) {
    if (e instanceof ZetaError) throw e;
    // The sender went away mid-body (reset, abort): its fault, not ours; what came before is in.
    throw new ZetaError('ZETA_ERR_VALIDATION', `the request body ended abnormally: ${(e as Error).message}`, { cause: e });
  }
}

async function readLines(body: Readable | AsyncIterable<Buffer | string>, format: SignalFormat, monitor: Monitor, o: IngestOptions): Promise<IngestResult> {
  // A parser per request: a TSV `#fields` header belongs to its own stream, not to other senders'.
  const parser = createParser(format);
  const decoder = new StringDecoder('utf8');
  const out: IngestResult = { format, accepted: 0, rejected: [], rejectedTotal: 0, bytes: 0 };
  let partial = '';
  let overlong = false;
  let lineNo = 0;
  const reject = (line: number, error: string): void => {
    out.rejectedTotal++;
    if (out.rejected.length < MAX_REJECTED_LISTED) out.rejected.push({ line, error });
  };
  const take = async (line: string): Promise<void> => {
    lineNo++;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    const r = parser.parse(text);
    if (r.ok === 'skip') return;
    if (r.ok === false) {
      reject(lineNo, r.error);
      return;
    }
    const droppedBefore = monitor.stats().dropped;
    const more = monitor.ingest(r.record);
    if (monitor.stats().dropped > droppedBefore) {
      // Other producers filled the queue: this line is lost (reported); wait before reading on.
      reject(lineNo, 'dropped: the monitor queue is full');
      await waitDrain(monitor, o.drainTimeoutMs ?? 10_000, out);
      return;
    }
    out.accepted++;
    if (!more) await waitDrain(monitor, o.drainTimeoutMs ?? 10_000, out);
  };

  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    out.bytes += buf.length;
    if (out.bytes > o.maxBodyBytes) {
      throw new ZetaError('ZETA_ERR_PAYLOAD_TOO_LARGE', `ingest body larger than ${o.maxBodyBytes} bytes; the ${out.accepted} lines before the limit were accepted`, { fields: { accepted: out.accepted, rejectedTotal: out.rejectedTotal } });
    }
    let s = decoder.write(buf);
    while (s.length > 0) {
      const nl = s.indexOf('\n');
      const piece = nl < 0 ? s : s.slice(0, nl);
      s = nl < 0 ? '' : s.slice(nl + 1);
      if (!overlong) {
        partial += piece;
        if (partial.length > MAX_LINE_CHARS) {
          // INVARIANT: never hold more than one bounded line; the rest of this one is skipped.
          overlong = true;
          partial = '';
        }
      }
      if (nl < 0) break;
      if (overlong) {
        lineNo++;
        reject(lineNo, `line longer than ${MAX_LINE_CHARS} characters`);
        overlong = false;
      } else {
        await take(partial);
      }
      partial = '';
    }
  }
  partial += decoder.end();
  if (overlong) {
    lineNo++;
    reject(lineNo, `line longer than ${MAX_LINE_CHARS} characters`);
  } else if (partial !== '') {
    await take(partial);
  }
  return out;
}

async function waitDrain(monitor: Monitor, timeoutMs: number, so: IngestResult): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      monitor.off('drain', done);
      reject(new ZetaError('ZETA_ERR_INGEST_BUSY', `the monitor did not drain within ${timeoutMs} ms; ${so.accepted} lines were accepted before this`, { fields: { accepted: so.accepted, rejectedTotal: so.rejectedTotal, retryAfterSeconds: 5 } }));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(t);
      resolve();
    };
    monitor.once('drain', done);
  });
}
