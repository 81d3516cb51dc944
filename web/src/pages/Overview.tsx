/** Overview: the fleet at a glance; refreshed by the live stream. */
import type { ReactNode } from 'react';
import { useApi, fmtTime } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';
import { BarList, Histogram } from '../charts.js';
import { ErrorNote, Link, Loading, SeverityBadge } from '../components.js';

interface OverviewData {
  at: string;
  devices: { total: number; byState: Record<string, number>; bySegment: Record<string, number> };
  trust: { buckets: number[]; unscored: number };
  alerts: { open: number; bySeverity: Record<string, number>; latest: { id: string; at: string; device: string; rule: string; severity: string; summary: string }[] };
  certificates: { expiringWithin30Days: number; soonest: { id: string; name: string; notAfter: string | null }[] };
  enforcement: { gatewayRunning: boolean; gatewaySessions: number; recentRefusals: number; policyVersion: number | null; changeFeed: { appliedSeq: number | null; latestSeq: number; lag: number | null } };
}

export function Overview(): ReactNode {
  const { data, error, reload } = useApi<OverviewData>('/api/v1/overview');
  useLiveRefresh(() => true, reload, true);
  return (
    <main id="main" className="page">
      <h1>Overview</h1>
      <ErrorNote error={error} />
      {data === undefined ? <Loading what="the overview" /> : (
        <div className="grid">
          <section className="panel" aria-labelledby="ov-devices">
            <h2 id="ov-devices">Devices <span className="big" data-testid="device-total">{data.devices.total.toLocaleString('en')}</span></h2>
            <BarList label="Devices by state" data={data.devices.byState} colorFor={(k) => `fill-state-${k}`} />
          </section>
          <section className="panel" aria-labelledby="ov-segments">
            <h2 id="ov-segments">By segment</h2>
            <BarList label="Devices by segment" data={Object.fromEntries(Object.entries(data.devices.bySegment).slice(0, 12))} />
          </section>
          <section className="panel" aria-labelledby="ov-trust">
            <h2 id="ov-trust">Trust score distribution</h2>
            <Histogram label="Devices per trust-score band" buckets={data.trust.buckets} />
            <p className="muted">{data.trust.unscored.toLocaleString('en')} devices not scored yet.</p>
          </section>
          <section className="panel" aria-labelledby="ov-alerts">
            <h2 id="ov-alerts">Alerts, last 24 h <span className="big">{data.alerts.open}</span></h2>
            <p>
              <SeverityBadge severity="high" /> {data.alerts.bySeverity.high ?? 0} <SeverityBadge severity="medium" /> {data.alerts.bySeverity.medium ?? 0} <SeverityBadge severity="low" /> {data.alerts.bySeverity.low ?? 0}
            </p>
            <ul className="plain">
              {data.alerts.latest.map((a) => <li key={a.id}><SeverityBadge severity={a.severity} /> <Link to={`/devices/${encodeURIComponent(a.device)}`}>{a.device}</Link> {a.summary}</li>)}
              {data.alerts.latest.length === 0 ? <li className="muted">No alerts.</li> : null}
            </ul>
            <Link to="/alerts">All alerts</Link>
          </section>
          <section className="panel" aria-labelledby="ov-certs">
            <h2 id="ov-certs">Certificates expiring within 30 days <span className="big">{data.certificates.expiringWithin30Days}</span></h2>
            <ul className="plain">
              {data.certificates.soonest.map((c) => <li key={c.id}><Link to={`/devices/${encodeURIComponent(c.id)}`}>{c.name}</Link> <span className="muted">{fmtTime(c.notAfter)}</span></li>)}
              {data.certificates.soonest.length === 0 ? <li className="muted">None.</li> : null}
            </ul>
          </section>
          <section className="panel" aria-labelledby="ov-enf">
            <h2 id="ov-enf">Enforcement health</h2>
            <dl className="facts">
              <dt>MQTT gateway</dt><dd>{data.enforcement.gatewayRunning ? 'running' : 'not running in this process'}</dd>
              <dt>Gateway sessions</dt><dd>{data.enforcement.gatewaySessions}</dd>
              <dt>Recent refusals</dt><dd>{data.enforcement.recentRefusals}</dd>
              <dt>Policy version</dt><dd>{data.enforcement.policyVersion ?? 'none (default deny)'}</dd>
              <dt>Change-feed lag</dt><dd>{data.enforcement.changeFeed.lag === null ? '—' : `${data.enforcement.changeFeed.lag} rows`} <span className="muted">(applied #{data.enforcement.changeFeed.appliedSeq ?? '—'})</span></dd>
            </dl>
            <p className="muted">As of {fmtTime(data.at)}</p>
          </section>
        </div>
      )}
    </main>
  );
}
