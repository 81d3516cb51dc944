/**
 * Inventory: filters, sort and search run on the server (GET /api/v1/devices with limit/offset);
 * the table is virtualized — only the rows in view exist in the DOM, and only the pages in view are
 * fetched — so 100,000 devices cost what 30 rows cost.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, qs, type Device } from '../api.js';
import { ErrorNote, Link, StateBadge } from '../components.js';
import { fmtTime } from '../hooks.js';
import { useLiveRefresh } from '../stream.js';

const STATES = ['registered', 'active', 'suspended', 'quarantined', 'revoked', 'decommissioned'];
const ROW = 34;
const PAGE = 100;
const OVERSCAN = 10;

type SortKey = 'id' | 'name' | 'type' | 'state' | 'segment' | 'site' | 'lastSeen';
const COLUMNS: { key: SortKey | null; label: string; width: string }[] = [
  { key: 'name', label: 'Name', width: '2.2fr' },
  { key: 'id', label: 'ID', width: '1.6fr' },
  { key: 'type', label: 'Type', width: '1fr' },
  { key: 'state', label: 'State', width: '1.1fr' },
  { key: 'segment', label: 'Segment', width: '1.1fr' },
  { key: 'site', label: 'Site', width: '1fr' },
  { key: null, label: 'Trust', width: '0.6fr' },
  { key: 'lastSeen', label: 'Last seen', width: '1.5fr' },
];
const TEMPLATE = COLUMNS.map((c) => c.width).join(' ');

interface Filters { q: string; state: string; type: string; segment: string; site: string; sort: SortKey; order: 'asc' | 'desc' }

function readFilters(): Filters {
  const p = new URLSearchParams(location.search);
  const sort = p.get('sort') as SortKey | null;
  return {
    q: p.get('q') ?? '', state: p.get('state') ?? '', type: p.get('type') ?? '', segment: p.get('segment') ?? '', site: p.get('site') ?? '',
    sort: sort !== null && COLUMNS.some((c) => c.key === sort) ? sort : 'id', order: p.get('order') === 'desc' ? 'desc' : 'asc',
  };
}

export function Inventory(): ReactNode {
  const [filters, setFilters] = useState<Filters>(readFilters);
  // What is typed into the text filters; applied after a pause (one request per pause, not per key).
  const [typed, setTyped] = useState({ q: filters.q, type: filters.type, segment: filters.segment, site: filters.site });
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, Device[]>>(new Map());
  const [error, setError] = useState<unknown>();
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(500);
  const inflight = useRef(new Set<number>());
  const generation = useRef(0);
  const scroller = useRef<HTMLDivElement>(null);

  const query = useMemo(() => ({ q: filters.q, state: filters.state, type: filters.type, segment: filters.segment, site: filters.site, sort: filters.sort, order: filters.order }), [filters]);

  useEffect(() => {
    const t = setTimeout(() => setFilters((f) => (f.q === typed.q && f.type === typed.type && f.segment === typed.segment && f.site === typed.site ? f : { ...f, ...typed })), 250);
    return () => clearTimeout(t);
  }, [typed]);

  // Keep the filters in the URL so a view can be bookmarked and the back button works.
  useEffect(() => {
    const s = qs({ ...query, sort: query.sort === 'id' ? undefined : query.sort, order: query.order === 'asc' ? undefined : query.order });
    history.replaceState(null, '', `/inventory${s}`);
  }, [query]);

  const fetchPage = useCallback((page: number, gen: number) => {
    if (inflight.current.has(page)) return;
    inflight.current.add(page);
    api<{ devices: Device[]; total: number }>(`/api/v1/devices${qs({ ...query, limit: PAGE, offset: page * PAGE })}`).then((r) => {
      if (gen !== generation.current) return;
      setTotal(r.total);
      setPages((m) => new Map(m).set(page, r.devices));
      setError(undefined);
    }, (e: unknown) => { if (gen === generation.current) setError(e); }).finally(() => { inflight.current.delete(page); });
  }, [query]);

  const reset = useCallback(() => {
    generation.current++;
    inflight.current.clear();
    setPages(new Map());
    fetchPage(0, generation.current);
  }, [fetchPage]);

  useEffect(() => {
    setTotal(null);
    scroller.current?.scrollTo({ top: 0 });
    setScrollTop(0);
    reset();
  }, [reset]);

  useLiveRefresh((c) => c.kind.startsWith('device.'), reset);

  useEffect(() => {
    const el = scroller.current;
    if (el === null) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min((total ?? 0) - 1, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  useEffect(() => {
    if (total === null) return;
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last) / PAGE); p++) if (!pages.has(p)) fetchPage(p, generation.current);
  }, [first, last, total, pages, fetchPage]);

  const rows: ReactNode[] = [];
  for (let i = first; i <= last; i++) {
    const d = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    rows.push(
      <div role="row" aria-rowindex={i + 2} key={d?.id ?? `loading-${i}`} className="vrow" style={{ transform: `translateY(${i * ROW}px)`, gridTemplateColumns: TEMPLATE }}>
        {d === undefined ? <div role="cell" className="muted">…</div> : (
          <>
            <div role="cell"><Link to={`/devices/${encodeURIComponent(d.id)}`}>{d.name}</Link></div>
            <div role="cell" className="mono">{d.id}</div>
            <div role="cell">{d.type}</div>
            <div role="cell"><StateBadge state={d.state} /></div>
            <div role="cell">{d.segment ?? '—'}</div>
            <div role="cell">{d.site ?? '—'}</div>
            <div role="cell">{d.trustScore ?? '—'}</div>
            <div role="cell">{fmtTime(d.lastSeen)}</div>
          </>
        )}
      </div>,
    );
  }

  const set = (k: keyof Filters) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>): void => setFilters((f) => ({ ...f, [k]: e.target.value }));
  const type = (k: keyof typeof typed) => (e: React.ChangeEvent<HTMLInputElement>): void => setTyped((t) => ({ ...t, [k]: e.target.value }));
  const sortBy = (k: SortKey): void => setFilters((f) => ({ ...f, sort: k, order: f.sort === k && f.order === 'asc' ? 'desc' : 'asc' }));

  return (
    <main id="main" className="page inventory">
      <h1>Inventory</h1>
      <form className="filters" role="search" aria-label="Filter devices" onSubmit={(e) => { e.preventDefault(); setFilters((f) => ({ ...f, ...typed })); }}>
        <label>Search <input type="search" name="q" value={typed.q} onChange={type('q')} placeholder="name or id" maxLength={128} /></label>
        <label>State
          <select value={filters.state} onChange={set('state')}>
            <option value="">any</option>
            {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Type <input value={typed.type} onChange={type('type')} maxLength={32} size={10} /></label>
        <label>Segment <input value={typed.segment} onChange={type('segment')} maxLength={63} size={10} /></label>
        <label>Site <input value={typed.site} onChange={type('site')} maxLength={128} size={10} /></label>
        <p className="count" role="status" aria-live="polite" data-testid="result-count">{total === null ? 'Searching…' : `${total.toLocaleString('en')} devices`}</p>
      </form>
      <ErrorNote error={error} />
      <div role="table" aria-label="Devices" aria-rowcount={(total ?? 0) + 1} className="vtable">
        <div role="rowgroup">
          <div role="row" aria-rowindex={1} className="vhead" style={{ gridTemplateColumns: TEMPLATE }}>
            {COLUMNS.map((c) => (
              <div role="columnheader" key={c.label} aria-sort={c.key !== null && filters.sort === c.key ? (filters.order === 'asc' ? 'ascending' : 'descending') : undefined}>
                {c.key === null ? c.label : (
                  <button type="button" className="sort" onClick={() => sortBy(c.key!)}>
                    {c.label}{filters.sort === c.key ? (filters.order === 'asc' ? ' ▲' : ' ▼') : ''}
                  </button>
                )}
              </div>
            ))}
          </div>
        </div>
        <div role="rowgroup" ref={scroller} className="vbody" tabIndex={0} aria-label="Device rows, scroll for more" onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
          <div style={{ height: `${(total ?? 0) * ROW}px` }} className="vspacer">{rows}</div>
        </div>
      </div>
    </main>
  );
}
