/**
 * Topic names and filters from devices are untrusted input: bounded and checked here, before any
 * decision or forwarding (size → structure), so the policy only ever sees well-formed names.
 */

export interface TopicBounds {
  maxTopicBytes: number;
  maxTopicLevels: number;
}

function commonChecks(s: string, what: string, b: TopicBounds): string | null {
  // [MQTT-4.7.3-1] at least one character.
  if (s.length === 0) return `empty ${what}`;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short names need no byte count.
  if (s.length * 3 > b.maxTopicBytes && Buffer.byteLength(s, 'utf8') > b.maxTopicBytes) return `${what} longer than ${b.maxTopicBytes} bytes`;
  // [MQTT-4.7.3-2] no U+0000. U+FFFD is what the decoder leaves for ill-formed UTF-8, which
  // [MQTT-1.5.3-1] says must close the connection; a genuine U+FFFD is refused with it.
  let levels = 1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f) levels++;
    else if (c === 0 || c === 0xfffd) return `${what} is not well-formed UTF-8`;
  }
  if (levels > b.maxTopicLevels) return `${what} has more than ${b.maxTopicLevels} levels`;
  return null;
}

/** A PUBLISH / Will topic name; `null` when acceptable, else why not. */
export function checkTopicName(topic: string, b: TopicBounds): string | null {
  const c = commonChecks(topic, 'topic', b);
  if (c !== null) return c;
  // [MQTT-3.3.2-2] no wildcards in a topic name.
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in topic name';
  return null;
}

/** A subscription filter (after `$share/<group>/` is removed). */
export function checkTopicFilter(filter: string, b: TopicBounds): string | null {
  const c = commonChecks(filter, 'filter', b);
  if (c !== null) return c;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    // [MQTT-4.7.1-2] '#' alone in the last level; [MQTT-4.7.1-3] '+' alone in its level.
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "misplaced '#' in filter";
    if (l.includes('+') && l !== '+') return "misplaced '+' in filter";
  }
  return null;
}

export interface ParsedFilter {
  /** The filter the broker matches against (without `$share/<group>/`). */
  filter: string;
  shareGroup: string | null;
}

/**
 * `$share/<group>/<filter>` (MQTT 5 §4.8.2; Mosquitto also accepts it from 3.1.1 clients). The
 * inner filter is what gets authorized: sharing a subscription must not widen it.
 */
export function parseSubscriptionFilter(raw: string, b: TopicBounds): ParsedFilter | { error: string } {
  if (raw.startsWith('$share/')) {
    const rest = raw.slice('$share/'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return { error: 'shared subscription without a group or filter' };
    const group = rest.slice(0, slash);
    // [MQTT-4.8.2-2] the ShareName has no '/', '+' or '#'.
    if (group.includes('+') || group.includes('#')) return { error: 'wildcard in share name' };
    const inner = rest.slice(slash + 1);
    const c = checkTopicFilter(inner, b);
    if (c !== null) return { error: c };
    if (Buffer.byteLength(raw, 'utf8') > b.maxTopicBytes) return { error: `filter longer than ${b.maxTopicBytes} bytes` };
    return { filter: inner, shareGroup: group };
  }
  const c = checkTopicFilter(raw, b);
  return c === null ? { filter: raw, shareGroup: null } : { error: c };
}

/** First topic level, used as the bounded `topic_class` metrics label. */
export function topicClass(topic: string): string {
  const i = topic.indexOf('/');
  return i < 0 ? topic : topic.slice(0, i);
}
