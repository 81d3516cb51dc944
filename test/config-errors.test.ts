import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, envName } from '../src/common/config.js';
import { ERROR_CODES, ZetaError, toProblem } from '../src/common/errors.js';
import { tempDir } from './helpers.js';

describe('configuration', () => {
  it('layers defaults < file < ZETA_* env < flags, and freezes the result', () => {
    const d = tempDir();
    try {
      const file = join(d.path, 'c.json');
      writeFileSync(file, JSON.stringify({ apiPort: 9001, pkiHttpPort: 9002, trustDomain: 'file.example' }));
      const c = loadConfig({ file, env: { ZETA_PKI_HTTP_PORT: '9003', ZETA_TRUST_DOMAIN: 'env.example' }, flags: { trustDomain: 'flag.example' } });
      assert.equal(c.apiPort, 9001);
      assert.equal(c.pkiHttpPort, 9003);
      assert.equal(c.trustDomain, 'flag.example');
      assert.equal(c.mqttPort, 8883);
      assert.ok(Object.isFrozen(c));
      assert.throws(() => { (c as { apiPort: number }).apiPort = 1; });
    } finally {
      d.cleanup();
    }
  });

  it('rejects unknown keys in the file, the environment and flags, naming them', () => {
    const d = tempDir();
    try {
      const file = join(d.path, 'c.json');
      writeFileSync(file, JSON.stringify({ apiPort: 1, colour: 'red', sizee: 2 }));
      assert.throws(() => loadConfig({ file, env: {} }), (e: ZetaError) => e.code === 'ZETA_ERR_CONFIG' && /colour/.test(e.message) && /sizee/.test(e.message));
      assert.throws(() => loadConfig({ env: { ZETA_API_PROT: '1' } }), (e: ZetaError) => /ZETA_API_PROT/.test(e.message));
      assert.throws(() => loadConfig({ env: {}, flags: { bogus: 1 } }), (e: ZetaError) => /bogus/.test(e.message));
      assert.throws(() => loadConfig({ env: { ZETA_API_PORT: '70000' } }), (e: ZetaError) => /apiPort/.test(e.message));
      assert.throws(() => loadConfig({ env: { ZETA_TRUST_DOMAIN: 'Bad Domain' } }), (e: ZetaError) => /trustDomain/.test(e.message));
    } finally {
      d.cleanup();
    }
  });

  it('reads secrets from *_FILE', () => {
    const d = tempDir();
    try {
      writeFileSync(join(d.path, 'dburl'), 'postgres://u:secret@db/zeta\n');
      const c = loadConfig({ env: { ZETA_DATABASE_URL_FILE: join(d.path, 'dburl') } });
      assert.equal(c.databaseUrl, 'postgres://u:secret@db/zeta');
      assert.throws(() => loadConfig({ env: { ZETA_DATABASE_URL_FILE: join(d.path, 'missing') } }), (e: ZetaError) => e.code === 'ZETA_ERR_CONFIG');
    } finally {
      d.cleanup();
    }
  });

  it('maps keys to ZETA_* names', () => {
    assert.equal(envName('apiPort'), 'ZETA_API_PORT');
    assert.equal(envName('pkiHttpPort'), 'ZETA_PKI_HTTP_PORT');
  });
});

describe('error registry', () => {
  it('docs/errors.md lists exactly the codes in the registry, with their HTTP status', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
    const documented = new Map([...doc.matchAll(/^\| `(ZETA_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      assert.equal(documented.get(code), def.status, `${code} missing or wrong status in docs/errors.md`);
    }
    assert.equal(documented.size, Object.keys(ERROR_CODES).length, 'docs/errors.md lists codes the registry does not have');
  });

  it('problem bodies follow RFC 9457 and never leak the operator detail', () => {
    const e = new ZetaError('ZETA_ERR_TOKEN_INVALID', 'enrollment token not accepted', { internal: 'token belongs to device cam-2' });
    const p = toProblem(e, 'req-1', '/x');
    assert.equal(p.status, 401);
    assert.equal(p.title, ERROR_CODES.ZETA_ERR_TOKEN_INVALID.title);
    assert.equal(p.requestId, 'req-1');
    assert.ok(!JSON.stringify(p).includes('cam-2'));
    const generic = toProblem(new Error('db password is hunter2'), 'req-2');
    assert.equal(generic.code, 'ZETA_ERR_INTERNAL');
    assert.ok(!JSON.stringify(generic).includes('hunter2'));
  });
});
