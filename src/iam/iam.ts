/**
 * The IAM component as the control plane sees it: accounts, the login flow, sessions, approvals,
 * built from one configuration. The secret box opens lazily, so read-only commands on a data
 * directory never create a key file.
 */
import type { Store } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Clock } from '../common/clock.js';
import type { ZetaConfig } from '../common/config.js';
import { Approvals } from './approvals.js';
import { Authenticator } from './authenticator.js';
import { LoginGuard } from './login-guard.js';
import { Operators } from './operators.js';
import { SecretBox } from './secret-box.js';
import { Sessions } from './sessions.js';

export class Iam {
  readonly operators: Operators;
  readonly sessions: Sessions;
  readonly guard: LoginGuard;
  readonly auth: Authenticator;
  readonly approvals: Approvals;
  readonly publicUrl: string;
  #box: SecretBox | undefined;

  constructor(store: Store, audit: AuditLog, clock: Clock, config: ZetaConfig) {
    const box = (): SecretBox => (this.#box ??= SecretBox.open(config.dataDir));
    this.publicUrl = config.iamPublicUrl ?? `https://${config.publicHost}${config.apiPort === 443 ? '' : `:${config.apiPort}`}`;
    this.operators = new Operators(store, audit, clock, box, { passwordMinLength: config.iamPasswordMinLength });
    this.sessions = new Sessions(store, clock, { idleMinutes: config.iamSessionIdleMinutes, absoluteHours: config.iamSessionAbsoluteHours, stepUpMinutes: config.iamStepUpMinutes });
    this.guard = new LoginGuard(store, clock, { threshold: config.iamLockoutThreshold, lockoutMinutes: config.iamLockoutMinutes, ratePerMinute: config.iamLoginRatePerMinute });
    this.auth = new Authenticator({ store, audit, clock, operators: this.operators, sessions: this.sessions, guard: this.guard, issuer: `Zeta (${config.trustDomain})` });
    this.approvals = new Approvals(store, audit, clock, config.iamApprovalActions.split(',').filter((s) => s !== ''));
  }
}
