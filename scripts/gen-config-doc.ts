// Regenerates docs/configuration.md from the schema: `node --import tsx scripts/gen-config-doc.ts`.
import { writeFileSync } from 'node:fs';
import { configSchema, envName } from '../src/common/config.js';

const d = configSchema.parse({}) as Record<string, unknown>;
let s = '# Configuration\n\nOne schema (`src/common/config.ts`), parsed once and frozen. Sources, lowest precedence first: defaults, the config file (`<data>/zeta.json`, or `--config FILE` / `ZETA_CONFIG`), `ZETA_*` environment variables, command-line flags. Unknown keys in any source are refused with their names. Secrets can be read from a file: `ZETA_DATABASE_URL_FILE` (env) or `databaseUrlFile` (file).\n\n| key | environment | default |\n|---|---|---|\n';
for (const k of Object.keys(configSchema.shape)) s += `| \`${k}\` | \`${envName(k)}\` | \`${JSON.stringify(d[k])}\` |\n`;
s += `
Notes:

- \`bindAddress\` defaults to loopback; set \`0.0.0.0\` (or an interface address) for devices on the network to reach the server.
- \`publicHost\` is the name devices use to reach the server: it goes into the certificates' OCSP, CA-issuers and CRL URLs and into the server certificate. \`serverNames\` adds more names (comma separated).
- \`databaseUrl\` is \`sqlite\` (a file in the data directory), \`sqlite:/path/file.db\`, or a \`postgres://\` URL; \`databaseSchema\` picks the PostgreSQL schema (created if missing).
- \`trustDomain\` belongs to the CA: \`zeta init\` writes it into \`<data>/zeta.json\`.
- \`mqttPort\` is reserved for the MQTT gateway (8883).
- Client-side variables for the CLI in \`--server\` mode (not server configuration): \`ZETA_SERVER\`, \`ZETA_TOKEN\` / \`ZETA_TOKEN_FILE\`, \`ZETA_CA_FILE\`.
`;
writeFileSync(new URL('../docs/configuration.md', import.meta.url), s);
