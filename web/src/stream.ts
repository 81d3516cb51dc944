/**
 * One EventSource per tab on /api/v1/stream (server-sent events, authenticated by the session
 * cookie). Pages subscribe to change-feed rows and alerts; a `resync` asks them to refetch.
 */
import { useEffect, useRef, useState } from 'react';

export interface ChangeEvent { seq: number; ts: string; kind: string; subject: string; data: Record<string, unknown> }
export interface AlertEvent { id: string; at: string; device: string; rule: string; severity: string; summary: string }

type Listener = { change?: (c: ChangeEvent) => void; alert?: (a: AlertEvent) => void; resync?: () => void };

const listeners = new Set<Listener>();
let source: EventSource | null = null;
let status: 'closed' | 'connecting' | 'live' = 'closed';
const statusListeners = new Set<(s: typeof status) => void>();

function setStatus(s: typeof status): void {
  status = s;
  for (const l of statusListeners) l(s);
}

function parse<T>(e: MessageEvent<string>): T | undefined {
  try {
    return JSON.parse(e.data) as T;
  } catch {
    return undefined;
  }
}

export function openStream(): void {
  if (source !== null) return;
  setStatus('connecting');
  source = new EventSource('/api/v1/stream');
  source.onopen = () => setStatus('live');
  source.onerror = () => setStatus(source?.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
  source.addEventListener('change', (e) => { const c = parse<ChangeEvent>(e); if (c) for (const l of listeners) l.change?.(c); });
  source.addEventListener('alert', (e) => { const a = parse<AlertEvent>(e); if (a) for (const l of listeners) l.alert?.(a); });
  source.addEventListener('resync', () => { for (const l of listeners) l.resync?.(); });
  // The server ends the stream with the session: stop reconnecting.
  source.addEventListener('end', () => closeStream());
}

export function closeStream(): void {
  source?.close();
  source = null;
  setStatus('closed');
}

export function useStreamStatus(): typeof status {
  const [s, set] = useState(status);
  useEffect(() => { statusListeners.add(set); return () => { statusListeners.delete(set); }; }, []);
  return s;
}

/**
 * Calls `refresh` when a change matching `filter` (or a resync) arrives, at most once per 500 ms,
 * so a burst of a thousand rows costs one refetch.
 */
export function useLiveRefresh(filter: (c: ChangeEvent) => boolean, refresh: () => void, alsoOnAlert = false): void {
  const f = useRef(filter);
  const r = useRef(refresh);
  f.current = filter;
  r.current = refresh;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const kick = (): void => { timer ??= setTimeout(() => { timer = undefined; r.current(); }, 500); };
    const l: Listener = { change: (c) => { if (f.current(c)) kick(); }, resync: kick, ...(alsoOnAlert ? { alert: kick } : {}) };
    listeners.add(l);
    return () => { listeners.delete(l); if (timer !== undefined) clearTimeout(timer); };
  }, [alsoOnAlert]);
}

export function useStreamEvents(l: Listener): void {
  const ref = useRef(l);
  ref.current = l;
  useEffect(() => {
    const proxy: Listener = { change: (c) => ref.current.change?.(c), alert: (a) => ref.current.alert?.(a), resync: () => ref.current.resync?.() };
    listeners.add(proxy);
    return () => { listeners.delete(proxy); };
  }, []);
}
