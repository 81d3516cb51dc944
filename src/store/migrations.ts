/**
 * Migrations, in code so they ship with the package. Each runs inside the migrator's transaction;
 * the dialect is passed in where SQLite and PostgreSQL differ (auto-increment keys).
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from './db.js';

export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_identity': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.createTable('cas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('parent_id', 'text')
          .addColumn('cert_pem', 'text', (c) => c.notNull())
          .addColumn('key_ref', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema.createTable('devices')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('vendor', 'text')
          .addColumn('model', 'text')
          .addColumn('firmware', 'text')
          .addColumn('owner', 'text')
          .addColumn('site', 'text')
          .addColumn('segment', 'text')
          .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('cert_serial', 'text')
          .addColumn('cert_fingerprint', 'text')
          .addColumn('cert_not_after', 'text')
          .addColumn('last_seen', 'text')
          .addColumn('posture', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('devices_type').on('devices').column('type').execute();
        await db.schema.createIndex('devices_segment').on('devices').column('segment').execute();
        await db.schema.createIndex('devices_state').on('devices').column('state').execute();
        await db.schema.createIndex('devices_cert_not_after').on('devices').column('cert_not_after').execute();

        await db.schema.createTable('certificates')
          .addColumn('serial', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('issuer_id', 'text', (c) => c.notNull())
          .addColumn('fingerprint_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('spki_sha256', 'text', (c) => c.notNull())
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('cert_pem', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('revocation_reason', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('certificates_device').on('certificates').column('device_id').execute();
        await db.schema.createIndex('certificates_revoked').on('certificates').columns(['issuer_id', 'revoked_at']).execute();

        await db.schema.createTable('enrollment_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .execute();
        await db.schema.createIndex('enrollment_tokens_device').on('enrollment_tokens').column('device_id').execute();

        await db.schema.createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('revoked_at', 'text')
          .addColumn('last_used_at', 'text')
          .execute();

        await db.schema.createTable('audit_log')
          .addColumn('seq', 'integer', (c) => c.primaryKey())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('subject', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_hash').on('audit_log').column('hash').execute();
        await db.schema.createIndex('audit_log_actor').on('audit_log').column('actor').execute();
        await db.schema.createIndex('audit_log_subject').on('audit_log').column('subject').execute();
        await db.schema.createIndex('audit_log_action').on('audit_log').column('action').execute();
        await db.schema.createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await sql`insert into audit_head (id, seq, hash) values (1, 0, ${'0'.repeat(64)})`.execute(db);
        await db.schema.createTable('audit_checkpoints')
          .addColumn('seq', 'integer', (c) => c.primaryKey())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .execute();

        let changes = db.schema.createTable('changes');
        changes = dialect === 'postgres'
          ? changes.addColumn('seq', 'serial', (c) => c.primaryKey())
          : changes.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement());
        await changes
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();

        await db.schema.createTable('crl_state')
          .addColumn('issuer_id', 'text', (c) => c.primaryKey())
          .addColumn('number', 'integer', (c) => c.notNull())
          .addColumn('this_update', 'text', (c) => c.notNull())
          .addColumn('next_update', 'text', (c) => c.notNull())
          .addColumn('crl_der_b64', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}
