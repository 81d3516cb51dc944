/**
 * One device: identity, certificate, posture and attestation, trust score over time, recent gateway
 * events and policy decisions, and the lifecycle actions (each confirmed; the server asks for
 * step-up and the api layer shows the dialog).
 */
import { useState, type ReactNode } from 'react';
import { api, ApiError, canActOnDevices, canReadAudit, qs, type Device, type Me } from '../api.js';
import { useApi, fmtTime, errorText } from '../hooks.js';
import { useLiveRefresh, useStreamEvents } from '../stream.js';
import { LineChart } from '../charts.js';
import { ErrorNote, Link, Loading, StateBadge } from '../components.js';
import { Confirm } from '../StepUp.js';

type Action = 'suspend' | 'quarantine' | 'resume' | 'revoke' | 'attest';

const ACTIONS: { action: Action; label: string; danger: boolean; when: (state: string) => boolean; explain: string }[] = [
  { action: 'quarantine', label: 'Quarantine', danger: true, when: (s) => ['registered', 'active', 'suspended'].includes(s), explain: 'The device keeps its identity but may only reach the remediation flows; its live sessions are re-checked at once.' },
  { action: 'suspend', label: 'Suspend', danger: true, when: (s) => ['registered', 'active', 'quarantined'].includes(s), explain: 'The device is refused at connect until resumed.' },
  { action: 'resume', label: 'Resume', danger: false, when: (s) => ['suspended', 'quarantined'].includes(s), explain: 'The device returns to active with its normal segment and policies.' },
  { action: 'attest', label: 'Re-attest', danger: false, when: (s) => ['active', 'quarantined'].includes(s), explain: "The device's agent is asked to prove its boot state again at its next round." },
  { action: 'revoke', label: 'Revoke', danger: true, when: (s) => !['revoked', 'decommissioned'].includes(s), explain: 'Every certificate of the device is revoked (CRL and OCSP). This cannot be undone.' },
];

const REVOKE_REASONS = ['keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'unspecified'];

interface AttestHistory {
  key: { method: string; ekTrust: string | null; boundAt: string } | null;
  due: boolean;
  results: { id: string; status: string; reason: string | null; method: string; weaker: boolean; at: string }[];
}
interface GatewayEvent { type: string; at: string; clientAddress: string; deviceId?: string; topic?: string; detail?: string; reason?: string }
interface Decision { at?: string; decision: string; request: { principal: string; action: string; topic?: string }; reasons?: string[]; determining?: string[] }

export function DevicePage({ id, me }: { id: string; me: Me }): ReactNode {
  const enc = encodeURIComponent(id);
  const device = useApi<Device>(`/api/v1/devices/${enc}`);
  const trust = useApi<{ points: { at: string; score: number }[] }>(`/api/v1/devices/${enc}/trust-history`);
  const events = useApi<{ events: GatewayEvent[] }>(`/api/v1/gateway/events${qs({ device: id, limit: 50 })}`);
  // The decision log is part of the audit trail: asked for only by roles that may read it.
  const decisions = useApi<{ entries: Decision[] }>(canReadAudit(me.operator.role) ? `/api/v1/decisions${qs({ device: id, limit: 50 })}` : null);
  const attest = useApi<AttestHistory>(`/api/v1/devices/${enc}/attestations?limit=10`);
  const [pending, setPending] = useState<Action | null>(null);
  const [reason, setReason] = useState('');
  const [revokeReason, setRevokeReason] = useState('keyCompromise');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  useLiveRefresh((c) => c.subject === id || c.subject === '*', () => { device.reload(); trust.reload(); attest.reload(); });
  useStreamEvents({ alert: (a) => { if (a.device === id) { events.reload(); decisions.reload(); } } });

  const run = (a: Action): void => {
    setBusy(true);
    setError(undefined);
    const body = a === 'revoke' ? { reason: revokeReason } : a === 'attest' ? {} : reason.trim() === '' ? {} : { reason: reason.trim() };
    api(`/api/v1/devices/${enc}/${a}`, { method: 'POST', body }).then(() => {
      setNotice(`${ACTIONS.find((x) => x.action === a)?.label ?? a} done.`);
      setPending(null);
      setReason('');
      device.reload();
    }, (e: unknown) => {
      setError(e);
      if (typeof e === 'object' && e !== null && 'status' in e && (e as { status: number }).status === 404 && a === 'attest') setError(new Error('This server has no re-attestation endpoint (POST /api/v1/devices/:id/attest answered 404).'));
    }).finally(() => setBusy(false));
  };

  if (device.error !== undefined && device.data === undefined) return <main id="main" className="page"><h1>Device {id}</h1><ErrorNote error={device.error} /><Link to="/inventory">Back to the inventory</Link></main>;
  const d = device.data;
  if (d === undefined) return <main id="main" className="page"><Loading what="the device" /></main>;
  const att = d.posture.attestation as { status?: string; reason?: string; at?: string; method?: string } | undefined;
  const action = ACTIONS.find((a) => a.action === pending);
  return (
    <main id="main" className="page">
      <p className="crumbs"><Link to="/inventory">Inventory</Link> › {d.id}</p>
      <h1>{d.name} <StateBadge state={d.state} /></h1>
      {notice !== undefined ? <p role="status" className="ok">{notice}</p> : null}
      <ErrorNote error={pending === null ? error : undefined} />
      {canActOnDevices(me.operator.role) ? (
        <div className="toolbar" role="group" aria-label="Device actions">
          {ACTIONS.filter((a) => a.when(d.state)).map((a) => (
            <button type="button" key={a.action} className={a.danger ? 'danger' : ''} onClick={() => { setError(undefined); setNotice(undefined); setPending(a.action); }}>{a.label}</button>
          ))}
        </div>
      ) : <p className="muted">Read-only: your role ({me.operator.role}) cannot change devices.</p>}
      <div className="grid">
        <section className="panel" aria-labelledby="d-id">
          <h2 id="d-id">Identity</h2>
          <dl className="facts">
            <dt>ID</dt><dd className="mono">{d.id}</dd>
            <dt>Type</dt><dd>{d.type}</dd>
            <dt>Segment</dt><dd data-testid="device-segment">{d.segment ?? '—'}</dd>
            <dt>Site</dt><dd>{d.site ?? '—'}</dd>
            <dt>Vendor / model</dt><dd>{[d.vendor, d.model].filter((x) => x !== null).join(' ') || '—'}</dd>
            <dt>Firmware</dt><dd>{d.firmware ?? '—'}</dd>
            <dt>Owner</dt><dd>{d.owner ?? '—'}</dd>
            <dt>Tags</dt><dd>{d.tags.length > 0 ? d.tags.join(', ') : '—'}</dd>
            <dt>Last seen</dt><dd>{fmtTime(d.lastSeen)}</dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="d-cert">
          <h2 id="d-cert">Certificate</h2>
          {d.certificate === null ? <p className="muted">No certificate issued (not enrolled yet).</p> : (
            <dl className="facts">
              <dt>Serial</dt><dd className="mono">{d.certificate.serial}</dd>
              <dt>SHA-256</dt><dd className="mono wrap">{d.certificate.fingerprintSha256}</dd>
              <dt>Expires</dt><dd>{fmtTime(d.certificate.notAfter)}</dd>
            </dl>
          )}
          <h2>Posture</h2>
          <dl className="facts">
            <dt>Trust score</dt><dd data-testid="trust-score">{d.trustScore ?? 'not scored'}</dd>
            <dt>Attestation</dt><dd>{att?.status === undefined ? 'unknown' : `${att.status}${att.method !== undefined ? ` (${att.method})` : ''}${att.at !== undefined ? `, ${fmtTime(att.at)}` : ''}`}</dd>
            {att?.reason !== undefined ? <><dt>Reason</dt><dd>{att.reason}</dd></> : null}
          </dl>
        </section>
        <section className="panel" aria-labelledby="d-att">
          <h2 id="d-att">Attestation</h2>
          {attest.error instanceof ApiError && attest.error.status === 404 && attest.error.detail.startsWith('no route')
            ? <p className="muted">This server has no attestation service.</p>
            : attest.error !== undefined ? <ErrorNote error={attest.error} /> : attest.data === undefined ? <Loading what="attestations" /> : (
              <>
                <dl className="facts">
                  <dt>Key</dt><dd>{attest.data.key === null ? 'none bound' : `${attest.data.key.method}${attest.data.key.ekTrust !== null ? `, EK ${attest.data.key.ekTrust}` : ''} since ${fmtTime(attest.data.key.boundAt)}`}</dd>
                  <dt>Round due</dt><dd>{attest.data.due ? 'yes (requested)' : 'no'}</dd>
                </dl>
                <ul className="plain log">
                  {attest.data.results.map((r) => <li key={r.id}><span className={`badge ${r.status === 'verified' ? 'dec-allow' : r.status === 'failed' ? 'dec-deny' : ''}`}>{r.status}</span> <span className="muted">{fmtTime(r.at)}</span> {r.method}{r.weaker ? ' (software key, weaker)' : ''} {r.reason ?? ''}</li>)}
                  {attest.data.results.length === 0 ? <li className="muted">No attestation yet.</li> : null}
                </ul>
              </>
            )}
        </section>
        <section className="panel wide" aria-labelledby="d-trust">
          <h2 id="d-trust">Trust score over time</h2>
          {trust.error !== undefined ? <ErrorNote error={trust.error} /> : <LineChart label={`Trust score of ${d.name}`} points={trust.data?.points ?? []} />}
        </section>
        <section className="panel" aria-labelledby="d-events">
          <h2 id="d-events">Recent gateway events</h2>
          {events.error !== undefined ? <p className="muted">{errorText(events.error)}</p> : (
            <ul className="plain log">
              {(events.data?.events ?? []).slice().reverse().map((e, i) => <li key={i}><span className="muted">{fmtTime(e.at)}</span> <strong>{e.type}</strong> {e.topic ?? ''} {e.reason ?? e.detail ?? ''}</li>)}
              {(events.data?.events.length ?? 0) === 0 ? <li className="muted">No recent events.</li> : null}
            </ul>
          )}
        </section>
        <section className="panel" aria-labelledby="d-dec">
          <h2 id="d-dec">Recent decisions</h2>
          {!canReadAudit(me.operator.role) ? <p className="muted">The decision log is part of the audit trail; your role ({me.operator.role}) cannot read it.</p> : decisions.error !== undefined ? <p className="muted">{decisions.error instanceof ApiError && decisions.error.status === 403 ? 'Your role cannot read the decision log (it is part of the audit trail).' : errorText(decisions.error)}</p> : (
            <ul className="plain log">
              {(decisions.data?.entries ?? []).slice().reverse().map((e, i) => <li key={i}><span className={`badge dec-${e.decision}`}>{e.decision}</span> {e.request.action} {e.request.topic ?? ''} <span className="muted">{(e.determining ?? e.reasons ?? []).join(', ')}</span></li>)}
              {(decisions.data?.entries.length ?? 0) === 0 ? <li className="muted">No recent decisions.</li> : null}
            </ul>
          )}
        </section>
      </div>
      {action !== undefined ? (
        <Confirm open title={`${action.label} ${d.name}?`} confirmLabel={`${action.label} device`} danger={action.danger} busy={busy}
          body={<p>{action.explain}</p>} onConfirm={() => run(action.action)} onCancel={() => { setPending(null); setError(undefined); }}>
          {action.action === 'revoke' ? (
            <p><label htmlFor="revoke-reason">Reason (RFC 5280)</label>
              <select id="revoke-reason" value={revokeReason} onChange={(e) => setRevokeReason(e.target.value)}>{REVOKE_REASONS.map((r) => <option key={r}>{r}</option>)}</select></p>
          ) : action.action === 'suspend' || action.action === 'quarantine' ? (
            <p><label htmlFor="action-reason">Reason (recorded in the audit log)</label>
              <input id="action-reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={256} /></p>
          ) : null}
          <ErrorNote error={error} />
        </Confirm>
      ) : null}
    </main>
  );
}
