/**
 * JSON.parse that keeps every integer exact: integers beyond ±(2^53 − 1) become `bigint`, so a
 * Cedar Long such as 9223372036854775807 in entity or context data is not silently rounded (RFC
 * 8259 §6 leaves number precision to the implementation; Cedar's is i64).
 */
const INT = /^-?(0|[1-9][0-9]*)$/;

export function parseJsonLossless(text: string): unknown {
  if (!/[0-9]{16}/.test(text)) return JSON.parse(text) as unknown; // fast path: no long digit runs
  const bigs: string[] = [];
  let tag = 'zeta-bigint';
  while (text.includes(tag)) tag += '!'; // a marker no string in the input can contain
  // Re-tokenise: swap each unsafe integer literal outside strings for a unique string marker.
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/g, (tok) => {
    if (tok.startsWith('"') || !INT.test(tok) || Number.isSafeInteger(Number(tok))) return tok;
    bigs.push(tok);
    return `"${tag}${bigs.length - 1}"`;
  });
  return JSON.parse(marked, (_k, v: unknown) => {
    if (typeof v !== 'string' || !v.startsWith(tag)) return v;
    const big = bigs[Number(v.slice(tag.length))];
    return big === undefined ? v : BigInt(big);
  }) as unknown;
}
