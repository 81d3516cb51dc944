/**
 * Wires the response side into a running server: monitor alerts (after the trust score is
 * updated) and `device.attestation_failed` changes are persisted and run through the playbooks;
 * trust-score drops (`device.posture`) run the trust-only steps; every alert and action goes to the
 * configured sinks. Also used without a server (CLI on --data) for the same engine and store.
 */
import type { ChangeFeed, Change } from '../store/index.js';
import type { Alert } from '../monitor/index.js';
import type { SinkSet} from '../response/index.js';
import { AlertStore, ResponseEngine, sinksFromConfig, type AlertInput, type Severity } from '../response/index.js';
import type { ControlPlane } from './control-plane.js';

export interface ResponseRuntime {
  engine: ResponseEngine;
  alerts: AlertStore;
  sinks: SinkSet;
  /** Ingest requests being served now (POST /api/v1/ingest/*). */
  ingestInFlight: number;
  /** Persists an alert and responds to it (never throws: errors go to the log). */
  submit(input: AlertInput): Promise<void>;
  close(): Promise<void>;
}

/** The engine and alert store over a control plane, without sinks or feed subscriptions. */
export function responseEngine(cp: ControlPlane): ResponseEngine {
  const alerts = new AlertStore(cp.store, cp.audit, cp.clock, { maxAlerts: cp.config.alertRetentionCount, retentionDays: cp.config.alertRetentionDays });
  return new ResponseEngine({ store: cp.store, audit: cp.audit, inventory: cp.inventory, clock: cp.clock, alerts });
}

export async function startResponse(cp: ControlPlane, feed: ChangeFeed, log: { error(o: object, msg: string): void }): Promise<ResponseRuntime> {
  const engine = responseEngine(cp);
  await engine.ensureDefaultPlaybook('system');
  const sinks = sinksFromConfig(cp.config);
  engine.on('alert', (a) => sinks.push({ type: 'alert', ts: a.at, alert: a }));
  engine.on('action', (a) => sinks.push({ type: 'response', ts: a.decidedAt ?? a.at, action: a }));
  const onChange = (c: Change): void => {
    if (c.kind === 'device.attestation_failed') {
      const d = c.data as { reason?: unknown; code?: unknown };
      void rt.submit({
        key: c.subject, rule: 'attestation-failed', severity: 'high', score: 1,
        summary: `attestation failed${typeof d.reason === 'string' ? `: ${d.reason.slice(0, 300)}` : ''}`,
        observed: { ...(typeof d.reason === 'string' ? { reason: d.reason.slice(0, 300) } : {}), ...(typeof d.code === 'string' ? { code: d.code } : {}) },
        baseline: {}, change: c.seq,
      });
    } else if (c.kind === 'device.posture' && typeof c.data.trustScore === 'number') {
      void engine.submitTrust(c.subject).catch((e: unknown) => log.error({ err: e }, 'response to a trust change failed'));
    }
  };
  feed.on('change', onChange);
  const rt: ResponseRuntime = {
    engine, alerts: engine.alerts, sinks, ingestInFlight: 0,
    async submit(input: AlertInput): Promise<void> {
      try {
        await engine.submitAlert(input);
      } catch (e) {
        // Response never takes the server down; the monitor's audit entry still records the alert.
        log.error({ err: e }, 'persisting or responding to an alert failed');
      }
    },
    async close(): Promise<void> {
      feed.off('change', onChange);
      await engine.idle();
      await sinks.close();
    },
  };
  return rt;
}

/** A monitor alert as the response side's input (the full alert is the explanation). */
export function alertInput(a: Alert): AlertInput {
  return { ...a, severity: a.severity as Severity };
}
