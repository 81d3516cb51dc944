/**
 * The database: Kysely over SQLite (better-sqlite3, a file in the data directory: the embedded
 * default) or PostgreSQL (`pg`). The same code runs on both; test/store.test.ts is the contract
 * suite both run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type ControlledTransaction, type Transaction, type MigrationProvider, type SqliteDatabase } from 'kysely';
import type { Database } from './schema.js';
import { migrations } from './migrations.js';
import { ZetaError } from '../common/errors.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

// int8 (COUNT(*), bigserial) would otherwise arrive as strings; our counters fit in 2^53.
pg.types.setTypeParser(20, (v: string) => Number.parseInt(v, 10));

/** Prepared statements kept per SQL text (Kysely's SQLite driver prepares every query anew). */
const STATEMENT_CACHE_SIZE = 512;

/**
 * The better-sqlite3 database as Kysely's driver sees it, with prepared statements reused by SQL
 * text. Safe because the driver runs one query at a time on this single connection (it holds a
 * mutex) and never leaves a statement mid-iteration when it returns one.
 */
function withStatementCache(database: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (stmt === undefined) {
        stmt = database.prepare(sqlText);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

/** Most write transactions committed together on SQLite (see Store.writeTx). */
const GROUP_COMMIT_MAX = 64;

interface PendingWrite {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export interface StoreOptions {
  dataDir: string;
  databaseUrl: string;
  databaseSchema?: string;
}

/** pg_advisory_lock key for creating, migrating and dropping schemas ('zeta' in ASCII). */
const SCHEMA_LOCK_KEY = 0x7a657461;

export class Store {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly #schema: string;
  readonly #sqlite: SQLite.Database | undefined;
  /** PostgreSQL connection string, for the schema lock's own connection. */
  readonly #url: string | undefined;
  readonly #pending: PendingWrite[] = [];
  #draining = false;

  private constructor(db: Db, dialect: Dialect, schema: string, sqlite?: SQLite.Database, url?: string) {
    this.db = db;
    this.dialect = dialect;
    this.#schema = schema;
    this.#sqlite = sqlite;
    this.#url = url;
  }

  /**
   * The better-sqlite3 connection under `db` on SQLite (undefined on PostgreSQL), for bulk paths
   * that run prepared statements directly. INVARIANT: Kysely runs every query and transaction of
   * this store on this one connection, so inside `writeTx` a statement run here is part of that
   * transaction; use it only there (check `inTransaction`), and only synchronously.
   */
  get sqliteHandle(): SQLite.Database | undefined {
    return this.#sqlite;
  }

  static async open(options: StoreOptions): Promise<Store> {
    let store: Store;
    if (options.databaseUrl === 'sqlite' || options.databaseUrl.startsWith('sqlite:')) {
      const rest = options.databaseUrl.slice('sqlite:'.length);
      const file = rest === '' || options.databaseUrl === 'sqlite' ? join(options.dataDir, 'zeta.db') : rest;
      if (file !== ':memory:') mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      const database = new SQLite(file);
      // WAL lets `zeta serve` read while a `zeta ... --data` command writes; busy_timeout makes the
      // writer wait instead of failing when the other process holds the lock.
      database.pragma('journal_mode = WAL');
      database.pragma('busy_timeout = 10000');
      database.pragma('synchronous = NORMAL');
      database.pragma('foreign_keys = ON');
      store = new Store(new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }), 'sqlite', 'main', database);
    } else if (/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
      const schema = options.databaseSchema ?? 'public';
      const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, options: `-c search_path="${schema}"` });
      store = new Store(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres', schema, undefined, options.databaseUrl);
      // Kysely's migrator reads the catalog of every schema; a schema dropped by another process
      // at that moment fails it ("schema ... does not exist"). Creating, migrating and dropping
      // schemas therefore take one database-wide advisory lock.
      await store.withSchemaLock(async (admin) => {
        if (schema !== 'public') await admin.query(`create schema if not exists "${schema}"`);
        await store!.migrate();
      });
      return store;
    } else {
      throw new ZetaError('ZETA_ERR_CONFIG', `databaseUrl must be "sqlite", "sqlite:PATH" or a postgres:// URL`);
    }
    await store.migrate();
    return store;
  }

  async migrate(): Promise<void> {
    const all = migrations(this.dialect);
    const provider: MigrationProvider = { getMigrations: () => Promise.resolve(all) };
    // Kysely looks for its lock table across every schema unless told which one: with parallel
    // runs in their own schemas it would find another run's table and skip creating its own.
    const migrator = new Migrator({ db: this.db, provider, ...(this.dialect === 'postgres' ? { migrationTableSchema: this.#schema } : {}) });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(before any migration ran)';
      throw new ZetaError('ZETA_ERR_STORE_UNAVAILABLE', `database migration ${failed} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
  }

  /**
   * A write transaction. INVARIANT: every transaction that writes audit entries or change-feed rows
   * starts by locking the audit head row, so writers are serialized across processes and change
   * sequence numbers become visible in commit order (the change feed never skips one).
   *
   * On SQLite, where there is one connection and writers run one after another anyway, calls that
   * arrive while a write transaction runs are committed together (group commit): each runs in its
   * own savepoint, so a failing one is rolled back alone and rejects with its own error, and every
   * one resolves only after the shared COMMIT succeeded. If that COMMIT (or SQLite itself, on an
   * I/O error) rolls the transaction back, every call in it rejects: nothing was committed.
   */
  writeTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.#sqlite === undefined) return this.#writeTxAlone(fn);
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        // One turn of the event loop first, so requests that arrived with this one can join it.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #writeTxAlone<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(async (tx) => {
        await sql`update audit_head set seq = seq where id = 1`.execute(tx);
        return fn(tx);
      });
    } catch (e) {
      throw mapStoreError(e);
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending.splice(0, GROUP_COMMIT_MAX);
        const notRun = await this.#commitGroup(group);
        this.#pending.unshift(...notRun);
      }
    } finally {
      this.#draining = false;
    }
  }

  /** One SQLite transaction for `group`; returns the calls it did not get to run (to go again). */
  async #commitGroup(group: PendingWrite[]): Promise<PendingWrite[]> {
    const alone = group.length === 1;
    let trx: ControlledTransaction<Database>;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (e) {
      for (const w of group) w.reject(mapStoreError(e));
      return [];
    }
    const ran: { w: PendingWrite; value: unknown }[] = [];
    let i = 0;
    try {
      await sql`update audit_head set seq = seq where id = 1`.execute(trx);
      for (; i < group.length; i++) {
        const w = group[i]!;
        if (alone) {
          ran.push({ w, value: await w.fn(trx) });
          continue;
        }
        await sql`savepoint zeta_write`.execute(trx);
        try {
          const value = await w.fn(trx);
          await sql`release zeta_write`.execute(trx);
          ran.push({ w, value });
        } catch (e) {
          // SQLite ends the whole transaction on some errors (SQLITE_FULL, I/O): then nothing survives.
          if (this.#sqlite?.inTransaction !== true) throw e;
          await sql`rollback to zeta_write`.execute(trx);
          await sql`release zeta_write`.execute(trx);
          w.reject(mapStoreError(e));
        }
      }
      await trx.commit().execute();
    } catch (e) {
      await trx.rollback().execute().catch(() => undefined);
      const err = mapStoreError(e);
      for (const r of ran) r.w.reject(err);
      group[i]?.reject(err);
      return group.slice(i + 1);
    }
    for (const r of ran) r.w.resolve(r.value);
    return [];
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Drops this store's schema (PostgreSQL test isolation). */
  async dropSchema(): Promise<void> {
    if (this.dialect !== 'postgres' || this.#schema === 'public') return;
    await this.withSchemaLock(async (admin) => { await admin.query(`drop schema if exists "${this.#schema}" cascade`); });
  }

  /** Runs `fn` holding the database-wide advisory lock for schema changes (PostgreSQL only). */
  async withSchemaLock<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
    if (this.#url === undefined) throw new ZetaError('ZETA_ERR_INTERNAL', 'schema lock needs a PostgreSQL store');
    const admin = new pg.Client({ connectionString: this.#url });
    await admin.connect();
    try {
      await admin.query('select pg_advisory_lock($1)', [SCHEMA_LOCK_KEY]);
      return await fn(admin);
    } finally {
      await admin.end();
    }
  }
}

/** Connection-level failures become a stable code; our own errors pass through. */
export function mapStoreError(e: unknown): unknown {
  if (e instanceof ZetaError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'SQLITE_BUSY' || code === 'SQLITE_CANTOPEN' || code === '57P01') {
    return new ZetaError('ZETA_ERR_STORE_UNAVAILABLE', 'the database is unavailable; nothing was changed', { cause: e });
  }
  return e;
}
