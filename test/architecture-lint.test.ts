/** The component boundaries are held by lint: these imports must be refused. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..');

async function errors(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(code, { filePath: join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-globals').map((m) => m.message);
}

it('the policy engine imports nothing with I/O, no clock, no other component', async () => {
  assert.equal((await errors('src/policy/engine/x.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n")).length, 1);
  assert.equal((await errors('src/policy/engine/x.ts', "import { Store } from '../../store/index.js';\nexport const s = Store;\n")).length, 1);
  assert.equal((await errors('src/policy/engine/x.ts', 'export const t = Date.now();\n')).length, 1);
  assert.equal((await errors('src/policy/engine/x.ts', "import { ZetaError } from '../../common/errors.js';\nexport const e = ZetaError;\n")).length, 0);
});

it('components use each other only through index.ts and only in the allowed direction', async () => {
  assert.equal((await errors('src/agent/x.ts', "import { Store } from '../store/index.js';\nexport const s = Store;\n")).length, 1, 'agent → store');
  assert.equal((await errors('src/inventory/x.ts', "import { decodeDer } from '../pki/der.js';\nexport const d = decodeDer;\n")).length, 1, 'inventory → pki internals');
  assert.equal((await errors('src/gateway/x.ts', "import { Inventory } from '../inventory/index.js';\nexport const i = Inventory;\n")).length, 1, 'gateway → inventory');
  assert.equal((await errors('src/pki/x.ts', "import { Store } from '../store/index.js';\nexport const s = Store;\n")).length, 0, 'pki → store is allowed');
});
