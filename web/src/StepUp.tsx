/**
 * Step-up: a destructive request answered 403 ZETA_ERR_STEP_UP_REQUIRED opens this dialog; a TOTP
 * code or a passkey renews the step-up window and the request is retried (api.ts).
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { api, setStepUpHandler, type Me } from './api.js';
import { ErrorNote, Modal } from './components.js';

export function StepUpHost({ me }: { me: Me }): ReactNode {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const resolver = useRef<((ok: boolean) => void) | null>(null);

  useEffect(() => {
    setStepUpHandler(() => new Promise<boolean>((resolve) => {
      resolver.current?.(false);
      resolver.current = resolve;
      setError(undefined);
      setOpen(true);
    }));
    return () => setStepUpHandler(null);
  }, []);

  const done = (ok: boolean): void => {
    setOpen(false);
    resolver.current?.(ok);
    resolver.current = null;
  };

  const attempt = async (f: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      done(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const onCode = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') ?? '').trim();
    void attempt(() => api('/api/v1/auth/step-up', { method: 'POST', body: { code } }));
  };
  const onPasskey = (): void => {
    void attempt(async () => {
      const optionsJSON = await api<PublicKeyCredentialRequestOptionsJSON>('/api/v1/auth/step-up/options', { method: 'POST', body: {} });
      const response = await startAuthentication({ optionsJSON });
      await api('/api/v1/auth/step-up', { method: 'POST', body: { response } });
    });
  };

  return (
    <Modal title="Confirm it is you" open={open} onClose={() => done(false)}>
      <p>This action needs a fresh second factor (valid for 5 minutes).</p>
      <ErrorNote error={error} />
      {me.mfa.totp ? (
        <form onSubmit={onCode} aria-label="Step-up code">
          <label htmlFor="stepup-code">Authenticator code</label>
          <input id="stepup-code" name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6,8}" required maxLength={8} autoFocus />
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>Confirm</button>
            <button type="button" onClick={() => done(false)}>Cancel</button>
          </div>
        </form>
      ) : null}
      {me.mfa.passkeys > 0 ? <p><button type="button" onClick={onPasskey} disabled={busy} autoFocus={!me.mfa.totp}>Use a passkey</button></p> : null}
      {!me.mfa.totp ? <div className="actions"><button type="button" onClick={() => done(false)}>Cancel</button></div> : null}
    </Modal>
  );
}

/** A confirmation before a destructive action, naming the action and its subject. */
export function Confirm(props: { open: boolean; title: string; body: ReactNode; confirmLabel: string; danger?: boolean; busy?: boolean; onConfirm: () => void; onCancel: () => void; children?: ReactNode }): ReactNode {
  return (
    <Modal title={props.title} open={props.open} onClose={props.onCancel}>
      <div>{props.body}</div>
      {props.children}
      <div className="actions">
        <button type="button" className={props.danger === true ? 'danger' : 'primary'} onClick={props.onConfirm} disabled={props.busy === true}>{props.confirmLabel}</button>
        <button type="button" onClick={props.onCancel} autoFocus>Cancel</button>
      </div>
    </Modal>
  );
}
