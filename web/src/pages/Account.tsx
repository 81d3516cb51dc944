/** The operator's own account: second factors, and registering a passkey (WebAuthn). */
import { useState, type FormEvent, type ReactNode } from 'react';
import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { api, type Me } from '../api.js';
import { ErrorNote } from '../components.js';
import { fmtTime } from '../hooks.js';

function AddTotp({ onChanged }: { onChanged: () => void }): ReactNode {
  const [setup, setSetup] = useState<{ secret: string; otpauthUrl: string }>();
  const [codes, setCodes] = useState<string[]>();
  const [error, setError] = useState<unknown>();
  const start = (): void => {
    setError(undefined);
    api<{ secret: string; otpauthUrl: string }>('/api/v1/auth/totp/setup', { method: 'POST', body: {} }).then(setSetup, setError);
  };
  const confirm = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') ?? '').trim();
    api<{ recoveryCodes?: string[] }>('/api/v1/auth/totp', { method: 'POST', body: { code } }).then((r) => {
      setSetup(undefined);
      if (r.recoveryCodes !== undefined) setCodes(r.recoveryCodes);
      onChanged();
    }, setError);
  };
  return (
    <section className="panel">
      <h2>Authenticator app</h2>
      <ErrorNote error={error} />
      {codes !== undefined ? (
        <>
          <p>Your recovery codes, shown only now:</p>
          <ul className="codes" aria-label="Recovery codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
        </>
      ) : setup === undefined ? <button type="button" onClick={start}>Set up an authenticator app</button> : (
        <>
          <p><span className="label">Secret</span> <code className="secret">{setup.secret}</code></p>
          <p><span className="label">otpauth URL</span> <code className="secret">{setup.otpauthUrl}</code></p>
          <form onSubmit={confirm} aria-label="Confirm the authenticator app" className="inline-form">
            <label htmlFor="add-totp-code">Code</label>
            <input id="add-totp-code" name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6,8}" required maxLength={8} />
            <button type="submit" className="primary">Confirm</button>
          </form>
        </>
      )}
    </section>
  );
}

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
      {!me.mfa.totp ? <AddTotp onChanged={onChanged} /> : null}
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
