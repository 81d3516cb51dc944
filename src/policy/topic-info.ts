/**
 * What the gateway knows about a topic name or subscription filter, in the shape of the schema's
 * `TopicInfo`: `devices/<id>/<kind>/...` names an owner device, `segments/<segment>/...` a segment.
 * A wildcard in the owner or segment level means no owner: a filter is authorized as a filter.
 */
import type { CedarValueJson } from './engine/index.js';

export interface TopicInfo {
  name: string;
  owner?: string;
  segment?: string;
  kind: string;
  wildcard: boolean;
}

const literal = (level: string | undefined): level is string => level !== undefined && level !== '' && level !== '+' && level !== '#';

export function topicInfo(name: string): TopicInfo {
  const levels = name.split('/');
  const wildcard = levels.some((l) => l === '+' || l === '#');
  const info: TopicInfo = { name, kind: '', wildcard };
  if (levels[0] === 'devices' && literal(levels[1])) {
    info.owner = levels[1];
    if (literal(levels[2])) info.kind = levels[2];
  } else if (levels[0] === 'segments' && literal(levels[1])) {
    info.segment = levels[1];
    if (literal(levels[2])) info.kind = levels[2];
  }
  return info;
}

export function topicInfoJson(t: TopicInfo): Record<string, CedarValueJson> {
  return {
    name: t.name,
    kind: t.kind,
    wildcard: t.wildcard,
    ...(t.owner === undefined ? {} : { owner: { __entity: { type: 'Device', id: t.owner } } }),
    ...(t.segment === undefined ? {} : { segment: t.segment }),
  };
}
