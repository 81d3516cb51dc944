/**
 * Approvals (separation of duties): requests that need a second operator, such as a policy apply
 * or a CA rotation. Approving carries the request out; the server refuses the requester's own
 * approval and asks for step-up.
 */
import { useState, type ReactNode } from 'react';
import { api, type Me } from '../api.js';
import { useApi, fmtTime } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';
import { ErrorNote, Loading } from '../components.js';

interface Approval { id: string; action: string; state: string; requestedBy: string; requestedAt: string; decidedBy: string | null; decidedAt: string | null; payload: Record<string, unknown> }

export function Approvals({ me }: { me: Me }): ReactNode {
  const [state, setState] = useState('pending');
  const list = useApi<{ approvals: Approval[] }>(`/api/v1/approvals${state === '' ? '' : `?state=${state}`}`);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  useLiveRefresh((c) => c.kind.startsWith('approval') || c.kind.startsWith('policy') || c.kind.startsWith('ca.'), list.reload);
  const decide = (a: Approval, what: 'approve' | 'reject'): void => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    api(`/api/v1/approvals/${encodeURIComponent(a.id)}/${what}`, { method: 'POST', body: {} }).then(() => { setNotice(`${what === 'approve' ? 'Approved' : 'Rejected'} ${a.action} requested by ${a.requestedBy}.`); list.reload(); }, setError).finally(() => setBusy(false));
  };
  return (
    <main id="main" className="page">
      <h1>Approvals</h1>
      <form className="filters" aria-label="Filter approvals" onSubmit={(e) => e.preventDefault()}>
        <label>State
          <select value={state} onChange={(e) => setState(e.target.value)}>
            <option value="pending">pending</option><option value="approved">approved</option><option value="rejected">rejected</option><option value="failed">failed</option><option value="">all</option>
          </select>
        </label>
      </form>
      <ErrorNote error={list.error ?? error} />
      {notice !== undefined ? <p role="status" className="ok">{notice}</p> : null}
      {list.data === undefined ? (list.error === undefined ? <Loading what="approvals" /> : null) : (
        <ul className="plain">
          {list.data.approvals.map((a) => (
            <li key={a.id} className="panel">
              <h2>{a.action} <span className="badge">{a.state}</span></h2>
              <p className="muted">Requested by {a.requestedBy} at {fmtTime(a.requestedAt)}{a.decidedBy !== null ? `; ${a.state} by ${a.decidedBy} at ${fmtTime(a.decidedAt)}` : ''}</p>
              {typeof a.payload.text === 'string' ? <details><summary>Policy text</summary><pre className="result">{a.payload.text}</pre></details> : null}
              {typeof a.payload.comment === 'string' ? <p>Comment: {a.payload.comment}</p> : null}
              {a.state === 'pending' ? (
                <div className="actions">
                  <button type="button" className="primary" disabled={busy || a.requestedBy === me.operator.username || a.requestedBy === `operator:${me.operator.username}`} onClick={() => decide(a, 'approve')}>Approve and carry out</button>
                  <button type="button" disabled={busy} onClick={() => decide(a, 'reject')}>Reject</button>
                </div>
              ) : null}
            </li>
          ))}
          {list.data.approvals.length === 0 ? <li className="muted">Nothing here.</li> : null}
        </ul>
      )}
    </main>
  );
}
