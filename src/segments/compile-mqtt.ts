/**
 * Compiler to the MQTT gateway: which topic filters a device may publish to and subscribe to, from
 * the flows that carry an MQTT topic prefix. A pure, total function of (device, flows): the
 * gateway's authorizer calls it per session (and again on a change), and matches each PUBLISH /
 * SUBSCRIBE / delivery against the result with `mqttAllows`.
 *
 * INVARIANT: fail closed. A device that is not `active` gets nothing, a quarantined one (state
 * `quarantined`, or placed in the quarantine segment) gets only its remediation topic, and an id
 * or segment that could smuggle a wildcard or level separator into a filter gets nothing.
 */
import { ID_PATTERN } from '../common/ids.js';
import { NAME_PATTERN, QUARANTINE_SEGMENT, type Flow } from './model.js';

export interface MqttDevice {
  id: string;
  segment: string | null;
  type: string;
  state: string;
}

export interface MqttAccess {
  /** Topic filters the device may publish to (matched against the topic name). */
  publish: readonly string[];
  /** Topic filters the device may subscribe to; a requested filter must lie inside one of them. */
  subscribe: readonly string[];
  /** Flow ids that contributed, for the decision's reasons. */
  flows: readonly string[];
  /** Why this shape: `active`, `quarantined`, or the reason for nothing. */
  basis: string;
}

/** The one topic subtree a quarantined device keeps: inside its own namespace, so both PEPs agree. */
export function remediationTopic(deviceId: string): string {
  return `devices/${deviceId}/remediation/#`;
}

const NOTHING = (basis: string): MqttAccess => Object.freeze({ publish: Object.freeze([]), subscribe: Object.freeze([]), flows: Object.freeze([]), basis });

/**
 * `{device}` and `{segment}` name the *sending* side: the publisher's own id and segment when it
 * publishes, and any device (`+`) of the other side's segment when it subscribes.
 */
function expand(prefix: string, device: string, segment: string): string {
  return `${prefix.split('/').map((l) => (l === '{device}' ? device : l === '{segment}' ? segment : l)).join('/')}/#`;
}

export function compileMqttAccess(device: MqttDevice, flows: readonly Flow[]): MqttAccess {
  if (!ID_PATTERN.test(device.id)) return NOTHING('device id is not a safe topic level');
  if (device.state === 'quarantined' || device.segment === QUARANTINE_SEGMENT) {
    const t = remediationTopic(device.id);
    return Object.freeze({ publish: Object.freeze([t]), subscribe: Object.freeze([t]), flows: Object.freeze([]), basis: 'quarantined' });
  }
  if (device.state !== 'active') return NOTHING(`device state ${device.state} allows no topics`);
  const publish = new Set<string>([`devices/${device.id}/#`]);
  const subscribe = new Set<string>([`devices/${device.id}/#`]);
  const used = new Set<string>();
  const seg = device.segment;
  if (seg === null || !NAME_PATTERN.test(seg)) {
    return Object.freeze({ publish: Object.freeze([...publish]), subscribe: Object.freeze([...subscribe]), flows: Object.freeze([]), basis: 'active, no segment' });
  }
  subscribe.add(`segments/${seg}/#`);
  for (const f of flows) {
    const prefix = f.mqttTopicPrefix;
    if (prefix === null) continue;
    const isFrom = f.from === seg && (f.fromDeviceType === null || f.fromDeviceType === device.type);
    const isTo = f.to.kind === 'segment' && f.to.name === seg && (f.toDeviceType === null || f.toDeviceType === device.type);
    const otherOfFrom = f.to.kind === 'segment' ? f.to.name : '+';
    if (isFrom) {
      publish.add(expand(prefix, device.id, seg));
      if (f.direction === 'both') subscribe.add(expand(prefix, '+', otherOfFrom));
      used.add(f.id);
    }
    if (isTo) {
      subscribe.add(expand(prefix, '+', f.from));
      if (f.direction === 'both') publish.add(expand(prefix, device.id, seg));
      used.add(f.id);
    }
  }
  return Object.freeze({
    publish: Object.freeze([...publish].sort()),
    subscribe: Object.freeze([...subscribe].sort()),
    flows: Object.freeze([...used].sort()),
    basis: 'active',
  });
}

/** MQTT 3.1.1 §4.7 matching of a topic name against a filter. `$` topics never match a wildcard first level. */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match `$` topics.
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const fl = f[i]!;
    if (fl === '#') return true;
    const tl = t[i];
    if (tl === undefined) return false;
    if (fl !== '+' && fl !== tl) return false;
  }
  return f.length === t.length;
}

/** Whether every topic `requested` can match is also matched by `allowed` (subscription narrowing). */
export function filterWithin(requested: string, allowed: string): boolean {
  const r = requested.split('/');
  const a = allowed.split('/');
  for (let i = 0; i < a.length; i++) {
    const al = a[i]!;
    if (al === '#') return true;
    const rl = r[i];
    if (rl === undefined) return false;
    if (rl === '#') return false;
    if (al === '+') continue;
    if (rl === '+' || rl !== al) return false;
  }
  return r.length === a.length;
}

/**
 * The gateway hook: whether `access` allows the action on the topic (publish, receive) or filter
 * (subscribe). Total; anything unexpected is a deny.
 */
export function mqttAllows(access: MqttAccess, action: 'publish' | 'subscribe' | 'receive', name: string): boolean {
  if (name.length === 0) return false;
  switch (action) {
    case 'publish':
      if (name.includes('+') || name.includes('#')) return false;
      return access.publish.some((f) => topicMatchesFilter(f, name));
    case 'receive':
      return access.subscribe.some((f) => topicMatchesFilter(f, name));
    case 'subscribe':
      return access.subscribe.some((f) => filterWithin(name, f));
    default:
      return false;
  }
}
