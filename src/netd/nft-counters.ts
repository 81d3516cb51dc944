/**
 * Per-rule counters from `nft -j list table inet zeta` (libnftables JSON, nft 0.9+). Only rules of
 * Zeta's own table are read; anything that does not have the expected shape is ignored rather than
 * guessed at.
 */
import { NFT_FAMILY, NFT_TABLE } from '../segments/index.js';

export interface NftRuleCounter {
  chain: string;
  handle: number;
  comment: string;
  /** From a `flow:<id> ...` comment; null for the fixed `zeta:*` rules. */
  flowId: string | null;
  packets: number;
  bytes: number;
}

export interface NftCounters {
  rules: NftRuleCounter[];
  /** Sum over each flow's rules (both families, both directions). */
  flows: Record<string, { packets: number; bytes: number }>;
  /** Sum over the fixed rules by comment (`zeta:default-drop`, `zeta:quarantine-drop`, ...). */
  fixed: Record<string, { packets: number; bytes: number }>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseNftCounters(json: string): NftCounters {
  const doc: unknown = JSON.parse(json);
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : [];
  const rules: NftRuleCounter[] = [];
  for (const item of items) {
    if (!isObj(item) || !isObj(item.rule)) continue;
    const r = item.rule;
    if (r.family !== NFT_FAMILY || r.table !== NFT_TABLE || typeof r.chain !== 'string' || typeof r.handle !== 'number') continue;
    const comment = typeof r.comment === 'string' ? r.comment : '';
    let packets = 0;
    let bytes = 0;
    for (const e of Array.isArray(r.expr) ? r.expr : []) {
      if (isObj(e) && isObj(e.counter)) {
        packets += typeof e.counter.packets === 'number' ? e.counter.packets : 0;
        bytes += typeof e.counter.bytes === 'number' ? e.counter.bytes : 0;
      }
    }
    const m = /^flow:(\S+)/.exec(comment);
    rules.push({ chain: r.chain, handle: r.handle, comment, flowId: m?.[1] ?? null, packets, bytes });
  }
  // Keys come from kernel state; null-prototype maps keep a stray `__proto__` comment harmless.
  const flows = Object.create(null) as NftCounters['flows'];
  const fixed = Object.create(null) as NftCounters['fixed'];
  for (const r of rules) {
    const key = r.flowId ?? r.comment;
    const bucket = r.flowId !== null ? flows : fixed;
    const c = bucket[key] ?? { packets: 0, bytes: 0 };
    c.packets += r.packets;
    c.bytes += r.bytes;
    bucket[key] = c;
  }
  return { rules, flows, fixed };
}
