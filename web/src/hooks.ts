import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api.js';

export interface Loaded<T> { data: T | undefined; error: ApiError | Error | undefined; loading: boolean; reload: () => void }

/** GET a path; reload() refetches. The previous data stays on screen while a reload runs. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError | Error>();
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  const current = useRef(path);
  current.current = path;
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    setLoading(true);
    api<T>(path, { signal: ctl.signal }).then((d) => {
      if (current.current !== path) return;
      setData(d);
      setError(undefined);
    }, (e: unknown) => {
      if (ctl.signal.aborted) return;
      setError(e instanceof Error ? e : new Error(String(e)));
    }).finally(() => { if (!ctl.signal.aborted) setLoading(false); });
    return () => ctl.abort();
  }, [path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export function fmtTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return `${e.detail} (${e.code})`;
  return e instanceof Error ? e.message : String(e);
}
