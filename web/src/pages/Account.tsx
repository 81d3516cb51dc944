/** The operator's own account: second factors, and registering a passkey (WebAuthn). */
import { useState, type FormEvent, type ReactNode } from 'react';
import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { api, type Me } from '../api.js';
import { ErrorNote } from '../components.js';
import { fmtTime } from '../hooks.js';

export function Account({ me, onChanged }: { me: Me; onChanged: () => void }): ReactNode {
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const onRegister = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget).get('name') ?? '').trim() || 'passkey';
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    void (async () => {
      try {
        const optionsJSON = await api<PublicKeyCredentialCreationOptionsJSON>('/api/v1/auth/webauthn/register/options', { method: 'POST', body: {} });
        const response = await startRegistration({ optionsJSON });
        const r = await api<{ id: string; name: string }>('/api/v1/auth/webauthn/register/verify', { method: 'POST', body: { response, name } });
        setDone(`Passkey "${r.name}" registered.`);
        onChanged();
      } catch (err) {
        setError(err);
      } finally {
        setBusy(false);
      }
    })();
  };
  return (
    <main id="main" className="page">
      <h1>Your account</h1>
      <dl className="facts">
        <dt>User name</dt><dd>{me.operator.username}</dd>
        <dt>Role</dt><dd>{me.operator.role}</dd>
        <dt>Scope</dt><dd>{me.operator.scope === undefined || (me.operator.scope.sites.length === 0 && me.operator.scope.segments.length === 0) ? 'whole fleet' : [...me.operator.scope.sites.map((s) => `site ${s}`), ...me.operator.scope.segments.map((s) => `segment ${s}`)].join(', ')}</dd>
        <dt>Authenticator app</dt><dd>{me.mfa.totp ? 'enrolled' : 'not enrolled'}</dd>
        <dt>Passkeys</dt><dd data-testid="passkey-count">{me.mfa.passkeys}</dd>
        <dt>Step-up valid until</dt><dd>{fmtTime(me.stepUpUntil)}</dd>
      </dl>
      <section className="panel">
        <h2>Add a passkey</h2>
        <form onSubmit={onRegister} aria-label="Register a passkey" className="inline-form">
          <label htmlFor="passkey-name">Name</label>
          <input id="passkey-name" name="name" maxLength={64} defaultValue="laptop" />
          <button type="submit" className="primary" disabled={busy}>Register passkey</button>
        </form>
        <ErrorNote error={error} />
        {done !== undefined ? <p role="status" className="ok">{done}</p> : null}
      </section>
    </main>
  );
}
