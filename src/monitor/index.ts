/**
 * monitor: signal ingest (Zeek conn.log flows, device telemetry, gateway events), streaming
 * detectors with per-device and per-cohort baselines, cohort-aware damping, the trust score.
 * See README.md.
 */
export { Detector, DEFAULT_THRESHOLDS, defaultCohortOf, topicPattern, type DetectorOptions, type DetectorStats, type DetectorThresholds, type InventoryDevice, type Verdict } from './detector.js';
export { HalfSpaceTrees, mulberry32, type HstOptions } from './hst.js';
export { Monitor, type MonitorEvents, type MonitorOptions, type MonitorStats } from './monitor.js';
export { GatewayEventParser, TelemetryParser, ZeekConnParser, createParser, parseGatewayEvent, MAX_LINE_CHARS, type LineParser, type ParseResult } from './parse.js';
export { RULES, RULE_IDS, type Alert, type CohortNotice, type DampClass, type FeatureContribution, type RuleId, type RuleSpec } from './rules.js';
export { SIGNAL_FORMATS, loadInventory, readLines, runDetect, type RunDetectOptions, type RunDetectResult } from './run-detect.js';
export { gatewaySignal, type FlowRecord, type GatewayEventLike, type GatewayRecord, type Signal, type SignalFormat, type TelemetryRecord } from './signals.js';
export { ATTACK_KINDS, BENIGN_KINDS, DEVICE_TYPES, SIM_SEGMENTS, simulateFleet, zeekTsvHeader, zeekTsvLine, type AttackKind, type BenignKind, type Episode, type Fleet, type SimDevice, type SimEvent, type SimOptions } from './sim.js';
export { TRUST_WEIGHTS, trustScore, type Attestation, type TrustFactor, type TrustInput, type TrustResult } from './trust-score.js';
