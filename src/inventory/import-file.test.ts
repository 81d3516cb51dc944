import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv, parseImport, detectFormat } from './import-file.js';
import type { ZetaError } from '../common/errors.js';

it('parses RFC 4180 CSV: quotes, doubled quotes, commas and newlines in fields, CRLF', () => {
  assert.deepEqual(parseCsv('a,b\r\n"x, y","he said ""hi"""\r\n"multi\nline",z\n'), [['a', 'b'], ['x, y', 'he said "hi"'], ['multi\nline', 'z']]);
  assert.throws(() => parseCsv('a,"b\n'), (e: ZetaError) => e.code === 'ZETA_ERR_IMPORT');
  assert.throws(() => parseCsv('a,b"c"\n'), (e: ZetaError) => e.code === 'ZETA_ERR_IMPORT');
});

it('maps CSV columns to records, tags split on ";", and refuses unknown columns and ragged rows', () => {
  assert.deepEqual(parseImport('name,type,tags\ncam,camera,a; b\n', 'csv'), [{ name: 'cam', type: 'camera', tags: ['a', 'b'] }]);
  assert.throws(() => parseImport('name,type,colour\n', 'csv'), (e: ZetaError) => /colour/.test(e.message));
  assert.throws(() => parseImport('name,type\ncam\n', 'csv'), (e: ZetaError) => /line 2/.test(e.message));
  assert.throws(() => parseImport('id,site\n', 'csv'), (e: ZetaError) => /name.*type/.test(e.message));
});

it('reads JSON arrays and JSON lines, and says which line is broken', () => {
  assert.equal(parseImport('[{"name":"a","type":"lock"}]', 'json').length, 1);
  assert.throws(() => parseImport('{"name":"a"}', 'json'), (e: ZetaError) => /array/.test(e.message));
  assert.throws(() => parseImport('{"a":1}\n{oops\n', 'jsonl'), (e: ZetaError) => /line 2/.test(e.message));
  assert.equal(detectFormat('fleet.csv', ''), 'csv');
  assert.equal(detectFormat('x', '  [1]'), 'json');
  assert.equal(detectFormat('x', '{"a":1}'), 'jsonl');
});
