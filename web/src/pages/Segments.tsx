/**
 * Segment map: segments and services as nodes on a circle, allowed flows as arrows (everything not
 * drawn is denied), each segment with its device count and its quarantined devices marked in red.
 * Redrawn live when devices, segments or flows change.
 */
import { useMemo, useState, type ReactNode } from 'react';
import { qs, type Device } from '../api.js';
import { useApi } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';
import { ErrorNote, Link, Loading } from '../components.js';

interface Segment { name: string; kind: string; description: string | null; builtin: boolean }
interface Service { name: string; description: string | null; protocol: string; ports: [number, number][]; role: string | null }
interface Flow { id: string; from: string; to: { kind: 'segment' | 'service'; name: string }; protocol: string | null; ports: [number, number][]; mqttTopicPrefix: string | null; direction: 'one-way' | 'both'; description: string | null }

const W = 760;
const H = 520;

function portText(ports: [number, number][]): string {
  return ports.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',');
}

export function SegmentMap(): ReactNode {
  const seg = useApi<{ segments: Segment[]; services: Service[]; flows: Flow[] }>('/api/v1/segments');
  const overview = useApi<{ devices: { bySegment: Record<string, number> } }>('/api/v1/overview');
  const quarantined = useApi<{ devices: Device[]; total: number }>(`/api/v1/devices${qs({ state: 'quarantined', limit: 500 })}`);
  const [focus, setFocus] = useState<string | null>(null);
  useLiveRefresh((c) => c.kind.startsWith('device.') || c.kind.startsWith('segment') || c.kind.startsWith('flow'), () => { seg.reload(); overview.reload(); quarantined.reload(); });

  const layout = useMemo(() => {
    const s = seg.data;
    if (s === undefined) return undefined;
    const nodes = [...s.segments.map((x) => ({ id: `segment:${x.name}`, name: x.name, kind: 'segment' as const })), ...s.services.map((x) => ({ id: `service:${x.name}`, name: x.name, kind: 'service' as const }))];
    const cx = W / 2;
    const cy = H / 2;
    const r = Math.min(W, H) / 2 - 70;
    const pos = new Map<string, { x: number; y: number }>();
    nodes.forEach((n, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, nodes.length) - Math.PI / 2;
      pos.set(n.id, { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) });
    });
    return { nodes, pos };
  }, [seg.data]);

  const qBySegment = useMemo(() => {
    const m = new Map<string, Device[]>();
    for (const d of quarantined.data?.devices ?? []) {
      const k = d.segment ?? '(none)';
      m.set(k, [...(m.get(k) ?? []), d]);
    }
    return m;
  }, [quarantined.data]);

  if (seg.error !== undefined) return <main id="main" className="page"><h1>Segment map</h1><ErrorNote error={seg.error} /></main>;
  if (seg.data === undefined || layout === undefined) return <main id="main" className="page"><h1>Segment map</h1><Loading what="segments" /></main>;
  const counts = overview.data?.devices.bySegment ?? {};
  const flows = seg.data.flows;
  const edgeId = (f: Flow): string => `${f.from}->${f.to.kind}:${f.to.name}`;
  const shown = focus === null ? flows : flows.filter((f) => f.from === focus || f.to.name === focus);
  return (
    <main id="main" className="page">
      <h1>Segment map</h1>
      <p className="muted">Arrows are the allowed flows; everything else is denied. Red marks quarantined devices. {quarantined.data !== undefined ? <span data-testid="quarantined-total">{quarantined.data.total} quarantined</span> : null}</p>
      <div className="map-layout">
        <svg className="map" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="map-title map-desc" data-testid="segment-map">
          <title id="map-title">Segments and allowed flows</title>
          <desc id="map-desc">{`${layout.nodes.length} nodes and ${flows.length} flows; the table beside the map lists them.`}</desc>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" className="arrowhead" /></marker>
          </defs>
          {shown.map((f) => {
            const a = layout.pos.get(`segment:${f.from}`);
            const b = layout.pos.get(`${f.to.kind}:${f.to.name}`);
            if (a === undefined || b === undefined) return null;
            const dx = b.x - a.x;
            const dy = b.y - a.y;
            const len = Math.max(1, Math.hypot(dx, dy));
            const pad = 34;
            if (len < 2) return <circle key={f.id} cx={a.x} cy={a.y - 40} r="14" className={`edge ${f.mqttTopicPrefix !== null ? 'edge-mqtt' : ''}`} fill="none" />;
            return (
              <line key={f.id} data-edge={edgeId(f)} x1={a.x + (dx / len) * pad} y1={a.y + (dy / len) * pad} x2={b.x - (dx / len) * pad} y2={b.y - (dy / len) * pad}
                className={`edge ${f.mqttTopicPrefix !== null ? 'edge-mqtt' : ''}`} markerEnd="url(#arrow)" markerStart={f.direction === 'both' ? 'url(#arrow)' : undefined}>
                <title>{`${f.from} → ${f.to.name}${f.mqttTopicPrefix !== null ? ` (MQTT ${f.mqttTopicPrefix})` : ''}${f.ports.length > 0 ? ` ports ${portText(f.ports)}` : ''}`}</title>
              </line>
            );
          })}
          {layout.nodes.map((n) => {
            const p = layout.pos.get(n.id)!;
            const q = n.kind === 'segment' ? qBySegment.get(n.name)?.length ?? 0 : 0;
            const count = n.kind === 'segment' ? counts[n.name] ?? 0 : undefined;
            return (
              <g key={n.id} transform={`translate(${p.x},${p.y})`} className={`node node-${n.kind} ${q > 0 ? 'node-quarantine' : ''} ${focus === n.name ? 'node-focus' : ''}`} data-node={n.name} data-quarantined={q}>
                {n.kind === 'segment' ? <circle r="30" /> : <rect x="-30" y="-20" width="60" height="40" rx="6" />}
                <text y="-36" textAnchor="middle" className="node-label">{n.name}</text>
                {count !== undefined ? <text y="5" textAnchor="middle" className="node-count">{count}</text> : <text y="5" textAnchor="middle" className="node-count">svc</text>}
                {q > 0 ? (
                  <g transform="translate(24,-24)">
                    <circle r="12" className="q-badge" />
                    <text y="4" textAnchor="middle" className="q-text">{q}</text>
                    <title>{`${q} quarantined in ${n.name}`}</title>
                  </g>
                ) : null}
              </g>
            );
          })}
        </svg>
        <div className="map-side">
          <label htmlFor="map-focus">Show flows of</label>
          <select id="map-focus" value={focus ?? ''} onChange={(e) => setFocus(e.target.value === '' ? null : e.target.value)}>
            <option value="">all segments</option>
            {seg.data.segments.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
          </select>
          <h2>Allowed flows</h2>
          <table className="small">
            <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">What</th></tr></thead>
            <tbody>
              {shown.map((f) => <tr key={f.id}><td>{f.from}</td><td>{f.to.name}{f.to.kind === 'service' ? ' (service)' : ''}</td><td>{f.mqttTopicPrefix !== null ? `MQTT ${f.mqttTopicPrefix}` : f.protocol === null ? "the service's ports" : `${f.protocol} ${portText(f.ports)}`}{f.direction === 'both' ? ' ⇄' : ''}</td></tr>)}
              {shown.length === 0 ? <tr><td colSpan={3} className="muted">No flows: everything is denied.</td></tr> : null}
            </tbody>
          </table>
          <h2>Quarantined devices</h2>
          <ul className="plain" data-testid="quarantined-list">
            {(quarantined.data?.devices ?? []).slice(0, 50).map((d) => <li key={d.id}><span className="badge state-quarantined">Q</span> <Link to={`/devices/${encodeURIComponent(d.id)}`}>{d.name}</Link> <span className="muted">{d.segment ?? ''}</span></li>)}
            {(quarantined.data?.total ?? 0) === 0 ? <li className="muted">None.</li> : null}
          </ul>
        </div>
      </div>
    </main>
  );
}
