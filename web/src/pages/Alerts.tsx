/**
 * Alerts: the list, and the selected alert's explanation (observed against baseline, the features
 * that drove a model score). Acknowledge and respond call the persisted-alert API
 * (POST /api/v1/alerts/:id/ack and /respond); a server without it answers 404 and the page says so.
 */
import { useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, canActOnDevices, qs, type AlertSummary, type Me } from '../api.js';
import { useApi, fmtTime } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';
import { ErrorNote, Link, Loading, SeverityBadge } from '../components.js';

interface PersistedAlert extends AlertSummary { deviceId?: string | null; explanation?: Record<string, unknown>; note?: string | null; updatedBy?: string | null }

function deviceOf(a: PersistedAlert): string {
  return a.deviceId ?? a.device ?? a.key ?? '';
}

function Values({ title, v }: { title: string; v: unknown }): ReactNode {
  if (typeof v !== 'object' || v === null) return null;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return null;
  return (
    <>
      <h3>{title}</h3>
      <dl className="facts">{entries.map(([k, x]) => <div key={k} className="fact"><dt>{k}</dt><dd>{typeof x === 'number' ? Number(x.toFixed(3)) : typeof x === 'string' ? x : JSON.stringify(x)}</dd></div>)}</dl>
    </>
  );
}

export function Alerts({ me }: { me: Me }): ReactNode {
  const [severity, setSeverity] = useState('');
  const [device, setDevice] = useState('');
  const list = useApi<{ alerts: PersistedAlert[] }>(`/api/v1/alerts${qs({ device: device.trim() || undefined, limit: 500 })}`);
  const [selected, setSelected] = useState<string | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<unknown>();
  useLiveRefresh((c) => c.kind.startsWith('alert.') || c.kind.startsWith('response.'), list.reload, true);

  const alerts = useMemo(() => (list.data?.alerts ?? []).filter((a) => severity === '' || a.severity === severity).slice().sort((a, b) => b.at.localeCompare(a.at)), [list.data, severity]);
  const a = alerts.find((x) => x.id === selected) ?? alerts[0];
  const explanation = a?.explanation ?? a;

  const act = (what: 'ack' | 'respond', body: unknown): void => {
    if (a === undefined) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    api(`/api/v1/alerts/${encodeURIComponent(a.id)}/${what}`, { method: 'POST', body }).then((r) => { setResult(r); list.reload(); }, (e: unknown) => {
      if (e instanceof ApiError && e.status === 404 && e.code === 'ZETA_ERR_NOT_FOUND' && e.detail.startsWith('no route')) {
        setError(new Error(`This server does not support ${what === 'ack' ? 'acknowledging' : 'responding to'} alerts yet (it keeps alerts in memory only; POST /api/v1/alerts/:id/${what} answered 404).`));
      } else setError(e);
    }).finally(() => setBusy(false));
  };

  return (
    <main id="main" className="page">
      <h1>Alerts</h1>
      <form className="filters" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <label>Severity
          <select value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">any</option><option value="high">high</option><option value="medium">medium</option><option value="low">low</option>
          </select>
        </label>
        <label>Device <input value={device} onChange={(e) => setDevice(e.target.value)} maxLength={128} /></label>
        <p className="count" role="status">{alerts.length} alerts</p>
      </form>
      <ErrorNote error={list.error} />
      {list.data === undefined && list.error === undefined ? <Loading what="alerts" /> : (
        <div className="split">
          <ul className="alert-list" aria-label="Alerts">
            {alerts.map((x) => (
              <li key={x.id}>
                <button type="button" aria-pressed={a?.id === x.id} onClick={() => { setSelected(x.id); setError(undefined); setResult(undefined); }}>
                  <SeverityBadge severity={x.severity} /> <strong>{deviceOf(x)}</strong> {x.rule}{x.state !== undefined ? ` · ${x.state}` : ''}<br />
                  <span className="muted">{fmtTime(x.at)}</span>
                </button>
              </li>
            ))}
            {alerts.length === 0 ? <li className="muted">No alerts.</li> : null}
          </ul>
          {a === undefined ? null : (
            <section className="panel" aria-labelledby="alert-title">
              <h2 id="alert-title"><SeverityBadge severity={a.severity} /> {a.rule} on <Link to={`/devices/${encodeURIComponent(deviceOf(a))}`}>{deviceOf(a)}</Link></h2>
              <p>{a.summary}</p>
              <dl className="facts">
                <dt>When</dt><dd>{fmtTime(a.at)}</dd>
                {a.score !== undefined ? <><dt>Score</dt><dd>{Number(a.score.toFixed(3))}</dd></> : null}
                {a.state !== undefined ? <><dt>State</dt><dd>{a.state}{a.updatedBy ? ` by ${a.updatedBy}` : ''}</dd></> : null}
                {a.note ? <><dt>Note</dt><dd>{a.note}</dd></> : null}
                {a.cohort !== undefined ? <><dt>Cohort</dt><dd>{a.cohort}</dd></> : null}
              </dl>
              <Values title="Observed" v={(explanation as Record<string, unknown>).observed} />
              <Values title="Baseline" v={(explanation as Record<string, unknown>).baseline} />
              {Array.isArray((explanation as Record<string, unknown>).features) ? (
                <>
                  <h3>What drove the score</h3>
                  <ul className="plain">{((explanation as Record<string, unknown>).features as { feature?: string; name?: string; contribution?: number }[]).map((f, i) => <li key={i}>{f.feature ?? f.name ?? '?'}: {typeof f.contribution === 'number' ? Number(f.contribution.toFixed(3)) : ''}</li>)}</ul>
                </>
              ) : null}
              {canActOnDevices(me.operator.role) ? (
                <div>
                  <label htmlFor="alert-note">Note</label>
                  <input id="alert-note" value={note} onChange={(e) => setNote(e.target.value)} maxLength={512} />
                  <div className="actions">
                    <button type="button" onClick={() => act('ack', note.trim() === '' ? {} : { note: note.trim() })} disabled={busy}>Acknowledge</button>
                    <button type="button" onClick={() => act('respond', { dryRun: true })} disabled={busy}>Preview response</button>
                    <button type="button" className="danger" onClick={() => act('respond', {})} disabled={busy}>Respond (run playbook)</button>
                  </div>
                </div>
              ) : null}
              <ErrorNote error={error} />
              {result !== undefined ? <pre className="result" role="status">{JSON.stringify(result, null, 2)}</pre> : null}
            </section>
          )}
        </div>
      )}
    </main>
  );
}
