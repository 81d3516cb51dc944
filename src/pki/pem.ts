/** PEM (RFC 7468) and fingerprint helpers. */
import { hash } from 'node:crypto';
import { ZetaError } from '../common/errors.js';

/** RFC 7468 §2: base64 lines of 64 characters. */
export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n\t ]*?)-----END ([A-Z0-9 ]+)-----/g;
const STRICT_B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface PemBlock {
  label: string;
  der: Buffer;
}

function invalid(message: string, internal?: string): ZetaError {
  return new ZetaError('ZETA_ERR_VALIDATION', message, internal === undefined ? {} : { internal });
}

function readBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let last = 0;
  for (const m of pem.matchAll(BLOCK_RE)) {
    // RFC 7468 §2 allows explanatory text between blocks; we keep it to whitespace only.
    if (pem.slice(last, m.index).trim() !== '') throw invalid('PEM has text outside its blocks.');
    const [, begin, body, end] = m as unknown as [string, string, string, string];
    if (begin !== end) throw invalid('PEM BEGIN and END labels differ.', `${begin} / ${end}`);
    const b64 = body.replace(/[\r\n\t ]/g, '');
    if (b64.length === 0 || !STRICT_B64_RE.test(b64)) throw invalid('PEM body is not valid base64.');
    blocks.push({ label: begin, der: Buffer.from(b64, 'base64') });
    last = m.index + m[0].length;
  }
  if (pem.slice(last).trim() !== '') throw invalid('PEM has text outside its blocks.');
  return blocks;
}

/** Exactly one block with exactly `label`; anything else is ZETA_ERR_VALIDATION. */
export function fromPem(pem: string, label: string): Buffer {
  const blocks = readBlocks(pem);
  if (blocks.length !== 1) throw invalid(`Expected one PEM block, found ${blocks.length}.`);
  const b = blocks[0]!;
  if (b.label !== label) throw invalid(`Expected a PEM ${label}, found ${b.label}.`);
  return b.der;
}

/** Every CERTIFICATE block of a bundle, in order; other labels are refused. */
export function splitPemCerts(pem: string): Buffer[] {
  const blocks = readBlocks(pem);
  if (blocks.length === 0) throw invalid('No certificate in the PEM bundle.');
  return blocks.map((b) => {
    if (b.label !== 'CERTIFICATE') throw invalid(`Expected PEM CERTIFICATE blocks, found ${b.label}.`);
    return b.der;
  });
}

export function sha256Hex(data: Buffer): string {
  return hash('sha256', data, 'hex');
}
