/**
 * The composition root: one place that opens the store and wires the components together. Used by
 * `zeta serve` and by every CLI command that works on a data directory directly (`--data`), so a
 * change made either way takes the same path, with the same audit entry and change-feed row.
 */
import type { ZetaConfig } from '../common/config.js';
import { systemClock, type Clock } from '../common/clock.js';
import { Store } from '../store/index.js';
import { AuditLog } from '../audit/index.js';
import { Inventory } from '../inventory/index.js';
import { Authority, Enrollment } from '../pki/index.js';
import { ApiTokens } from './tokens.js';
import { PolicyStore } from '../policy/index.js';
import { Segments } from '../segments/index.js';
import { Iam } from '../iam/index.js';

export class ControlPlane {
  readonly config: ZetaConfig;
  readonly clock: Clock;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly inventory: Inventory;
  readonly authority: Authority;
  readonly enrollment: Enrollment;
  readonly tokens: ApiTokens;
  readonly policies: PolicyStore;
  readonly segments: Segments;
  readonly iam: Iam;

  private constructor(config: ZetaConfig, clock: Clock, store: Store) {
    this.config = config;
    this.clock = clock;
    this.store = store;
    this.audit = new AuditLog(store, { dataDir: config.dataDir, clock });
    this.inventory = new Inventory(store, this.audit, clock, {
      enrollmentTokenTtlHours: config.enrollmentTokenTtlHours,
      caPin: () => this.authority.rootFingerprint,
    });
    this.authority = new Authority(store, this.audit, clock, {
      dataDir: config.dataDir, trustDomain: config.trustDomain, publicHost: config.publicHost, pkiHttpPort: config.pkiHttpPort,
      certLifetimeDays: config.certLifetimeDays, crlNextUpdateHours: config.crlNextUpdateHours, ocspValidityHours: config.ocspValidityHours,
    });
    this.inventory.setRevoker(this.authority);
    this.enrollment = new Enrollment({
      store, audit: this.audit, clock, authority: this.authority, directory: this.inventory,
      trustDomain: config.trustDomain, maxCsrBytes: config.maxCsrBytes,
    });
    this.tokens = new ApiTokens(store, this.audit, clock, { maxPersonalDays: config.iamTokenMaxDays });
    this.policies = new PolicyStore(store, this.audit, clock);
    this.segments = new Segments(store, this.audit, clock);
    this.iam = new Iam(store, this.audit, clock, config);
  }

  /** Opens the store; with `requireCa` (the default) also loads the CA and fails if there is none. */
  static async open(config: ZetaConfig, options: { clock?: Clock; requireCa?: boolean } = {}): Promise<ControlPlane> {
    const store = await Store.open({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema });
    const cp = new ControlPlane(config, options.clock ?? systemClock, store);
    if (options.requireCa !== false) {
      try {
        await cp.authority.load();
      } catch (e) {
        await store.close();
        throw e;
      }
    }
    return cp;
  }

  /** `zeta init`: the CA, the audit key and the first admin token (returned once). */
  async init(actor = 'cli:init'): Promise<{ rootId: string; issuingId: string; adminToken: string }> {
    const ca = await this.authority.init(actor);
    await this.policies.ensureDefault(actor);
    const { token } = await this.tokens.create({ name: 'initial admin', role: 'admin' }, actor);
    return { ...ca, adminToken: token };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
