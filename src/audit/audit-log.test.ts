/**
 * Contract suite: SQLite and PostgreSQL run the same cases. Tampering is done with plain SQL, the
 * way someone with database access but without the audit key would do it, and every case asserts
 * both the kind of problem and the entry verify() names.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { ManualClock } from '../common/clock.js';
import { ZetaError } from '../common/errors.js';
import { Store } from '../store/index.js';
import {
  AuditLog, GENESIS_HASH, canonicalJson, checkpointMessage, computeEntryHash,
  type AuditEntry, type AuditProblem, type AuditVerifyReport,
} from './index.js';

const PG_URL = process.env.ZETA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Fixture {
  store: Store;
  clock: ManualClock;
  dataDir: string;
  log(options?: { checkpointEvery?: number; onCheckpointRefused?: (e: ZetaError) => void }): AuditLog;
}

const dialects: { name: string; open: (dataDir: string) => Promise<Store> }[] = [
  { name: 'sqlite', open: (dataDir) => Store.open({ dataDir, databaseUrl: 'sqlite' }) },
  {
    name: 'postgres',
    open: (dataDir) => Store.open({ dataDir, databaseUrl: PG_URL, databaseSchema: `zt_audit_${randomBytes(6).toString('hex')}` }),
  },
];

for (const dialect of dialects) {
  describe(`AuditLog on ${dialect.name}`, () => {
    let fx: Fixture;

    beforeEach(async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'zeta-audit-'));
      const store = await dialect.open(dataDir);
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      fx = {
        store, clock, dataDir,
        log: (options = {}) => new AuditLog(store, { dataDir, clock, checkpointEvery: 1000, ...options }),
      };
    });

    // Always runs, even when a case fails: no schema or temp directory is left behind.
    afterEach(async () => {
      try {
        await fx.store.dropSchema();
      } finally {
        await fx.store.close();
        rmSync(fx.dataDir, { recursive: true, force: true });
      }
    });

    async function seed(log: AuditLog, n: number): Promise<void> {
      for (let i = 1; i <= n; i++) {
        fx.clock.advance(1000);
        await log.record({ actor: `operator:${i % 3}`, action: i % 2 === 0 ? 'device.create' : 'device.suspend', subject: `dev-${i}`, details: { i, note: `step ${i}` } });
      }
    }

    async function rowAt(seq: number): Promise<{ seq: number; ts: string; actor: string; action: string; outcome: string; subject: string | null; details: string; prev_hash: string; hash: string }> {
      const row = await fx.store.db.selectFrom('audit_log').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
      return row;
    }

    function hashOf(row: Awaited<ReturnType<typeof rowAt>>, seq = row.seq, prev = row.prev_hash): string {
      return computeEntryHash(prev, { seq, ts: row.ts, actor: row.actor, action: row.action, outcome: row.outcome, subject: row.subject, details: JSON.parse(row.details) as Record<string, unknown> });
    }

    /** Shifts every seq ≥ from by delta in two steps, so no unique check trips half-way. */
    async function shift(from: number, delta: number): Promise<void> {
      await sql`update audit_log set seq = -seq where seq >= ${from}`.execute(fx.store.db);
      await sql`update audit_log set seq = -seq + ${delta} where seq < 0`.execute(fx.store.db);
    }

    function only(report: AuditVerifyReport): AuditProblem {
      assert.equal(report.ok, false);
      assert.equal(report.problems.length, 1, JSON.stringify(report.problems, null, 2));
      const p = report.problems[0];
      assert.ok(p !== undefined);
      return p;
    }

    function kinds(report: AuditVerifyReport): string[] {
      return report.problems.map((p) => `${p.kind}@${p.seq}`);
    }

    it('appends a linked chain that verifies, with ts from the clock', async () => {
      const log = fx.log();
      const first = await log.record({ actor: 'operator:alice', action: 'device.create', subject: 'dev-1', details: { b: 2, a: 1 } });
      assert.equal(first.seq, 1);
      fx.clock.advance(5000);
      const second = await log.record({ actor: 'system', action: 'crl.publish' });
      assert.equal(second.seq, 2);
      const [e1, e2] = await log.list({});
      assert.ok(e1 !== undefined && e2 !== undefined);
      assert.equal(e1.ts, '2026-01-01T00:00:00.000Z');
      assert.equal(e2.ts, '2026-01-01T00:00:05.000Z');
      assert.equal(e1.prev_hash, GENESIS_HASH);
      assert.equal(e2.prev_hash, first.hash);
      assert.equal(e1.outcome, 'ok');
      assert.equal(e2.subject, null);
      assert.deepEqual(e2.details, {});
      const stored = await rowAt(1);
      assert.equal(stored.details, '{"a":1,"b":2}', 'details are stored as canonical JSON');
      const report = await log.verify();
      assert.deepEqual(report, { ok: true, entries: 2, checkpoints: 0, lastSeq: 2, problems: [], problemsOmitted: 0 });
    });

    it('an append inside a transaction that later throws leaves no entry and no head change', async () => {
      const log = fx.log();
      await seed(log, 3);
      const headBefore = await fx.store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
      await assert.rejects(fx.store.writeTx(async (tx) => {
        const r = await log.append(tx, { actor: 'operator:alice', action: 'device.revoke', subject: 'dev-9' });
        assert.equal(r.seq, 4);
        throw new Error('the action failed after auditing');
      }), /the action failed/);
      const headAfter = await fx.store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(headAfter, headBefore);
      assert.equal((await log.list({ fromSeq: 4 })).length, 0);
      assert.equal((await log.record({ actor: 'a', action: 'b' })).seq, 4, 'the seq is not burnt');
      assert.equal((await log.verify()).ok, true);
    });

    it('50 concurrent record() calls produce one valid chain', async () => {
      const log = fx.log({ checkpointEvery: 16 });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => log.record({ actor: `worker:${i}`, action: 'test.concurrent', details: { i } })));
      assert.deepEqual(results.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
      const report = await log.verify();
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.entries, 50);
      assert.equal(report.checkpoints, 3);
    });

    it('verify() while appends run does not mistake new entries for tampering', async () => {
      const log = fx.log({ checkpointEvery: 4 });
      await seed(log, 10);
      const writes = Promise.all(Array.from({ length: 30 }, (_, i) => log.record({ actor: 'w', action: 'parallel', details: { i } })));
      const reports = await Promise.all([log.verify(), log.verify()]);
      await writes;
      for (const r of reports) assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal((await log.verify()).entries, 40);
    });

    it('refuses oversized or malformed events before writing anything', async () => {
      const log = fx.log();
      const big = { blob: 'x'.repeat(16 * 1024) };
      await assert.rejects(log.record({ actor: 'a', action: 'b', details: big }), (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_VALIDATION' && /limit is 16384/.test(e.message));
      await assert.rejects(log.record({ actor: '', action: 'b' }), { code: 'ZETA_ERR_VALIDATION' });
      await assert.rejects(log.record({ actor: 'a', action: 'b', outcome: 'maybe' as 'ok' }), { code: 'ZETA_ERR_VALIDATION' });
      await assert.rejects(log.record({ actor: 'a', action: 'b', details: { n: Number.NaN } }), { code: 'ZETA_ERR_VALIDATION' });
      await assert.rejects(log.record({ actor: 'a', action: 'b', details: [1] as unknown as Record<string, unknown> }), { code: 'ZETA_ERR_VALIDATION' });
      const head = await fx.store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
      assert.equal(head.seq, 0);
      // Just under the bound is kept whole.
      const fits = { blob: 'y'.repeat(16 * 1024 - '{"blob":""}'.length) };
      const r = await log.record({ actor: 'a', action: 'b', details: fits });
      const [entry] = await log.list({ fromSeq: r.seq });
      assert.deepEqual(entry?.details, fits);
    });

    it('list filters by actor, action, subject and seq range', async () => {
      const log = fx.log();
      await seed(log, 12);
      assert.deepEqual((await log.list({ actor: 'operator:1' })).map((e) => e.seq), [1, 4, 7, 10]);
      assert.deepEqual((await log.list({ action: 'device.create', fromSeq: 5 })).map((e) => e.seq), [6, 8, 10, 12]);
      assert.deepEqual((await log.list({ subject: 'dev-3' })).map((e) => e.seq), [3]);
      assert.deepEqual((await log.list({ limit: 2, order: 'desc' })).map((e) => e.seq), [12, 11]);
      assert.deepEqual((await log.list({ fromSeq: 3, toSeq: 5 })).map((e) => e.seq), [3, 4, 5]);
      await assert.rejects(log.list({ limit: 0 }), { code: 'ZETA_ERR_VALIDATION' });
    });

    it('export writes JSON lines from which every hash and link can be re-derived', async () => {
      const log = fx.log({ checkpointEvery: 256 });
      await seed(log, 520); // more than one export page
      const lines: string[] = [];
      const n = await log.export(async (line) => {
        await Promise.resolve();
        lines.push(line);
      });
      assert.equal(n, 520);
      assert.equal(lines.length, 520);
      let prev = GENESIS_HASH;
      for (const [i, line] of lines.entries()) {
        const e = JSON.parse(line) as AuditEntry;
        assert.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'details', 'hash', 'outcome', 'prev_hash', 'seq', 'subject', 'ts']);
        assert.equal(e.seq, i + 1);
        assert.equal(e.prev_hash, prev);
        // Independent of our code: SHA-256(prev_hash + "\n" + canonical body).
        const body = canonicalJson({ seq: e.seq, ts: e.ts, actor: e.actor, action: e.action, outcome: e.outcome, subject: e.subject, details: e.details });
        assert.equal(createHash('sha256').update(`${e.prev_hash}\n${body}`).digest('hex'), e.hash);
        assert.equal(line, canonicalJson(e), 'each line is itself canonical JSON');
        prev = e.hash;
      }
      const part: string[] = [];
      assert.equal(await log.export((l) => { part.push(l); }, { fromSeq: 255, toSeq: 258 }), 4);
      assert.deepEqual(part, lines.slice(254, 258));
    });

    it('checkpoints sign the head every N entries, on demand, and verify with the public key alone', async () => {
      const log = fx.log({ checkpointEvery: 8 });
      assert.equal(await log.checkpoint(), null, 'nothing to sign in an empty log');
      await seed(log, 17);
      const cps = await fx.store.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute();
      assert.deepEqual(cps.map((c) => c.seq), [8, 16]);
      const cp = await log.checkpoint();
      assert.ok(cp !== null);
      assert.equal(cp.seq, 17);
      assert.equal(cp.hash, (await rowAt(17)).hash);
      assert.equal(cp.keyId, log.keyId);
      assert.deepEqual(await log.checkpoint(), cp, 'an already signed head is not signed again');
      const ok = verifySignature(null, checkpointMessage(cp), createPublicKey(log.publicKeyPem), Buffer.from(cp.signature, 'base64'));
      assert.equal(ok, true);
      const report = await log.verify();
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.checkpoints, 3);
    });

    describe('tampering is found and located', () => {
      let log: AuditLog;
      beforeEach(async () => {
        log = fx.log();
        await seed(log, 40);
        assert.equal((await log.verify()).ok, true);
      });

      it('changed content, hash left alone → changed at that entry', async () => {
        await sql`update audit_log set details = ${'{"i":17,"note":"nothing happened"}'} where seq = 17`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.equal(p.kind, 'changed');
        assert.equal(p.seq, 17);
        assert.match(p.message, /entry 17 was changed: stored hash does not match its content/);
      });

      it('changed actor on the first entry → changed at 1', async () => {
        await sql`update audit_log set actor = ${'operator:mallory'} where seq = 1`.execute(fx.store.db);
        assert.deepEqual(kinds(await log.verify()), ['changed@1']);
      });

      it('details that are not JSON any more → changed', async () => {
        await sql`update audit_log set details = ${'{not json'} where seq = 9`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['changed', 9]);
        assert.match(p.message, /not a JSON object/);
        const [e] = await log.list({ fromSeq: 9, limit: 1 });
        assert.deepEqual(e?.details, { $invalid_json: '{not json' });
        let exported = '';
        await log.export((l) => { exported = l; }, { fromSeq: 9, toSeq: 9 });
        assert.equal((JSON.parse(exported) as { details: unknown }).details, '{not json');
      });

      it('changed content with the hash recomputed → the next link breaks → changed at that entry', async () => {
        const row = await rowAt(17);
        const details = '{"i":17,"note":"rewritten"}';
        const hash = hashOf({ ...row, details });
        await sql`update audit_log set details = ${details}, hash = ${hash} where seq = 17`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['changed', 17]);
        assert.match(p.message, /entry 17 was changed and its hash recomputed: entry 18 links to hash/);
      });

      it('last entry rewritten with its hash recomputed → audit_head disagrees', async () => {
        const row = await rowAt(40);
        const details = '{"i":40,"note":"rewritten"}';
        await sql`update audit_log set details = ${details}, hash = ${hashOf({ ...row, details })} where seq = 40`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['head', 40]);
        assert.match(p.message, /audit_head does not match entry 40/);
      });

      it('deleted entry → deleted at that seq', async () => {
        await sql`delete from audit_log where seq = 17`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['deleted', 17]);
        assert.equal(p.message, 'entry 17 is missing (deleted)');
      });

      it('deleted first entry, and a deleted range → each named', async () => {
        await sql`delete from audit_log where seq = 1 or (seq >= 20 and seq <= 22)`.execute(fx.store.db);
        const report = await log.verify();
        assert.deepEqual(kinds(report), ['deleted@1', 'deleted@20']);
        assert.equal(report.problems[1]?.message, 'entries 20 to 22 are missing (deleted)');
      });

      it('deleted entry with the rest renumbered to hide the gap → deleted at that seq', async () => {
        await sql`delete from audit_log where seq = 17`.execute(fx.store.db);
        await shift(18, -1);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['deleted', 17]);
        assert.match(p.message, /entry 17 is missing \(deleted\); the entries after it were renumbered down by 1/);
      });

      it('forged entry inserted with the rest renumbered → inserted at that seq', async () => {
        await shift(17, 1);
        const before = await rowAt(16);
        const forged = { seq: 17, ts: before.ts, actor: 'operator:alice', action: 'policy.allow-all', outcome: 'ok', subject: null, details: '{}' };
        const hash = computeEntryHash(before.hash, { ...forged, details: {} });
        await fx.store.db.insertInto('audit_log').values({ ...forged, prev_hash: before.hash, hash }).execute();
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['inserted', 17]);
        assert.match(p.message, /entry 17 was inserted: entry 18 \(written as entry 17\) links past it to entry 16/);
      });

      it('forged entry with a made-up hash inserted → inserted, not merely changed', async () => {
        await shift(17, 1);
        await fx.store.db.insertInto('audit_log').values({
          seq: 17, ts: '2026-01-01T00:00:16.500Z', actor: 'x', action: 'y', outcome: 'ok', subject: null, details: '{}',
          prev_hash: 'ab'.repeat(32), hash: 'cd'.repeat(32),
        }).execute();
        assert.deepEqual(kinds(await log.verify()), ['inserted@17']);
      });

      it('two forged entries inserted at the start → one inserted range', async () => {
        await shift(1, 2);
        const f = { ts: '2026-01-01T00:00:00.000Z', actor: 'x', action: 'y', outcome: 'ok', subject: null, details: '{}' };
        const h1 = computeEntryHash(GENESIS_HASH, { ...f, seq: 1, details: {} });
        const h2 = computeEntryHash(h1, { ...f, seq: 2, details: {} });
        await fx.store.db.insertInto('audit_log').values([{ ...f, seq: 1, prev_hash: GENESIS_HASH, hash: h1 }, { ...f, seq: 2, prev_hash: h1, hash: h2 }]).execute();
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['inserted', 1]);
        assert.match(p.message, /entries 1 to 2 were inserted: entry 3 \(written as entry 1\) links past them to the start of the log/);
      });

      it('twenty entries deleted and the rest renumbered → one deleted range', async () => {
        await sql`delete from audit_log where seq >= 10 and seq < 30`.execute(fx.store.db);
        await shift(30, -20);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['deleted', 10]);
        assert.match(p.message, /^entries 10 to 29 are missing \(deleted\); the entries after it were renumbered down by 20/);
      });

      it('an entry moved to the end → reordered where it now sits, nothing else blamed', async () => {
        await sql`update audit_log set seq = 41 where seq = 5`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['reordered', 41]);
        assert.match(p.message, /holds entry 5, which belongs right after entry 4/);
      });

      it('forged entries appended after the head → inserted after the head', async () => {
        let prev = await rowAt(40);
        for (const seq of [41, 42]) {
          const forged = { seq, ts: '2026-02-01T00:00:00.000Z', actor: 'system', action: 'noop', outcome: 'ok', subject: null, details: '{}' };
          const hash = computeEntryHash(prev.hash, { ...forged, details: {} });
          await fx.store.db.insertInto('audit_log').values({ ...forged, prev_hash: prev.hash, hash }).execute();
          prev = await rowAt(seq);
        }
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['inserted', 41]);
        assert.match(p.message, /entries 41 to 42 come after the recorded head \(entry 40\)/);
      });

      it('two adjacent entries swapped → reordered at both', async () => {
        await sql`update audit_log set seq = -17 where seq = 17`.execute(fx.store.db);
        await sql`update audit_log set seq = 17 where seq = 18`.execute(fx.store.db);
        await sql`update audit_log set seq = 18 where seq = -17`.execute(fx.store.db);
        const report = await log.verify();
        assert.deepEqual(kinds(report), ['reordered@17', 'reordered@18']);
        assert.match(report.problems[0]?.message ?? '', /the row at seq 17 holds entry 18/);
      });

      it('two distant entries swapped → reordered at both, nothing in between blamed', async () => {
        await sql`update audit_log set seq = -5 where seq = 5`.execute(fx.store.db);
        await sql`update audit_log set seq = 5 where seq = 30`.execute(fx.store.db);
        await sql`update audit_log set seq = 30 where seq = -5`.execute(fx.store.db);
        assert.deepEqual(kinds(await log.verify()), ['reordered@5', 'reordered@30']);
      });

      it('tail truncated, head left alone → head, naming the first missing entry', async () => {
        await sql`delete from audit_log where seq > 36`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['head', 37]);
        assert.match(p.message, /entries 37 to 40 are missing from the end of the log \(truncated\)/);
      });
    });

    describe('checkpoints pin the chain', () => {
      let log: AuditLog;
      beforeEach(async () => {
        log = fx.log({ checkpointEvery: 10 });
        await seed(log, 35);
      });

      it('a broken checkpoint signature → checkpoint at its seq', async () => {
        const other = (await fx.store.db.selectFrom('audit_checkpoints').select('signature').where('seq', '=', 10).executeTakeFirstOrThrow()).signature;
        await sql`update audit_checkpoints set signature = ${other} where seq = 20`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['checkpoint', 20]);
        assert.match(p.message, /checkpoint 20 has an invalid signature/);
      });

      it('a checkpoint whose signed hash was edited → checkpoint', async () => {
        await sql`update audit_checkpoints set hash = ${'ee'.repeat(32)} where seq = 30`.execute(fx.store.db);
        assert.deepEqual(kinds(await log.verify()), ['checkpoint@30']);
      });

      it('a whole chain recomputed from entry 12 on, head too: the checkpoints after it disagree', async () => {
        const rows = await fx.store.db.selectFrom('audit_log').selectAll().where('seq', '>=', 12).orderBy('seq').execute();
        let prev = (await rowAt(11)).hash;
        for (const row of rows) {
          const details = row.seq === 12 ? '{"i":12,"note":"rewritten"}' : row.details;
          const hash = hashOf({ ...row, details }, row.seq, prev);
          await sql`update audit_log set details = ${details}, prev_hash = ${prev}, hash = ${hash} where seq = ${row.seq}`.execute(fx.store.db);
          prev = hash;
        }
        await sql`update audit_head set hash = ${prev} where id = 1`.execute(fx.store.db);
        const report = await log.verify();
        assert.deepEqual(kinds(report), ['checkpoint@20', 'checkpoint@30']);
        assert.match(report.problems[0]?.message ?? '', /entries up to 20 were rewritten after it was signed/);
      });

      it('what no key protects: a tail rewritten after the last checkpoint, head too, verifies', async () => {
        // Documented limit (audit-log.ts header): without a later checkpoint or an external copy,
        // entries after the last signed head can be rewritten consistently.
        const row = await rowAt(35);
        const details = '{"i":35,"note":"rewritten"}';
        const hash = hashOf({ ...row, details });
        await sql`update audit_log set details = ${details}, hash = ${hash} where seq = 35`.execute(fx.store.db);
        await sql`update audit_head set hash = ${hash} where id = 1`.execute(fx.store.db);
        assert.equal((await log.verify()).ok, true);
      });

      it('tail truncated and the head moved back to match → the later checkpoint proves it', async () => {
        await sql`delete from audit_log where seq > 25`.execute(fx.store.db);
        await sql`update audit_head set seq = 25, hash = ${(await rowAt(25)).hash} where id = 1`.execute(fx.store.db);
        const p = only(await log.verify());
        assert.deepEqual([p.kind, p.seq], ['checkpoint', 30]);
        assert.match(p.message, /checkpoint 30 signs entry 30, which is not in the log: the log was truncated after entry 25/);
      });

      it('checkpoint() refuses to sign over a broken chain; append still commits and reports it', async () => {
        await sql`update audit_log set details = ${'{}'} where seq = 33`.execute(fx.store.db);
        await assert.rejects(log.checkpoint(), (e: unknown) => e instanceof ZetaError && e.code === 'ZETA_ERR_AUDIT_BROKEN' && /entry 33 does not match its hash/.test(e.message));
        const refused: ZetaError[] = [];
        const log2 = fx.log({ checkpointEvery: 10, onCheckpointRefused: (e) => refused.push(e) });
        for (let i = 0; i < 5; i++) await log2.record({ actor: 'a', action: 'b' });
        assert.equal(refused.length, 1, 'the automatic checkpoint at 40 was refused');
        assert.equal((await log2.list({ fromSeq: 40 })).length, 1, 'but entry 40 committed');
        const seqs = (await fx.store.db.selectFrom('audit_checkpoints').select('seq').execute()).map((c) => c.seq);
        assert.deepEqual(seqs.sort((a, b) => a - b), [10, 20, 30]);
      });

      it('checkpoint() refuses to sign a head with forged entries beyond it', async () => {
        const last = await rowAt(35);
        const forged = { seq: 36, ts: last.ts, actor: 'x', action: 'y', outcome: 'ok', subject: null, details: '{}' };
        await fx.store.db.insertInto('audit_log').values({ ...forged, prev_hash: last.hash, hash: computeEntryHash(last.hash, { ...forged, details: {} }) }).execute();
        await assert.rejects(log.checkpoint(), { code: 'ZETA_ERR_AUDIT_BROKEN' });
      });
    });
  });
}
