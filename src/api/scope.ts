/** Scope filtering for list routes (one place, used by every route file). */
import type { RouteContext } from './routes.js';
import { isUnscoped } from '../iam/index.js';

/**
 * A scoped operator sees only items about devices in their scope; an item naming no device, or a
 * device that no longer exists, is left out (fail closed). Unscoped callers see everything.
 */
export async function inScopeOnly<T>(ctx: RouteContext, items: readonly T[], deviceOf: (t: T) => string | null | undefined): Promise<T[]> {
  if (isUnscoped(ctx.principal.scope)) return [...items];
  const verdict = new Map<string, boolean>();
  const out: T[] = [];
  for (const item of items) {
    const id = deviceOf(item);
    if (id == null) continue;
    if (!verdict.has(id)) {
      const d = await ctx.cp.inventory.get(id).catch(() => undefined);
      verdict.set(id, d !== undefined && ctx.inScope({ id: d.id, site: d.site, segment: d.segment }));
    }
    if (verdict.get(id) === true) out.push(item);
  }
  return out;
}

