/**
 * Login: password, then the second factor the account has (TOTP code, passkey, or a recovery code);
 * at the first login of an account without one, TOTP enrolment (secret as text and otpauth URL)
 * or a passkey. The server holds the state between steps in the __Host-zeta_pre cookie.
 */
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { startAuthentication, startRegistration, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { api } from '../api.js';
import { ErrorNote } from '../components.js';

type Stage =
  | { kind: 'password' }
  | { kind: 'mfa'; methods: string[]; using: 'totp' | 'recovery' }
  | { kind: 'enroll' }
  | { kind: 'recovery-codes'; codes: string[] };

interface LoginAnswer { stage: 'mfa' | 'enroll-mfa'; methods?: string[] }
interface Done { recoveryCodes?: string[] }

export function Login(props: { onLoggedIn: () => void }): ReactNode {
  const [stage, setStage] = useState<Stage>({ kind: 'password' });
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [config, setConfig] = useState<{ oidc: boolean; webauthn: boolean }>({ oidc: false, webauthn: false });

  useEffect(() => {
    api<{ oidc: boolean; webauthn: boolean }>('/api/v1/auth/config').then(setConfig, () => undefined);
  }, []);

  const run = async (f: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const finish = (r: Done): void => {
    if (r.recoveryCodes !== undefined && r.recoveryCodes.length > 0) setStage({ kind: 'recovery-codes', codes: r.recoveryCodes });
    else props.onLoggedIn();
  };

  const onPassword = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void run(async () => {
      const r = await api<LoginAnswer>('/api/v1/auth/login', { method: 'POST', body: { username: String(f.get('username') ?? ''), password: String(f.get('password') ?? '') } });
      if (r.stage === 'enroll-mfa') setStage({ kind: 'enroll' });
      else {
        const methods = r.methods ?? ['totp'];
        setStage({ kind: 'mfa', methods, using: methods.includes('totp') ? 'totp' : 'recovery' });
      }
    });
  };

  const onCode = (path: string) => (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') ?? '').trim();
    void run(async () => finish(await api<Done>(path, { method: 'POST', body: { code } })));
  };

  const onPasskey = (): void => {
    void run(async () => {
      const optionsJSON = await api<PublicKeyCredentialRequestOptionsJSON>('/api/v1/auth/webauthn/options', { method: 'POST', body: {} });
      const response = await startAuthentication({ optionsJSON });
      finish(await api<Done>('/api/v1/auth/webauthn/verify', { method: 'POST', body: { response } }));
    });
  };

  return (
    <main className="login" id="main">
      <div className="login-card">
        <h1><span className="logo" aria-hidden="true">ζ</span> Zeta</h1>
        <p className="muted">Sign in to the fleet dashboard.</p>
        <ErrorNote error={error} />
        {stage.kind === 'password' ? (
          <form onSubmit={onPassword} aria-label="Sign in">
            <label htmlFor="username">User name</label>
            <input id="username" name="username" autoComplete="username" required maxLength={128} autoFocus />
            <label htmlFor="password">Password</label>
            <input id="password" name="password" type="password" autoComplete="current-password" required maxLength={1024} />
            <button type="submit" className="primary" disabled={busy}>Continue</button>
            {config.oidc ? <p><a href="/api/v1/auth/oidc/start" className="button">Sign in with single sign-on</a></p> : null}
          </form>
        ) : null}
        {stage.kind === 'mfa' ? (
          <div>
            {stage.using === 'totp' ? (
              <form onSubmit={onCode('/api/v1/auth/totp')} aria-label="Sign in with an authenticator code">
                <label htmlFor="code">Code from your authenticator app</label>
                <input id="code" name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6,8}" required maxLength={8} autoFocus />
                <button type="submit" className="primary" disabled={busy}>Verify</button>
              </form>
            ) : (
              <form onSubmit={onCode('/api/v1/auth/recovery')} aria-label="Sign in with a recovery code">
                <label htmlFor="recovery">Recovery code</label>
                <input id="recovery" name="code" autoComplete="off" required maxLength={64} autoFocus />
                <button type="submit" className="primary" disabled={busy}>Use recovery code</button>
              </form>
            )}
            <div className="alt-methods">
              {stage.methods.includes('webauthn') ? <button type="button" onClick={onPasskey} disabled={busy}>Use a passkey</button> : null}
              {stage.using !== 'totp' && stage.methods.includes('totp') ? <button type="button" onClick={() => setStage({ ...stage, using: 'totp' })}>Use an authenticator code</button> : null}
              {stage.using !== 'recovery' ? <button type="button" className="link" onClick={() => setStage({ ...stage, using: 'recovery' })}>Use a recovery code</button> : null}
            </div>
          </div>
        ) : null}
        {stage.kind === 'enroll' ? <Enroll busy={busy} run={run} finish={finish} webauthn={config.webauthn} /> : null}
        {stage.kind === 'recovery-codes' ? (
          <div>
            <h2>Your recovery codes</h2>
            <p>Each code signs you in once if you lose your authenticator. They are shown only now: store them somewhere safe.</p>
            <ul className="codes" aria-label="Recovery codes">{stage.codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
            <button type="button" className="primary" onClick={props.onLoggedIn} autoFocus>I have saved them — continue</button>
          </div>
        ) : null}
      </div>
    </main>
  );
}

function Enroll(props: { busy: boolean; run: (f: () => Promise<void>) => Promise<void>; finish: (r: Done) => void; webauthn: boolean }): ReactNode {
  const [setup, setSetup] = useState<{ secret: string; otpauthUrl: string }>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api<{ secret: string; otpauthUrl: string }>('/api/v1/auth/totp/setup', { method: 'POST', body: {} }).then(setSetup, setError);
  }, []);
  const onCode = (e: FormEvent<HTMLFormElement>): void => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') ?? '').trim();
    void props.run(async () => props.finish(await api<Done>('/api/v1/auth/totp', { method: 'POST', body: { code } })));
  };
  const onPasskey = (): void => {
    void props.run(async () => {
      const optionsJSON = await api<PublicKeyCredentialCreationOptionsJSON>('/api/v1/auth/webauthn/register/options', { method: 'POST', body: {} });
      const response = await startRegistration({ optionsJSON });
      // At first login this completes the login like /auth/totp (with the recovery codes).
      props.finish(await api<Done>('/api/v1/auth/webauthn/register/verify', { method: 'POST', body: { response, name: 'first passkey' } }));
    });
  };
  return (
    <div>
      <h2>Set up a second factor</h2>
      <p>Your account needs a second factor before first use. Add this key to an authenticator app, then enter the code it shows.</p>
      <ErrorNote error={error} />
      {setup === undefined ? <p className="muted" role="status">Preparing a new secret…</p> : (
        <>
          <p><span className="label">Secret</span> <code className="secret" data-testid="totp-secret">{setup.secret}</code></p>
          <p><span className="label">otpauth URL</span> <code className="secret" data-testid="totp-url">{setup.otpauthUrl}</code></p>
          <form onSubmit={onCode} aria-label="Confirm authenticator">
            <label htmlFor="enroll-code">Code from your authenticator app</label>
            <input id="enroll-code" name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6,8}" required maxLength={8} autoFocus />
            <button type="submit" className="primary" disabled={props.busy}>Confirm and sign in</button>
          </form>
        </>
      )}
      {props.webauthn ? <p><button type="button" onClick={onPasskey} disabled={props.busy}>Register a passkey instead</button></p> : null}
    </div>
  );
}
