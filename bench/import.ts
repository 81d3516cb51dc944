/**
 * Bulk import of N device records (default 1,000,000) into SQLite through Inventory.importDevices
 * (validation, duplicate checks, one-time tokens hashed, one audit entry), against the floor: raw
 * better-sqlite3 prepared inserts of the same rows in one transaction, measured in the same run.
 *   node --import tsx bench/import.ts [N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../src/store/index.js';
import { AuditLog } from '../src/audit/index.js';
import { Inventory } from '../src/inventory/index.js';

const N = Number(process.argv[2] ?? 1_000_000);
const types = ['camera', 'thermostat', 'lock', 'plc', 'sensor', 'gateway'];
const records = Array.from({ length: N }, (_, i) => ({ id: `dev-${i}`, name: `device ${i}`, type: types[i % types.length]!, segment: `seg-${i % 50}`, site: `site-${i % 7}` }));

// Peer: the raw insert floor (same table shape, no validation, no tokens, no audit).
const rawDir = mkdtempSync(join(tmpdir(), 'zeta-bench-raw-'));
const rawStore = await Store.open({ dataDir: rawDir, databaseUrl: 'sqlite' });
await rawStore.close();
const raw = new Database(join(rawDir, 'zeta.db'));
raw.pragma('journal_mode = WAL');
raw.pragma('synchronous = NORMAL');
const ins = raw.prepare(`insert into devices (id, name, type, vendor, model, firmware, owner, site, segment, tags, state, cert_serial, cert_fingerprint, cert_not_after, last_seen, posture, created_at, updated_at)
  values (?, ?, ?, null, null, null, null, ?, ?, '[]', 'registered', null, null, null, null, '{}', ?, ?)`);
const now = new Date().toISOString();
let t0 = performance.now();
raw.transaction(() => { for (const r of records) ins.run(r.id, r.name, r.type, r.site, r.segment, now, now); })();
const rawSecs = (performance.now() - t0) / 1000;
raw.close();
rmSync(rawDir, { recursive: true, force: true });

const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-import-'));
const store = await Store.open({ dataDir: dir, databaseUrl: 'sqlite' });
const inv = new Inventory(store, new AuditLog(store, { dataDir: dir }), { now: () => new Date() }, { enrollmentTokenTtlHours: 72 });
t0 = performance.now();
const r = await inv.importDevices(records, 'bench');
const zetaSecs = (performance.now() - t0) / 1000;
await store.close();
rmSync(dir, { recursive: true, force: true });

console.log(`bulk import of ${N.toLocaleString('en')} devices on SQLite`);
console.log(`  raw better-sqlite3 inserts (floor): ${rawSecs.toFixed(1)} s  (${Math.round(N / rawSecs).toLocaleString('en')} rows/s)`);
console.log(`  zeta device import:                 ${zetaSecs.toFixed(1)} s  (${Math.round(N / zetaSecs).toLocaleString('en')} devices/s, ${r.imported} imported with tokens)`);
console.log(`  ratio zeta/raw throughput: ${(rawSecs / zetaSecs).toFixed(2)}   goal: < 60 s → ${zetaSecs < 60 ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'import', n: N, rawSeconds: rawSecs, zetaSeconds: zetaSecs, ratio: rawSecs / zetaSecs, goalMet: zetaSecs < 60 }));
