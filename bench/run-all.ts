// `npm run bench`: every benchmark, one after another, each printing its ratio against its peer.
import { spawnSync } from 'node:child_process';

const benches: [string, string[]][] = [
  ['bench/issuance.ts', []],
  ['bench/est.ts', ['5', '16']],
  ['bench/import.ts', [process.env.ZETA_BENCH_IMPORT_N ?? '1000000']],
  ['bench/policy.ts', []],
  ['bench/detect.ts', []],
  ['bench/sim.ts', ['--devices', process.env.ZETA_BENCH_SIM_DEVICES ?? '100000']],
  ['bench/gateway.ts', ['--quick']],
  ['bench/dashboard.ts', []],
];
let failed = 0;
for (const [file, args] of benches) {
  console.log(`\n=== ${file} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
