/** Shared pieces: modal dialog (native <dialog>: focus trap and Escape for free), notices, badges. */
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { onLinkClick } from './router.js';

export function Modal(props: { title: string; open: boolean; onClose: () => void; children: ReactNode; labelId?: string }): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const autoId = useId();
  const titleId = props.labelId ?? autoId;
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={(e) => { e.preventDefault(); props.onClose(); }} className="modal">
      {props.open ? (
        <>
          <h2 id={titleId}>{props.title}</h2>
          {props.children}
        </>
      ) : null}
    </dialog>
  );
}

export function ErrorNote({ error }: { error: unknown }): ReactNode {
  if (error === undefined || error === null) return null;
  const text = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  return <p className="error" role="alert">{text}{code !== '' && !text.includes(code) ? <> <code>{code}</code></> : null}</p>;
}

export function StateBadge({ state }: { state: string }): ReactNode {
  return <span className={`badge state-${state}`}>{state}</span>;
}

export function SeverityBadge({ severity }: { severity: string }): ReactNode {
  return <span className={`badge sev-${severity}`}>{severity}</span>;
}

export function Link(props: { to: string; children: ReactNode; className?: string; 'aria-current'?: 'page' | undefined }): ReactNode {
  return <a href={props.to} onClick={onLinkClick} className={props.className} aria-current={props['aria-current']}>{props.children}</a>;
}

export function Loading({ what }: { what: string }): ReactNode {
  return <p className="muted" role="status">Loading {what}…</p>;
}
