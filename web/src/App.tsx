/**
 * The shell: who is signed in (GET /auth/me), the navigation, the live stream, and the page for
 * the current path. Without a session only the login form renders; nothing else is fetched.
 */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { api, canApprove, canReadAudit, setCsrfToken, setUnauthenticatedHandler, type Me, type Role } from './api.js';
import { Link } from './components.js';
import { navigate, usePath } from './router.js';
import { closeStream, openStream, useStreamStatus } from './stream.js';
import { StepUpHost } from './StepUp.js';
import { Login } from './pages/Login.js';
import { Overview } from './pages/Overview.js';
import { Inventory } from './pages/Inventory.js';
import { DevicePage } from './pages/Device.js';
import { SegmentMap } from './pages/Segments.js';
import { Alerts } from './pages/Alerts.js';
import { Policies } from './pages/Policies.js';
import { Audit } from './pages/Audit.js';
import { Account } from './pages/Account.js';
import { Approvals } from './pages/Approvals.js';

const NAV: { to: string; label: string; match: (p: string) => boolean; show?: (r: Role) => boolean }[] = [
  { to: '/', label: 'Overview', match: (p) => p === '/' },
  { to: '/inventory', label: 'Inventory', match: (p) => p.startsWith('/inventory') || p.startsWith('/devices/') },
  { to: '/segments', label: 'Segment map', match: (p) => p.startsWith('/segments') },
  { to: '/alerts', label: 'Alerts', match: (p) => p.startsWith('/alerts') },
  { to: '/policies', label: 'Policies', match: (p) => p.startsWith('/policies') },
  { to: '/audit', label: 'Audit', match: (p) => p.startsWith('/audit'), show: canReadAudit },
  { to: '/approvals', label: 'Approvals', match: (p) => p.startsWith('/approvals'), show: canApprove },
];

export function App(): ReactNode {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const loadMe = useCallback(() => {
    // No session (401) or no answer at all: either way only the login form is shown (fail closed).
    api<Me>('/api/v1/auth/me').then((m) => { setCsrfToken(m.csrfToken); setMe(m); }, () => {
      setCsrfToken(null);
      setMe(null);
    });
  }, []);
  useEffect(() => { loadMe(); }, [loadMe]);
  useEffect(() => {
    setUnauthenticatedHandler(() => { setCsrfToken(null); closeStream(); setMe(null); });
    return () => setUnauthenticatedHandler(null);
  }, []);
  useEffect(() => {
    if (me) openStream();
    else closeStream();
  }, [me]);

  if (me === undefined) return <p className="muted boot" role="status">Loading…</p>;
  if (me === null) return <Login onLoggedIn={loadMe} />;
  return <Shell me={me} reloadMe={loadMe} onLoggedOut={() => { setCsrfToken(null); closeStream(); setMe(null); navigate('/'); }} />;
}

function Shell({ me, reloadMe, onLoggedOut }: { me: Me; reloadMe: () => void; onLoggedOut: () => void }): ReactNode {
  const path = usePath();
  const live = useStreamStatus();
  const logout = (): void => {
    void api('/api/v1/auth/logout', { method: 'POST', body: {} }).catch(() => undefined).finally(onLoggedOut);
  };
  const pathname = path.split('?')[0] ?? '/';
  let page: ReactNode;
  const device = /^\/devices\/([^/]+)$/.exec(pathname);
  if (pathname === '/') page = <Overview />;
  else if (pathname === '/inventory') page = <Inventory />;
  else if (device !== null) page = <DevicePage id={decodeURIComponent(device[1]!)} me={me} />;
  else if (pathname === '/segments') page = <SegmentMap />;
  else if (pathname === '/alerts') page = <Alerts me={me} />;
  else if (pathname === '/policies') page = <Policies me={me} />;
  else if (pathname === '/audit') page = <Audit me={me} />;
  else if (pathname === '/approvals') page = <Approvals me={me} />;
  else if (pathname === '/account') page = <Account me={me} onChanged={reloadMe} />;
  else page = <main id="main" className="page"><h1>Not found</h1><p>No page at {pathname}. <Link to="/">Back to the overview</Link>.</p></main>;
  return (
    <div className="shell">
      <a href="#main" className="skip">Skip to content</a>
      <header className="topbar">
        <span className="brand"><span className="logo" aria-hidden="true">ζ</span> Zeta</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.show === undefined || n.show(me.operator.role)).map((n) => <li key={n.to}><Link to={n.to} aria-current={n.match(pathname) ? 'page' : undefined}>{n.label}</Link></li>)}
          </ul>
        </nav>
        <div className="who">
          <span className={`live live-${live}`} title="Live updates">{live === 'live' ? '● live' : live === 'connecting' ? '○ connecting' : '○ offline'}</span>
          <Link to="/account"><span data-testid="whoami">{me.operator.username}</span></Link>
          <span className="badge role" data-testid="role">{me.operator.role}</span>
          <button type="button" onClick={logout}>Log out</button>
        </div>
      </header>
      <StepUpHost me={me} />
      {page}
    </div>
  );
}
