/**
 * Offline replay: the live detector over a file, one output line per input record, same order.
 * Streaming both ways: lines are read with a length cap (an endless line cannot exhaust memory) and
 * the writer waits for 'drain' (back-pressure), so memory stays flat whatever the file size.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { ZetaError } from '../common/errors.js';
import { Detector, type DetectorOptions, type InventoryDevice } from './detector.js';
import { MAX_LINE_CHARS, createParser } from './parse.js';
import type { SignalFormat } from './signals.js';

export const SIGNAL_FORMATS: readonly SignalFormat[] = ['zeek-conn', 'telemetry', 'gateway'];

export interface RunDetectOptions {
  /** Path of the input file. */
  readonly input: string;
  readonly format: SignalFormat;
  /** Path of the JSON-lines output file (created or truncated). */
  readonly out: string;
  /** Records used only to learn: no alert among the first `warmup` records. */
  readonly warmup?: number;
  /** Optional inventory: `{ "devices": [{id, type, model?, segment?, hosts?}], "segments": {"10.1.0.0/16": "cams"} }`. */
  readonly inventory?: string;
  /** Extra detector options (thresholds, learning); `warmup`/`inventory` take precedence. */
  readonly detector?: DetectorOptions;
}

export interface RunDetectResult {
  records: number;
  alerts: number;
  malformed: number;
  notices: number;
}

/** Lines of a text stream, each capped at `maxChars` (longer lines come back as `tooLong`). */
export async function* readLines(stream: Readable, maxChars = MAX_LINE_CHARS): AsyncGenerator<{ line: string; tooLong: boolean }> {
  stream.setEncoding('utf8');
  let buf = '';
  let tooLong = false;
  for await (const chunk of stream as AsyncIterable<string>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) {
        if (!tooLong) {
          buf += chunk.slice(start);
          if (buf.length > maxChars) {
            tooLong = true;
            buf = '';
          }
        }
        break;
      }
      const piece = tooLong ? '' : buf + chunk.slice(start, nl);
      const long = tooLong || piece.length > maxChars;
      yield { line: long ? '' : piece.endsWith('\r') ? piece.slice(0, -1) : piece, tooLong: long };
      buf = '';
      tooLong = false;
      start = nl + 1;
    }
  }
  if (tooLong || buf.length > 0) yield { line: buf.endsWith('\r') ? buf.slice(0, -1) : buf, tooLong };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Read and check an inventory file (see RunDetectOptions.inventory). */
export async function loadInventory(path: string): Promise<{ devices: InventoryDevice[]; segments: Record<string, string> }> {
  let raw: unknown;
  try {
    const text = await readFile(path, 'utf8');
    if (text.length > 64 * 1024 * 1024) throw new Error('inventory larger than 64 MiB');
    raw = JSON.parse(text);
  } catch (e) {
    throw new ZetaError('ZETA_ERR_SIGNAL_INPUT', 'The inventory file could not be read as JSON.', { cause: e, internal: `${path}: ${String(e)}` });
  }
  const bad = (what: string): never => {
    throw new ZetaError('ZETA_ERR_SIGNAL_INPUT', `Inventory: ${what}.`, { fields: { inventory: what } });
  };
  if (!isRecord(raw)) return bad('expected an object with "devices" and optional "segments"');
  const devices: InventoryDevice[] = [];
  const list = raw['devices'] ?? [];
  if (!Array.isArray(list)) return bad('"devices" must be an array');
  list.forEach((d: unknown, i) => {
    if (!isRecord(d) || typeof d['id'] !== 'string' || typeof d['type'] !== 'string') return bad(`devices[${i}] needs string "id" and "type"`);
    const hosts = d['hosts'];
    if (hosts !== undefined && (!Array.isArray(hosts) || !hosts.every((h) => typeof h === 'string'))) return bad(`devices[${i}].hosts must be an array of addresses`);
    const dev: { -readonly [K in keyof InventoryDevice]: InventoryDevice[K] } = { id: d['id'], type: d['type'] };
    if (typeof d['model'] === 'string') dev.model = d['model'];
    if (typeof d['segment'] === 'string') dev.segment = d['segment'];
    if (hosts !== undefined) dev.hosts = hosts as string[];
    devices.push(dev);
  });
  const segments: Record<string, string> = {};
  const segs = raw['segments'] ?? {};
  if (!isRecord(segs)) return bad('"segments" must map addresses or CIDRs to segment names');
  for (const [k, v] of Object.entries(segs)) {
    if (typeof v !== 'string') return bad(`segments["${k}"] must be a string`);
    segments[k] = v;
  }
  return { devices, segments };
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/**
 * Replay a file through the detector. Output, one JSON object per line and per input record (header,
 * comment and blank lines are not records): `{"i", "key", "score"}` plus `"alert"` where one is
 * raised and `"notice"` where a cohort notice is raised; a malformed line gives
 * `{"i", "key": null, "score": 0, "line", "error"}`.
 */
export async function runDetect(o: RunDetectOptions): Promise<RunDetectResult> {
  if (!SIGNAL_FORMATS.includes(o.format)) throw new ZetaError('ZETA_ERR_SIGNAL_INPUT', `Unknown format; use one of ${SIGNAL_FORMATS.join(', ')}.`, { fields: { format: String(o.format) } });
  const warmup = o.warmup ?? 0;
  if (!Number.isSafeInteger(warmup) || warmup < 0) throw new ZetaError('ZETA_ERR_SIGNAL_INPUT', 'warmup must be a non-negative integer.', { fields: { warmup } });
  const inv = o.inventory !== undefined ? await loadInventory(o.inventory) : undefined;
  const detector = new Detector({
    ...(o.detector ?? {}),
    warmupRecords: warmup,
    ...(inv !== undefined ? { devices: inv.devices, segments: { ...(o.detector?.segments ?? {}), ...inv.segments } } : {}),
  });
  const parser = createParser(o.format);
  const input = createReadStream(o.input);
  try {
    await once(input, 'open');
  } catch (e) {
    throw new ZetaError('ZETA_ERR_SIGNAL_INPUT', 'The input file could not be opened.', { cause: e, internal: `${o.input}: ${String(e)}` });
  }
  const out = createWriteStream(o.out);
  await once(out, 'open');
  const result: RunDetectResult = { records: 0, alerts: 0, malformed: 0, notices: 0 };
  let lineNo = 0;
  let batch = '';
  try {
    for await (const { line, tooLong } of readLines(input)) {
      lineNo++;
      const p = tooLong ? ({ ok: false, error: `line longer than ${MAX_LINE_CHARS} characters` } as const) : parser.parse(line);
      if (p.ok === 'skip') continue;
      const i = result.records + result.malformed;
      if (p.ok === false) {
        result.malformed++;
        batch += `{"i":${i},"key":null,"score":0,"line":${lineNo},"error":${JSON.stringify(p.error)}}\n`;
      } else {
        result.records++;
        const v = detector.process(p.record);
        batch += `{"i":${i},"key":${JSON.stringify(v.key)},"score":${Math.round(v.score * 1e4) / 1e4}`;
        if (v.alert !== undefined) {
          result.alerts++;
          batch += `,"alert":${JSON.stringify(v.alert)}`;
        }
        if (v.notice !== undefined) {
          result.notices++;
          batch += `,"notice":${JSON.stringify(v.notice)}`;
        }
        batch += '}\n';
      }
      if (batch.length >= 65_536) {
        await write(out, batch);
        batch = '';
      }
    }
    if (batch.length > 0) await write(out, batch);
  } finally {
    input.destroy();
    out.end();
    await once(out, 'close');
  }
  return result;
}
