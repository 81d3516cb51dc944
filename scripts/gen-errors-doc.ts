// Regenerates docs/errors.md from the registry: `node --import tsx scripts/gen-errors-doc.ts`.
import { writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/common/errors.js';

let s = '# Error codes\n\nEvery error Zeta reports carries one of these stable codes: in RFC 9457 problem bodies (`code`), in CLI `--json` output, and in the audit log. The caller sees the title and a short detail; the operator log has the full reason under the request id. `test/config-errors.test.ts` keeps this table and `src/common/errors.ts` in step.\n\n| code | HTTP | title | what to do |\n|---|---|---|---|\n';
for (const [k, v] of Object.entries(ERROR_CODES)) s += `| \`${k}\` | ${v.status} | ${v.title} | ${v.hint} |\n`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), s);
