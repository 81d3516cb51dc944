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
    '0002_policies': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Versioned Cedar policy sets: one `active`, at most one `shadow`, the rest `superseded`.
        await db.schema.createTable('policy_sets')
          .addColumn('version', 'integer', (c) => c.primaryKey())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('comment', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('policy_sets_status').on('policy_sets').column('status').execute();
      },
    },
    '0003_segments': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Segments, services, flows and device addresses: the source of truth src/segments compiles
        // to the gateway and to netd. JSON columns are text (port ranges, address lists).
        await db.schema.createTable('segments')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        // INVARIANT: the quarantine segment always exists (src/segments/model.ts QUARANTINE_SEGMENT).
        await sql`insert into segments (name, kind, description, builtin, created_at) values ('quarantine', 'sensitivity', 'Built-in: reaches only remediation services', 1, ${new Date(0).toISOString()})`.execute(db);

        await db.schema.createTable('services')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text')
          .addColumn('addresses', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('dns_name', 'text')
          .addColumn('protocol', 'text', (c) => c.notNull())
          .addColumn('ports', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('role', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema.createTable('flows')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('from_segment', 'text', (c) => c.notNull())
          .addColumn('to_segment', 'text')
          .addColumn('to_service', 'text')
          .addColumn('protocol', 'text')
          .addColumn('ports', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('mqtt_topic_prefix', 'text')
          .addColumn('direction', 'text', (c) => c.notNull())
          .addColumn('from_device_type', 'text')
          .addColumn('to_device_type', 'text')
          .addColumn('description', 'text')
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('flows_from_segment').on('flows').column('from_segment').execute();
        await db.schema.createIndex('flows_to_segment').on('flows').column('to_segment').execute();
        await db.schema.createIndex('flows_to_service').on('flows').column('to_service').execute();

        // An address belongs to at most one device, so a device can never sit in two segment sets.
        await db.schema.createTable('device_addresses')
          .addColumn('address', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('family', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('device_addresses_device').on('device_addresses').column('device_id').execute();
      },
    },
    '0004_iam': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Operator IAM (src/iam). Secrets at rest: passwords as argon2id PHC strings, TOTP secrets
        // sealed with the data directory's IAM key, session ids / recovery codes / tokens as SHA-256.
        await db.schema.createTable('operators')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull().defaultTo('{"sites":[],"segments":[]}'))
          .addColumn('password_hash', 'text')
          .addColumn('totp_secret', 'text')
          .addColumn('totp_pending', 'text')
          .addColumn('totp_last_step', 'integer')
          .addColumn('oidc_issuer', 'text')
          .addColumn('oidc_subject', 'text')
          .addColumn('disabled_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('operators_oidc').on('operators').columns(['oidc_issuer', 'oidc_subject']).unique().execute();

        await db.schema.createTable('recovery_codes')
          .addColumn('code_hash', 'text', (c) => c.primaryKey())
          .addColumn('operator_id', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('recovery_codes_operator').on('recovery_codes').column('operator_id').execute();

        await db.schema.createTable('webauthn_credentials')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('operator_id', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('counter', 'integer', (c) => c.notNull())
          .addColumn('transports', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .execute();
        await db.schema.createIndex('webauthn_credentials_operator').on('webauthn_credentials').column('operator_id').execute();

        // Both the pre-authentication state (stage mfa / enroll) and full sessions; keyed by the hash.
        await db.schema.createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('operator_id', 'text', (c) => c.notNull())
          .addColumn('stage', 'text', (c) => c.notNull())
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('challenge', 'text')
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('step_up_until', 'text')
          .execute();
        await db.schema.createIndex('sessions_operator').on('sessions').column('operator_id').execute();

        // Failed-login counters by user name, whether or not the account exists (no enumeration).
        await db.schema.createTable('login_failures')
          .addColumn('username', 'text', (c) => c.primaryKey())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('locked_until', 'text')
          .execute();

        await db.schema.createTable('approvals')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('requested_by', 'text', (c) => c.notNull())
          .addColumn('requested_at', 'text', (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', 'text')
          .addColumn('result', 'text')
          .execute();

        // Personal tokens: an owner and scopes; role tokens (owner null) keep working.
        await db.schema.alterTable('api_tokens').addColumn('operator_id', 'text').execute();
        await db.schema.alterTable('api_tokens').addColumn('scopes', 'text').execute();
        // The first-version role `operator` became `devops` (device operator).
        await sql`update api_tokens set role = 'devops' where role = 'operator'`.execute(db);
      },
    },
    '0006_response': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Alerts (from the monitor, attestation failures), kept with their explanation; pruned by
        // the response component to a bounded count (src/response/alert-store.ts).
        await db.schema.createTable('alerts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text')
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('score', 'real', (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('explanation', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .addColumn('updated_at', 'text')
          .addColumn('note', 'text')
          .execute();
        await db.schema.createIndex('alerts_ts').on('alerts').column('ts').execute();
        await db.schema.createIndex('alerts_device').on('alerts').columns(['device_id', 'ts']).execute();
        await db.schema.createIndex('alerts_state').on('alerts').column('state').execute();
        // Response actions: applied, pending approval, rejected, undone; `previous` is what undo restores.
        await db.schema.createTable('response_actions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('segment', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('automatic', 'integer', (c) => c.notNull())
          .addColumn('playbook', 'text', (c) => c.notNull())
          .addColumn('playbook_version', 'integer', (c) => c.notNull())
          .addColumn('step', 'text', (c) => c.notNull())
          .addColumn('alert_id', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('previous', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', 'text')
          .execute();
        await db.schema.createIndex('response_actions_ts').on('response_actions').columns(['automatic', 'ts']).execute();
        await db.schema.createIndex('response_actions_device').on('response_actions').column('device_id').execute();
        await db.schema.createIndex('response_actions_status').on('response_actions').column('status').execute();
        // Playbooks, versioned: the highest version of a name is in force.
        await db.schema.createTable('playbooks')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('playbooks_pk', ['name', 'version'])
          .execute();
      },
    },
    '0005_attest': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Reference values: per model + firmware version (registered | imported), or per device
        // (tofu). `ref_key` is 'model:' + JSON [model, firmware] or 'device:' + id, so one unique key
        // covers both and a TOFU pin can never be written twice (INVARIANT: never re-learned silently).
        await db.schema.createTable('attest_references')
          .addColumn('ref_key', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text')
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('firmware_version', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        // The device's attestation key: a TPM AK bound to its EK by credential activation, or a
        // software key (weaker). One per device; replaced only by a new binding.
        await db.schema.createTable('attest_keys')
          .addColumn('device_id', 'text', (c) => c.primaryKey())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('ak_name', 'text')
          .addColumn('ak_public', 'text', (c) => c.notNull())
          .addColumn('ek_name', 'text')
          .addColumn('ek_trust', 'text')
          .addColumn('cert_serial', 'text')
          .addColumn('bound_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('attest_results')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('detail', 'text')
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('weaker', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('reference', 'text')
          .addColumn('at', 'text', (c) => c.notNull())
          // Per-device order of results: two rounds in the same millisecond still have one order.
          .addColumn('seq', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('attest_results_device_at').on('attest_results').columns(['device_id', 'at']).execute();
        // On-demand re-attestation: the operator marks a device due; its next challenge says so.
        await db.schema.createTable('attest_due')
          .addColumn('device_id', 'text', (c) => c.primaryKey())
          .addColumn('requested_by', 'text', (c) => c.notNull())
          .addColumn('requested_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0007_trust_history': {
      // One row per trust-score change, for the device page's chart. Bounded per device by the
      // writer (Inventory.setPosture keeps the newest TRUST_HISTORY_PER_DEVICE rows).
      async up(db: Kysely<unknown>): Promise<void> {
        let t = db.schema.createTable('trust_history');
        t = dialect === 'postgres'
          ? t.addColumn('id', 'serial', (c) => c.primaryKey())
          : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await t
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('score', 'real', (c) => c.notNull())
          .addColumn('factors', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.createIndex('trust_history_device').on('trust_history').columns(['device_id', 'id']).execute();
        // The dashboard's inventory sorts 100,000 devices by these without a full sort per page.
        await db.schema.createIndex('devices_name').on('devices').column('name').execute();
        await db.schema.createIndex('devices_site').on('devices').column('site').execute();
        await db.schema.createIndex('devices_last_seen').on('devices').column('last_seen').execute();
      },
    },
    // NEXT MIGRATION GOES HERE ('0003_...').
  };
}