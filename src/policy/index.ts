/** Policy administration and decision: schema, templates, versioned sets, the PDP, what-if, analyzer. */
export { parsePolicySet, diffPolicySets, defaultPolicyText, templates, SCHEMA_TEXT, type ParsedPolicySet, type PolicyDiff } from './policy-set.js';
export { PolicyStore, type PolicyVersion } from './policy-store.js';
export { PolicyDecisionPoint, deviceEntity, toCedarRequest, type MqttRequest, type MqttAction, type PdpDecision, type DecisionLogEntry } from './pdp.js';
export { whatIf, probesFor, type WhatIfReport, type AccessChange } from './what-if.js';
export { analyzePolicySet, type Finding, type FindingKind } from './analyzer.js';
export { topicInfo, type TopicInfo } from './topic-info.js';
export { decideOperator, OPERATOR_POLICY_TEXT, type OperatorSubject, type DeviceTarget, type OperatorDecision } from './operator-authz.js';
