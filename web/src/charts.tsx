/** Hand-drawn SVG charts. Each has a text alternative (a title and a table-like description). */
import type { ReactNode } from 'react';

export function BarList(props: { label: string; data: Record<string, number>; colorFor?: (k: string) => string }): ReactNode {
  const entries = Object.entries(props.data).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return (
    <ul className="barlist" aria-label={props.label}>
      {entries.map(([k, v]) => (
        <li key={k}>
          <span className="barlist-label">{k}</span>
          <svg className="barlist-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false">
            <rect x="0" y="0" width={Math.max(v > 0 ? 1 : 0, (v / max) * 100)} height="10" className={props.colorFor?.(k) ?? 'fill-accent'} />
          </svg>
          <span className="barlist-value">{v.toLocaleString('en')}</span>
        </li>
      ))}
    </ul>
  );
}

export function Histogram(props: { label: string; buckets: number[] }): ReactNode {
  const w = 360;
  const h = 140;
  const max = Math.max(1, ...props.buckets);
  const bw = w / props.buckets.length;
  const desc = props.buckets.map((n, i) => `${i * 10}-${i === 9 ? 100 : i * 10 + 9}: ${n}`).join(', ');
  return (
    <svg className="chart" viewBox={`0 0 ${w} ${h + 20}`} role="img" aria-label={`${props.label}. ${desc}`}>
      {props.buckets.map((n, i) => {
        const bh = (n / max) * h;
        return (
          <g key={i}>
            <rect x={i * bw + 2} y={h - bh} width={bw - 4} height={bh} className={i < 4 ? 'fill-bad' : i < 7 ? 'fill-warn' : 'fill-good'}>
              <title>{`score ${i * 10}-${i === 9 ? 100 : i * 10 + 9}: ${n} devices`}</title>
            </rect>
            <text x={i * bw + bw / 2} y={h + 14} textAnchor="middle" className="axis">{i * 10}</text>
          </g>
        );
      })}
    </svg>
  );
}

export function LineChart(props: { label: string; points: { at: string; score: number }[] }): ReactNode {
  const w = 560;
  const h = 160;
  const pad = 28;
  if (props.points.length === 0) return <p className="muted">No trust-score changes recorded yet.</p>;
  const t0 = new Date(props.points[0]!.at).getTime();
  const t1 = Math.max(t0 + 1, new Date(props.points[props.points.length - 1]!.at).getTime());
  // Changes within one second of each other would pile up on one x: spread them by order instead.
  const byIndex = t1 - t0 < 1000;
  const index = new Map(props.points.map((p, i) => [p, i]));
  const xOf = (p: { at: string }): number => byIndex
    ? pad + ((index.get(p as { at: string; score: number }) ?? 0) / Math.max(1, props.points.length - 1)) * (w - pad - 8)
    : pad + ((new Date(p.at).getTime() - t0) / (t1 - t0)) * (w - pad - 8);
  const y = (s: number): number => 8 + (1 - s / 100) * (h - 16);
  // A step line: the score holds until the next change.
  let d = '';
  props.points.forEach((p, i) => {
    const px = props.points.length === 1 ? w - 8 : xOf(p);
    d += i === 0 ? `M${pad},${y(p.score)} L${px},${y(p.score)}` : ` L${px},${y(props.points[i - 1]!.score)} L${px},${y(p.score)}`;
  });
  const last = props.points[props.points.length - 1]!;
  return (
    <svg className="chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${props.label}: ${props.points.length} changes, now ${last.score}`}>
      {[0, 50, 100].map((g) => (
        <g key={g}>
          <line x1={pad} x2={w - 8} y1={y(g)} y2={y(g)} className="grid" />
          <text x={pad - 4} y={y(g) + 4} textAnchor="end" className="axis">{g}</text>
        </g>
      ))}
      <path d={d} className="line" />
      {props.points.map((p, i) => <circle key={i} cx={props.points.length === 1 ? w - 8 : xOf(p)} cy={y(p.score)} r="3" className="dot"><title>{`${p.at}: ${p.score}`}</title></circle>)}
    </svg>
  );
}
