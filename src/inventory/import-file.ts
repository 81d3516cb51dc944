/**
 * Reads a fleet file for bulk import: a JSON array, JSON lines, or CSV (RFC 4180: quoted fields,
 * doubled quotes, CRLF) with a header naming the columns. Tags in CSV are separated by ";".
 * Structure is checked here; field values are validated by the inventory schema afterwards.
 */
import { ZetaError } from '../common/errors.js';

const CSV_COLUMNS = new Set(['id', 'name', 'type', 'vendor', 'model', 'firmware', 'owner', 'site', 'segment', 'tags']);

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += c; i++; continue;
    }
    if (c === '"') {
      if (field !== '') throw new ZetaError('ZETA_ERR_IMPORT', `CSV line ${rows.length + 1}: a quote inside an unquoted field`);
      quoted = true; i++; continue;
    }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r' || c === '\n') {
      row.push(field); field = '';
      if (!(row.length === 1 && row[0] === '')) rows.push(row);
      row = [];
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c; i++;
  }
  if (quoted) throw new ZetaError('ZETA_ERR_IMPORT', 'CSV: unterminated quoted field at end of input');
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

function csvRecords(text: string): Record<string, unknown>[] {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = rows.shift();
  if (header === undefined) throw new ZetaError('ZETA_ERR_IMPORT', 'CSV: empty file');
  const cols = header.map((h) => h.trim());
  const unknown = cols.filter((c) => !CSV_COLUMNS.has(c));
  if (unknown.length > 0) throw new ZetaError('ZETA_ERR_IMPORT', `CSV: unknown column(s) ${unknown.join(', ')}; allowed: ${[...CSV_COLUMNS].join(', ')}`);
  if (!cols.includes('name') || !cols.includes('type')) throw new ZetaError('ZETA_ERR_IMPORT', 'CSV: columns "name" and "type" are required');
  return rows.map((r, i) => {
    if (r.length !== cols.length) throw new ZetaError('ZETA_ERR_IMPORT', `CSV line ${i + 2}: ${r.length} fields, header has ${cols.length}`);
    const rec: Record<string, unknown> = {};
    cols.forEach((c, j) => {
      const v = r[j]!.trim();
      if (v === '') return;
      rec[c] = c === 'tags' ? v.split(';').map((t) => t.trim()).filter((t) => t !== '') : v;
    });
    return rec;
  });
}

export type ImportFormat = 'csv' | 'json' | 'jsonl';

export function detectFormat(path: string, text: string): ImportFormat {
  if (path.endsWith('.csv')) return 'csv';
  if (path.endsWith('.jsonl') || path.endsWith('.ndjson')) return 'jsonl';
  if (path.endsWith('.json')) return 'json';
  const t = text.trimStart();
  if (t.startsWith('[')) return 'json';
  if (t.startsWith('{')) return 'jsonl';
  return 'csv';
}

export function parseImport(text: string, format: ImportFormat): unknown[] {
  if (format === 'csv') return csvRecords(text);
  if (format === 'json') {
    let v: unknown;
    try { v = JSON.parse(text); } catch (e) { throw new ZetaError('ZETA_ERR_IMPORT', `JSON: ${(e as Error).message}`); }
    if (!Array.isArray(v)) throw new ZetaError('ZETA_ERR_IMPORT', 'JSON: expected an array of device records');
    return v;
  }
  const out: unknown[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try { out.push(JSON.parse(line)); } catch { throw new ZetaError('ZETA_ERR_IMPORT', `JSON lines: line ${i + 1} is not valid JSON`); }
  });
  return out;
}
