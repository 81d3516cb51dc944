/**
 * The built-in least-privilege policy: a device publishes and subscribes under `devices/<its id>/`
 * and may also subscribe to (and receive from) `segments/<its segment>/`. Nothing else; `$`-topics
 * never. A pure, total function: every answer carries its reason.
 */
import type { Authorizer, Decision, DevicePrincipal, GatewayResource } from './types.js';

const NONE: readonly string[] = Object.freeze([]);

function allow(reason: string): Decision {
  return Object.freeze({ decision: 'allow', reasons: Object.freeze([reason]), errors: NONE });
}

function deny(reason: string): Decision {
  return Object.freeze({ decision: 'deny', reasons: Object.freeze([reason]), errors: NONE });
}

const CONNECT_ALLOWED = allow('device of this trust domain may connect');
const RESERVED = deny('topics starting with $ are reserved');
const RECEIVE_OUTSIDE = deny(`receive outside this device's namespaces`);
const RECEIVE_OWN = allow('receive within own namespace');
const RECEIVE_SEGMENT = allow('receive within segment namespace');
const SUBSCRIBE_NEEDS_FILTER = deny('subscribe needs a filter');

/**
 * Per-principal strings and answers, made once per session principal instead of once per message
 * (the hot path: every PUBLISH in both directions). Keyed by the principal object, re-made if its
 * id or segment is not what the entry was made for.
 */
interface Prepared {
  id: string;
  segment: string | null;
  own: string;
  seg: string | null;
  publishOwn: Decision;
  publishOutside: Decision;
  subscribeOwn: Decision;
  subscribeSegment: Decision;
}

function prepare(p: DevicePrincipal): Prepared {
  const segOk = p.segment !== null && p.segment !== '' && !p.segment.includes('/') && !p.segment.includes('+') && !p.segment.includes('#');
  return {
    id: p.id,
    segment: p.segment,
    own: `devices/${p.id}`,
    seg: segOk ? `segments/${p.segment}` : null,
    publishOwn: allow(`publish under devices/${p.id}/`),
    publishOutside: deny(`publish outside devices/${p.id}/`),
    subscribeOwn: allow(`subscribe within devices/${p.id}/`),
    subscribeSegment: allow(`subscribe within segments/${p.segment ?? ''}/`),
  };
}

/**
 * True when every topic the name (or filter) can match lies under `prefix` (`<root>/<key>`): its
 * first two levels are those literals. A `+` or `#` in either would cover other devices' topics.
 */
function under(name: string, prefix: string): boolean {
  return name === prefix || (name.startsWith(prefix) && name.charCodeAt(prefix.length) === 0x2f);
}

function namespaces(c: Prepared, name: string): 'own' | 'segment' | null {
  if (under(name, c.own)) return 'own';
  if (c.seg !== null && under(name, c.seg)) return 'segment';
  return null;
}

export function defaultDevicePolicy(trustDomain: string): Authorizer {
  const cache = new WeakMap<DevicePrincipal, Prepared>();
  const notOurs = deny(`principal is not a device of trust domain ${trustDomain}`);
  return (principal, action, resource: GatewayResource) => {
    if (principal.type !== 'device' || principal.trustDomain !== trustDomain) return notOurs;
    if (action === 'connect') return CONNECT_ALLOWED;
    if (resource.type === 'broker') return deny(`${action} needs a topic`);
    const name = resource.name;
    // INVARIANT: `$`-topics (e.g. $SYS) are broker-internal; no device reaches them.
    if (name.charCodeAt(0) === 0x24) return RESERVED;
    let c = cache.get(principal);
    if (c === undefined || c.id !== principal.id || c.segment !== principal.segment) {
      c = prepare(principal);
      cache.set(principal, c);
    }
    const ns = namespaces(c, name);
    switch (action) {
      case 'publish':
        return ns === 'own' ? c.publishOwn : c.publishOutside;
      case 'subscribe':
        if (resource.type !== 'filter') return SUBSCRIBE_NEEDS_FILTER;
        return ns === null ? deny(`filter ${name} may match topics outside this device's namespaces`) : ns === 'own' ? c.subscribeOwn : c.subscribeSegment;
      case 'receive':
        return ns === null ? RECEIVE_OUTSIDE : ns === 'own' ? RECEIVE_OWN : RECEIVE_SEGMENT;
      default:
        return deny(`unknown action ${String(action)}`);
    }
  };
}
