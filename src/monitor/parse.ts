/**
 * Line parsers for the three signal formats. Untrusted input is bounded before anything else
 * (STYLE.md: size → structure → values): a line is length-capped, then split or JSON-parsed, then
 * every field is type- and range-checked. A bad line is reported with its line number and reason;
 * it never throws and never reaches a detector.
 */
import type { FlowRecord, GatewayRecord, Signal, SignalFormat, TelemetryRecord } from './signals.js';

/** Longer lines are refused before JSON.parse or split (a conn.log line is ~250 bytes). */
export const MAX_LINE_CHARS = 16_384;
const MAX_ID_CHARS = 128;
const MAX_TOPIC_CHARS = 1024;
const MAX_DETAIL_CHARS = 1024;

export type ParseResult =
  | { readonly ok: true; readonly record: Signal }
  /** A header, comment or blank line: not a record, gets no output line. */
  | { readonly ok: 'skip' }
  | { readonly ok: false; readonly error: string };

export interface LineParser {
  parse(line: string): ParseResult;
}

const SKIP: ParseResult = { ok: 'skip' };
const bad = (error: string): ParseResult => ({ ok: false, error });

/** Zeek's default conn.log column order, used for TSV lines when no `#fields` header came first. */
export const ZEEK_CONN_DEFAULT_FIELDS = [
  'ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'service', 'duration', 'orig_bytes', 'resp_bytes',
  'conn_state', 'local_orig', 'local_resp', 'missed_bytes', 'history', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'tunnel_parents',
] as const;

// Addresses: IPv4, IPv6 (with optional zone) — a character class and a cap, not a full grammar.
const ADDR_RE = /^[0-9A-Fa-f:.%a-zA-Z_-]{1,64}$/;
const ID_RE = /^[\x21-\x7e]{1,128}$/;
const TOKEN_RE = /^[A-Za-z0-9_.,:/-]{0,64}$/;

function decodeZeekEscapes(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Epoch seconds (Zeek), epoch ms (numbers ≥ 1e11) or an ISO 8601 string → epoch ms. */
export function parseTimestamp(v: unknown, numbersAreSeconds: boolean | 'auto'): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return undefined;
    const secs = numbersAreSeconds === 'auto' ? v < 1e11 : numbersAreSeconds;
    return secs ? Math.round(v * 1000) : Math.round(v);
  }
  if (typeof v === 'string' && v.length > 0 && v.length <= 40) {
    if (/^\d+(\.\d+)?$/.test(v)) return parseTimestamp(Number(v), numbersAreSeconds);
    const t = Date.parse(v);
    return Number.isFinite(t) && t > 0 ? t : undefined;
  }
  return undefined;
}

function num(v: unknown, dflt: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null || v === '-' || v === '') return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.length <= 32 ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 && n <= max ? n : undefined;
}

function str(v: unknown, re: RegExp): string | undefined {
  if (v === undefined || v === null || v === '-' || v === '(empty)') return '';
  return typeof v === 'string' && re.test(v) ? v : undefined;
}

/** Build a FlowRecord from field accessors; returns the first failing field as the error. */
function buildFlow(get: (name: string) => unknown): FlowRecord | string {
  const tsMs = parseTimestamp(get('ts'), 'auto');
  if (tsMs === undefined) return 'ts: not a timestamp';
  const origH = str(get('id.orig_h'), ADDR_RE);
  if (!origH) return 'id.orig_h: not an address';
  const respH = str(get('id.resp_h'), ADDR_RE);
  if (!respH) return 'id.resp_h: not an address';
  const origP = num(get('id.orig_p'), 0, 65535);
  if (origP === undefined || !Number.isInteger(origP)) return 'id.orig_p: not a port';
  const respP = num(get('id.resp_p'), 0, 65535);
  if (respP === undefined || !Number.isInteger(respP)) return 'id.resp_p: not a port';
  const uid = str(get('uid'), TOKEN_RE);
  if (uid === undefined) return 'uid: invalid';
  const proto = str(get('proto'), TOKEN_RE);
  if (proto === undefined) return 'proto: invalid';
  const service = str(get('service'), TOKEN_RE);
  if (service === undefined) return 'service: invalid';
  const connState = str(get('conn_state'), TOKEN_RE);
  if (connState === undefined) return 'conn_state: invalid';
  const history = str(get('history'), TOKEN_RE);
  if (history === undefined) return 'history: invalid';
  const duration = num(get('duration'), 0, 1e9);
  if (duration === undefined) return 'duration: not a number';
  const origBytes = num(get('orig_bytes'), 0);
  if (origBytes === undefined) return 'orig_bytes: not a count';
  const respBytes = num(get('resp_bytes'), 0);
  if (respBytes === undefined) return 'resp_bytes: not a count';
  const origPkts = num(get('orig_pkts'), 0);
  if (origPkts === undefined) return 'orig_pkts: not a count';
  const respPkts = num(get('resp_pkts'), 0);
  if (respPkts === undefined) return 'resp_pkts: not a count';
  return { kind: 'flow', tsMs, uid, origH, origP, respH, respP, proto, service, duration, origBytes, respBytes, connState, history, origPkts, respPkts };
}

function parseJsonObject(line: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  return v as Record<string, unknown>;
}

/** Zeek conn.log, JSON lines or the TSV form with its `#separator`/`#fields`/`#types` header, mixed freely. */
export class ZeekConnParser implements LineParser {
  #sep = '\t';
  #unset = '-';
  #empty = '(empty)';
  #index = new Map<string, number>(ZEEK_CONN_DEFAULT_FIELDS.map((f, i) => [f, i]));
  #nFields: number = ZEEK_CONN_DEFAULT_FIELDS.length;

  parse(line: string): ParseResult {
    if (line.length > MAX_LINE_CHARS) return bad(`line longer than ${MAX_LINE_CHARS} characters`);
    if (line.trim() === '') return SKIP;
    if (line.startsWith('#')) return this.#header(line);
    const c0 = line.charCodeAt(0);
    if (c0 === 123 /* { */ || c0 === 91 /* [ */) {
      const o = parseJsonObject(line);
      if (typeof o === 'string') return bad(o);
      // Zeek's JSON writer may nest `id` as an object (`id: {orig_h, ...}`) with some plugins.
      const id = typeof o['id'] === 'object' && o['id'] !== null ? (o['id'] as Record<string, unknown>) : undefined;
      const r = buildFlow((k) => (k in o ? o[k] : id !== undefined && k.startsWith('id.') ? id[k.slice(3)] : undefined));
      return typeof r === 'string' ? bad(r) : { ok: true, record: r };
    }
    const cols = line.split(this.#sep);
    if (cols.length !== this.#nFields) return bad(`expected ${this.#nFields} tab-separated fields, got ${cols.length}`);
    const r = buildFlow((k) => {
      const i = this.#index.get(k);
      if (i === undefined) return undefined;
      const v = cols[i];
      return v === this.#unset ? undefined : v === this.#empty ? '' : v;
    });
    return typeof r === 'string' ? bad(r) : { ok: true, record: r };
  }

  #header(line: string): ParseResult {
    if (line.startsWith('#separator')) {
      const v = decodeZeekEscapes(line.slice('#separator'.length).trim() || '\\x09');
      if (v.length !== 1) return bad('#separator: expected one character');
      this.#sep = v;
      return SKIP;
    }
    const parts = line.split(this.#sep);
    const tag = parts[0];
    if (tag === '#fields') {
      const fields = parts.slice(1);
      if (fields.length < 3 || fields.length > 256) return bad('#fields: implausible field list');
      for (const f of ['ts', 'id.orig_h', 'id.resp_h']) if (!fields.includes(f)) return bad(`#fields: no ${f} column`);
      this.#index = new Map(fields.map((f, i) => [f, i]));
      this.#nFields = fields.length;
    } else if (tag === '#unset_field' && parts[1] !== undefined) {
      this.#unset = parts[1];
    } else if (tag === '#empty_field' && parts[1] !== undefined) {
      this.#empty = parts[1];
    }
    // #set_separator, #path, #open, #close, #types: nothing detection needs.
    return SKIP;
  }
}

const TELEMETRY_COLUMNS = ['ts', 'device', 'metric', 'value'] as const;

function buildTelemetry(ts: unknown, device: unknown, metric: unknown, value: unknown): TelemetryRecord | string {
  const tsMs = parseTimestamp(ts, 'auto');
  if (tsMs === undefined) return 'ts: not a timestamp';
  if (typeof device !== 'string' || !ID_RE.test(device)) return 'device: expected 1-128 printable characters';
  if (typeof metric !== 'string' || !/^[A-Za-z0-9_.:/-]{1,64}$/.test(metric)) return 'metric: expected 1-64 of [A-Za-z0-9_.:/-]';
  const v = typeof value === 'number' ? value : typeof value === 'string' && value.length > 0 && value.length <= 32 ? Number(value) : NaN;
  if (!Number.isFinite(v) || Math.abs(v) > 1e15) return 'value: not a finite number';
  return { kind: 'telemetry', tsMs, device, metric, value: v };
}

/** Split one CSV line (RFC 4180 quoting, no embedded newlines). */
export function splitCsv(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        s += line.slice(i, q);
        if (line[q + 1] === '"') {
          s += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(s);
      if (i === line.length) return out;
      if (line[i] !== ',') return undefined;
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i).trim());
        return out;
      }
      out.push(line.slice(i, c).trim());
      i = c + 1;
    }
  }
}

/** Telemetry `{ts, device, metric, value}` as JSON lines, or CSV with a header naming those columns. */
export class TelemetryParser implements LineParser {
  #cols: number[] | undefined;

  parse(line: string): ParseResult {
    if (line.length > MAX_LINE_CHARS) return bad(`line longer than ${MAX_LINE_CHARS} characters`);
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return SKIP;
    if (t.charCodeAt(0) === 123) {
      const o = parseJsonObject(t);
      if (typeof o === 'string') return bad(o);
      const r = buildTelemetry(o['ts'], o['device'], o['metric'], o['value']);
      return typeof r === 'string' ? bad(r) : { ok: true, record: r };
    }
    const cells = splitCsv(t);
    if (cells === undefined) return bad('CSV: unbalanced quotes');
    if (this.#cols === undefined) {
      const lower = cells.map((c) => c.toLowerCase());
      if (TELEMETRY_COLUMNS.every((c) => lower.includes(c))) {
        this.#cols = TELEMETRY_COLUMNS.map((c) => lower.indexOf(c));
        return SKIP;
      }
      // No header: the documented column order.
      this.#cols = [0, 1, 2, 3];
    }
    const [a, b, c, d] = this.#cols as [number, number, number, number];
    if (cells.length < Math.max(a, b, c, d) + 1) return bad(`CSV: expected at least ${Math.max(a, b, c, d) + 1} columns, got ${cells.length}`);
    const r = buildTelemetry(cells[a], cells[b], cells[c], cells[d]);
    return typeof r === 'string' ? bad(r) : { ok: true, record: r };
  }
}

/** Gateway events (src/gateway/types.ts `GatewayEvent`), one JSON object per line. */
export class GatewayEventParser implements LineParser {
  parse(line: string): ParseResult {
    if (line.length > MAX_LINE_CHARS) return bad(`line longer than ${MAX_LINE_CHARS} characters`);
    const t = line.trim();
    if (t === '') return SKIP;
    const o = parseJsonObject(t);
    if (typeof o === 'string') return bad(o);
    const r = parseGatewayEvent(o);
    return typeof r === 'string' ? bad(r) : { ok: true, record: r };
  }
}

/** Check a decoded gateway event object; the result holds only the known fields. */
export function parseGatewayEvent(o: Record<string, unknown>): GatewayRecord | string {
  const type = o['type'];
  if (typeof type !== 'string' || !/^[a-z_]{1,32}$/.test(type)) return 'type: expected a gateway event type';
  const at = o['at'];
  const tsMs = typeof at === 'string' ? parseTimestamp(at, false) : undefined;
  if (tsMs === undefined || typeof at !== 'string') return 'at: expected an ISO 8601 time';
  const sessionId = o['sessionId'];
  if (typeof sessionId !== 'number' || !Number.isSafeInteger(sessionId) || sessionId < 0) return 'sessionId: expected a non-negative integer';
  const clientAddress = o['clientAddress'];
  if (typeof clientAddress !== 'string' || clientAddress.length > MAX_ID_CHARS) return 'clientAddress: expected a string';
  const ev: { -readonly [K in keyof GatewayRecord['event']]: GatewayRecord['event'][K] } = { type, at, sessionId, clientAddress };
  const deviceId = o['deviceId'];
  if (deviceId !== undefined) {
    if (typeof deviceId !== 'string' || !ID_RE.test(deviceId)) return 'deviceId: expected 1-128 printable characters';
    ev.deviceId = deviceId;
  }
  const topic = o['topic'];
  if (topic !== undefined) {
    if (typeof topic !== 'string' || topic.length > MAX_TOPIC_CHARS) return `topic: expected at most ${MAX_TOPIC_CHARS} characters`;
    ev.topic = topic;
  }
  const bytes = o['bytes'];
  if (bytes !== undefined) {
    if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return 'bytes: expected a non-negative number';
    ev.bytes = bytes;
  }
  const reason = o['reason'];
  if (reason !== undefined) {
    if (typeof reason !== 'string' || reason.length > 64) return 'reason: expected at most 64 characters';
    ev.reason = reason;
  }
  const detail = o['detail'];
  if (detail !== undefined) {
    if (typeof detail !== 'string') return 'detail: expected a string';
    ev.detail = detail.slice(0, MAX_DETAIL_CHARS);
  }
  return { kind: 'gateway', tsMs, event: ev };
}

export function createParser(format: SignalFormat): LineParser {
  switch (format) {
    case 'zeek-conn':
      return new ZeekConnParser();
    case 'telemetry':
      return new TelemetryParser();
    case 'gateway':
      return new GatewayEventParser();
  }
}
