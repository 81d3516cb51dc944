/**
 * Policies: the enforced Cedar set, an editor whose validation errors show inline, and the what-if
 * report (who gains or loses what across the fleet) that must be looked at before applying.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, canEditPolicy, type Me } from '../api.js';
import { useApi, fmtTime } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';
import { ErrorNote, Loading } from '../components.js';
import { Confirm } from '../StepUp.js';

interface Policies { active: { version: number; sha256: string; policies: string[]; text: string } | null; shadow: { version: number; policies: string[] } | null }
interface Change { device: string; action: string; topic: string | null; policies: string[] }
interface WhatIf { currentVersion: number | null; devices: number; requests: number; gained: Change[]; lost: Change[]; summary: { change: 'gain' | 'loss'; action: string; pattern: string; devices: number }[] }
interface History { versions: { version: number; status: string; appliedBy?: string; actor?: string; createdAt?: string; comment?: string | null }[] }

export function Policies({ me }: { me: Me }): ReactNode {
  const current = useApi<Policies>('/api/v1/policies');
  const history = useApi<History>('/api/v1/policies/history');
  const [text, setText] = useState<string | null>(null);
  const [report, setReport] = useState<{ forText: string; r: WhatIf }>();
  const [problems, setProblems] = useState<ApiError>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [comment, setComment] = useState('');
  const [notice, setNotice] = useState<string>();
  useLiveRefresh((c) => c.kind.startsWith('policy'), () => { current.reload(); history.reload(); });

  useEffect(() => {
    if (text === null && current.data !== undefined) setText(current.data.active?.text ?? '');
  }, [current.data, text]);

  const editable = canEditPolicy(me.operator.role);
  const draft = text ?? '';
  const checked = report !== undefined && report.forText === draft;

  const check = (): void => {
    setBusy(true);
    setProblems(undefined);
    setError(undefined);
    setNotice(undefined);
    api<WhatIf>('/api/v1/policies/what-if', { method: 'POST', body: draft, text: true }).then((r) => setReport({ forText: draft, r }), (e: unknown) => {
      if (e instanceof ApiError && (e.code === 'ZETA_ERR_POLICY_INVALID' || e.code === 'ZETA_ERR_VALIDATION')) setProblems(e);
      else setError(e);
    }).finally(() => setBusy(false));
  };

  const apply = (): void => {
    setBusy(true);
    setError(undefined);
    api<{ version?: number; approval?: { id: string; state: string } }>('/api/v1/policies', { method: 'POST', body: draft, text: true, headers: comment.trim() === '' ? {} : { 'x-zeta-comment': comment.trim().slice(0, 200) } }).then((r) => {
      setConfirm(false);
      setNotice(r.approval !== undefined ? `Sent for approval (${r.approval.id}): another operator must approve it.` : `Applied as version ${r.version ?? '?'}.`);
      current.reload();
      history.reload();
    }, (e: unknown) => {
      setConfirm(false);
      if (e instanceof ApiError && e.code === 'ZETA_ERR_POLICY_INVALID') setProblems(e);
      else setError(e);
    }).finally(() => setBusy(false));
  };

  return (
    <main id="main" className="page">
      <h1>Policies</h1>
      {current.data === undefined ? <Loading what="policies" /> : (
        <p>Enforced: {current.data.active === null ? 'none (everything denied)' : <>version <strong data-testid="policy-version">{current.data.active.version}</strong>, {current.data.active.policies.length} policies</>}
          {current.data.shadow !== null ? <> · shadow version {current.data.shadow.version}</> : null}</p>
      )}
      <ErrorNote error={current.error ?? error} />
      {notice !== undefined ? <p role="status" className="ok">{notice}</p> : null}
      <div className="split policy-split">
        <section>
          <label htmlFor="policy-text">{editable ? 'Edit the policy set (Cedar)' : 'Policy set (Cedar, read-only)'}</label>
          <textarea id="policy-text" className="code" spellCheck={false} value={draft} readOnly={!editable} rows={16}
            aria-invalid={problems !== undefined} aria-describedby={problems !== undefined ? 'policy-problems' : undefined}
            onChange={(e) => { setText(e.target.value); setProblems(undefined); }} />
          {problems !== undefined ? (
            <div id="policy-problems" className="error" role="alert">
              <p>{problems.problems.length > 0 ? 'The policy set is not valid:' : problems.detail}</p>
              {problems.problems.length > 0 ? <ul>{problems.problems.map((p, i) => <li key={i}>{p}</li>)}</ul> : null}
            </div>
          ) : null}
          <div className="actions">
            <button type="button" onClick={check} disabled={busy}>Validate and show what changes</button>
            {editable ? <button type="button" className="primary" disabled={busy || !checked} onClick={() => setConfirm(true)} title={checked ? '' : 'Check what changes first'}>Apply…</button> : null}
            {text !== null && current.data?.active?.text !== text ? <button type="button" onClick={() => { setText(current.data?.active?.text ?? ''); setProblems(undefined); setReport(undefined); }}>Discard changes</button> : null}
          </div>
        </section>
        <section className="panel" aria-labelledby="whatif-title">
          <h2 id="whatif-title">What if this were enforced</h2>
          {report === undefined ? <p className="muted">Validate the draft to see who would gain or lose access.</p> : (
            <div data-testid="what-if">
              {!checked ? <p className="warn">The draft changed since this report; validate again.</p> : null}
              <p>{report.r.devices.toLocaleString('en')} devices, {report.r.requests.toLocaleString('en')} requests compared with version {report.r.currentVersion ?? 'none'}.</p>
              {report.r.summary.length === 0 ? <p className="ok">No device gains or loses anything.</p> : (
                <table className="small">
                  <thead><tr><th scope="col">Change</th><th scope="col">Action</th><th scope="col">Topic</th><th scope="col">Devices</th></tr></thead>
                  <tbody>{report.r.summary.map((s, i) => <tr key={i} className={s.change === 'gain' ? 'gain' : 'loss'}><td>{s.change === 'gain' ? '+ gains' : '− loses'}</td><td>{s.action}</td><td className="mono">{s.pattern}</td><td>{s.devices}</td></tr>)}</tbody>
                </table>
              )}
            </div>
          )}
          <h2>History</h2>
          <ul className="plain">
            {(history.data?.versions ?? []).slice(-10).reverse().map((v) => <li key={v.version}>v{v.version} <span className="muted">{v.status} {v.appliedBy ?? v.actor ?? ''} {fmtTime(v.createdAt)}</span> {v.comment ?? ''}</li>)}
          </ul>
        </section>
      </div>
      <Confirm open={confirm} title="Apply this policy set?" confirmLabel="Apply" danger busy={busy} onConfirm={apply} onCancel={() => setConfirm(false)}
        body={<p>{report?.r.summary.reduce((n, s) => n + s.devices, 0) ?? 0} device-level changes (see the what-if report). Gateways re-check live sessions at once.</p>}>
        <p><label htmlFor="policy-comment">Comment (recorded with the version)</label><input id="policy-comment" value={comment} onChange={(e) => setComment(e.target.value)} maxLength={200} /></p>
      </Confirm>
    </main>
  );
}
