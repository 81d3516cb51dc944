/** Public surface of the MQTT enforcement point (see README.md). */
export { MqttGateway, type GatewayOptions, type GatewayTlsOptions, type SharedIdentityRegistry } from './gateway.js';
export { runGatewayCluster, mergeMetricsText, type GatewayCluster, type GatewayClusterOptions, type WorkerFactoryRef } from './cluster.js';
export { defaultDevicePolicy } from './default-policy.js';
export { DEFAULT_LIMITS, resolveLimits, type GatewayLimits } from './limits.js';
export { createGatewayServerCert, type GatewayServerCertOptions } from './server-cert.js';
export { MemoryDeviceStatusSource, createMemoryStatusSource } from './memory-status-source.js';
export type { UpstreamOptions } from './upstream.js';
export type { ClientIdMode, DeniedPublishMode, DuplicateIdentityMode } from './session.js';
export type {
  Authorizer,
  Decision,
  DevicePrincipal,
  DeviceStatus,
  DeviceStatusChange,
  DeviceStatusSource,
  GatewayAction,
  GatewayEvent,
  GatewayEventType,
  GatewayRequestContext,
  GatewayResource,
  SessionInfo,
} from './types.js';
