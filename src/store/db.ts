/**
 * The database: Kysely over SQLite (better-sqlite3, a file in the data directory: the embedded
 * default) or PostgreSQL (`pg`). The same code runs on both; test/store.test.ts is the contract
 * suite both run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';
import { migrations } from './migrations.js';
import { ZetaError } from '../common/errors.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

// int8 (COUNT(*), bigserial) would otherwise arrive as strings; our counters fit in 2^53.
pg.types.setTypeParser(20, (v: string) => Number.parseInt(v, 10));

export interface StoreOptions {
  dataDir: string;
  databaseUrl: string;
  databaseSchema?: string;
}

export class Store {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly #schema: string;

  private constructor(db: Db, dialect: Dialect, schema: string) {
    this.db = db;
    this.dialect = dialect;
    this.#schema = schema;
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
      store = new Store(new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), 'sqlite', 'main');
    } else if (/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
      const schema = options.databaseSchema ?? 'public';
      if (schema !== 'public') {
        const admin = new pg.Client({ connectionString: options.databaseUrl });
        await admin.connect();
        try {
          await admin.query(`create schema if not exists "${schema}"`);
        } finally {
          await admin.end();
        }
      }
      const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, options: `-c search_path="${schema}"` });
      store = new Store(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres', schema);
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
   */
  async writeTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(async (tx) => {
        await sql`update audit_head set seq = seq where id = 1`.execute(tx);
        return fn(tx);
      });
    } catch (e) {
      throw mapStoreError(e);
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Drops this store's schema (PostgreSQL test isolation). */
  async dropSchema(): Promise<void> {
    if (this.dialect !== 'postgres' || this.#schema === 'public') return;
    await sql.raw(`drop schema if exists "${this.#schema}" cascade`).execute(this.db);
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
