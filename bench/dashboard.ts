/**
 * The inventory page's queries with N devices (default 100,000) on SQLite: first page, a deep page,
 * search, sort, filters, as Inventory.list runs them for GET /api/v1/devices (the page asks for 100
 * rows at a time). Peer: the floor, one raw better-sqlite3 `select ... order by id limit 100` on
 * the same database. Goal: every query's median under 150 ms, so typing and scrolling never lag.
 *   node --import tsx bench/dashboard.ts [N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../src/store/index.js';
import { AuditLog } from '../src/audit/index.js';
import { Inventory, type DeviceFilter } from '../src/inventory/index.js';

const N = Number(process.argv[2] ?? 100_000);
const RUNS = 15;
const types = ['camera', 'thermostat', 'lock', 'plc', 'sensor', 'gateway'];
const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-dash-'));
const store = await Store.open({ dataDir: dir, databaseUrl: 'sqlite' });
const inv = new Inventory(store, new AuditLog(store, { dataDir: dir }), { now: () => new Date() }, { enrollmentTokenTtlHours: 72 });
await inv.importDevices(Array.from({ length: N }, (_, i) => ({ id: `dev-${String(i).padStart(7, '0')}`, name: `device ${i}`, type: types[i % types.length]!, segment: `seg-${i % 50}`, site: `site-${i % 7}` })), 'bench');

async function median(f: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)]!;
}

const raw = new Database(join(dir, 'zeta.db'), { readonly: true });
const rawPage = raw.prepare('select * from devices order by id limit 100');
const floor = await median(() => rawPage.all());
raw.close();

const cases: [string, DeviceFilter][] = [
  ['first page', { limit: 100 }],
  ['deep page', { limit: 100, offset: N - 100 }],
  ['search id/name', { q: 'dev-00424', limit: 100 }],
  ['sort name desc', { sort: 'name', order: 'desc', limit: 100, offset: 5000 }],
  ['sort site, page 50', { sort: 'site', limit: 100, offset: 5000 }],
  ['state + segment', { state: 'registered', segment: 'seg-7', limit: 100 }],
];
console.log(`inventory queries over ${N.toLocaleString('en')} devices on SQLite (median of ${RUNS}; 100 rows + total count each)`);
console.log(`  floor: raw first page ${floor.toFixed(1)} ms`);
const results: Record<string, number> = {};
for (const [name, f] of cases) {
  results[name] = await median(() => inv.list(f));
  console.log(`  ${name.padEnd(20)} ${results[name]!.toFixed(1).padStart(7)} ms   ratio to floor ${(results[name]! / Math.max(floor, 0.01)).toFixed(1)}`);
}
const worst = Math.max(...Object.values(results));
console.log(`  worst ${worst.toFixed(1)} ms   goal: < 150 ms → ${worst < 150 ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'dashboard', n: N, floorMs: floor, medians: results, goalMet: worst < 150 }));
await store.close();
rmSync(dir, { recursive: true, force: true });
