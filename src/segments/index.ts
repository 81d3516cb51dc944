/**
 * segments: segments, services and flows (the one source of truth), and their compilers to the
 * MQTT gateway (compile-mqtt.ts) and to nftables (compile-nft.ts). Other components use only what
 * is exported here.
 */
export { Segments, SEGMENTS_CHANGED, type MudImportResult } from './segments.js';
export {
  QUARANTINE_SEGMENT, SEGMENT_KINDS, PROTOCOLS, DIRECTIONS, SERVICE_ROLES, NAME_PATTERN,
  segmentInputSchema, serviceInputSchema, flowInputSchema,
  type Segment, type SegmentKind, type Service, type ServiceRole, type Flow, type FlowTarget, type Protocol, type Direction,
  type PortRange, type DeviceEndpoint, type SegmentsSnapshot, type SegmentInput, type ServiceInput, type FlowInput,
} from './model.js';
export { parsePrefix, type Prefix, type IpFamily } from './addresses.js';
export { parseMud, mudMappingSchema, serviceNameForDns, MUD_LIMITS, type MudMapping, type MudPeer, type MudIntent, type MudEntryNote } from './mud.js';
export {
  compileMqttAccess, mqttAllows, topicMatchesFilter, filterWithin, remediationTopic,
  type MqttDevice, type MqttAccess,
} from './compile-mqtt.js';
export {
  compileNftRuleset, renderLockdownRuleset, renderRemoveRuleset, NFT_TABLE, NFT_FAMILY,
  type CompiledNftRuleset, type NftRuleInfo, type NftCompileOptions,
} from './compile-nft.js';
