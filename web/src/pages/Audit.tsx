/** Audit: the hash-chained log with filters, and whether the chain and its signed checkpoints verify. */
import { useState, type FormEvent, type ReactNode } from 'react';
import { qs, type Me } from '../api.js';
import { useApi, fmtTime } from '../hooks.js';
import { ErrorNote, Loading } from '../components.js';

interface Entry { seq: number; ts: string; actor: string; action: string; outcome: string; subject: string | null; details: Record<string, unknown>; hash: string }
interface Verify { ok: boolean; entries: number; checkpoints: number; lastSeq: number; problems: { seq?: number; kind?: string; message?: string }[]; problemsOmitted: number }

const PAGE = 200;

export function Audit(_props: { me: Me }): ReactNode {
  const verify = useApi<Verify>('/api/v1/audit/verify');
  const [f, setF] = useState({ actor: '', action: '', subject: '' });
  const [fromSeq, setFromSeq] = useState<number | null>(null);
  // Default view: the newest page (the list reads forward from a sequence number).
  const start = fromSeq ?? (verify.data !== undefined ? Math.max(0, verify.data.lastSeq - PAGE + 1) : null);
  const list = useApi<{ entries: Entry[] }>(start === null ? null : `/api/v1/audit${qs({ ...f, fromSeq: start, limit: PAGE })}`);
  const [open, setOpen] = useState<number | null>(null);

  const onFilter = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const d = new FormData(e.currentTarget);
    setF({ actor: String(d.get('actor') ?? '').trim(), action: String(d.get('action') ?? '').trim(), subject: String(d.get('subject') ?? '').trim() });
    setFromSeq(0);
  };
  const entries = list.data?.entries ?? [];
  return (
    <main id="main" className="page">
      <h1>Audit log</h1>
      <section className="panel" aria-labelledby="chain-title">
        <h2 id="chain-title">Chain verification</h2>
        <ErrorNote error={verify.error} />
        {verify.data === undefined ? (verify.error === undefined ? <Loading what="the verification" /> : null) : (
          <p role="status" data-testid="chain-status" className={verify.data.ok ? 'ok' : 'error'}>
            {verify.data.ok ? '✔ Intact' : '✘ Broken'}: {verify.data.entries.toLocaleString('en')} entries, {verify.data.checkpoints} signed checkpoints, last #{verify.data.lastSeq}.
            {verify.data.problems.length > 0 ? ` ${verify.data.problems.length + verify.data.problemsOmitted} problems.` : ''}
          </p>
        )}
        {verify.data !== undefined && verify.data.problems.length > 0 ? <ul>{verify.data.problems.map((p, i) => <li key={i}>#{p.seq ?? '?'} {p.kind ?? ''} {p.message ?? ''}</li>)}</ul> : null}
        <button type="button" onClick={verify.reload}>Verify again</button>
      </section>
      <form className="filters" aria-label="Filter the audit log" onSubmit={onFilter}>
        <label>Actor <input name="actor" defaultValue={f.actor} maxLength={200} /></label>
        <label>Action <input name="action" defaultValue={f.action} maxLength={100} placeholder="device.quarantine" /></label>
        <label>Subject <input name="subject" defaultValue={f.subject} maxLength={200} /></label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={list.error} />
      <div className="actions">
        <button type="button" disabled={start === null || start <= 0} onClick={() => setFromSeq(Math.max(0, (start ?? 0) - PAGE))}>Older</button>
        <button type="button" disabled={entries.length < PAGE} onClick={() => setFromSeq((entries[entries.length - 1]?.seq ?? 0) + 1)}>Newer</button>
        <button type="button" onClick={() => { setFromSeq(null); verify.reload(); }}>Latest</button>
      </div>
      <table className="audit">
        <caption className="sr-only">Audit entries</caption>
        <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Subject</th><th scope="col">Details</th></tr></thead>
        <tbody>
          {entries.slice().reverse().map((e) => (
            <tr key={e.seq} className={e.outcome !== 'ok' ? 'refused' : ''}>
              <td>{e.seq}</td><td>{fmtTime(e.ts)}</td><td className="mono">{e.actor}</td><td>{e.action}</td><td>{e.outcome}</td><td className="mono">{e.subject ?? '—'}</td>
              <td>
                <button type="button" className="link" aria-expanded={open === e.seq} onClick={() => setOpen(open === e.seq ? null : e.seq)}>{open === e.seq ? 'Hide' : 'Show'}</button>
                {open === e.seq ? <pre className="result">{JSON.stringify(e.details, null, 2)}</pre> : null}
              </td>
            </tr>
          ))}
          {entries.length === 0 && list.data !== undefined ? <tr><td colSpan={7} className="muted">No entries match.</td></tr> : null}
        </tbody>
      </table>
    </main>
  );
}
